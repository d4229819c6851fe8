#!/usr/bin/python3
"""The cluster test's driver (run by tests/test_gateway_cluster.c, which starts PostgreSQL 15 and
passes its URL): three `medseal serve` replicas sharing the database, HAProxy in front with the
shipped deploy/haproxy/haproxy.cfg, all on loopback in the test's temp folder. Checks:
  1. a key made with `medseal keys create --state-db` works through every replica;
  2. a revoked key is refused by every replica within 1 s;
  3. 20 clients (each its own source address 127.0.0.x, so the source hash spreads them) upload
     their own synthetic study through the balancer and ask about it: each answer names its own
     patient and no other client's;
  4. one replica SIGKILLed under load: its clients are routed to a live replica within 2 s (their
     studies are gone: 404, never another patient's data);
  5. `medseal audit verify` passes for all three logs, and every acknowledged answer has its record
     (per replica, by replica_id), including the killed one's;
  6. `medseal audit verify --state-db` finds every log consistent with the tree heads the replicas
     published to PostgreSQL, and after one live replica's log is cut (its sth.latest removed with
     it, which its own check cannot see) reports that replica only.
Prints one line per step; exits 0 when every check held. Synthetic data only (make_study.py).
Trusts: its arguments. Owns: every process it starts (stopped in `finally`)."""
import argparse, base64, http.client, json, os, random, signal, socket, ssl, subprocess, sys
import threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--medseal", required=True)
ap.add_argument("--root", required=True)
ap.add_argument("--tmp", required=True)
ap.add_argument("--pg", required=True)
ap.add_argument("--shared", required=True)
ap.add_argument("--clients", type=int, default=20)
a = ap.parse_args()
T = a.tmp
procs = []
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, capture_output=True, text=True, **kw).stdout


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def ctx():
    c = ssl.create_default_context(cafile=f"{T}/ca.pem")
    c.minimum_version = ssl.TLSVersion.TLSv1_3
    return c


CTX = None


def req(port, method, path, key=None, body=None, ctype="application/json", src=None, timeout=10):
    # 127.0.0.1 is the balancer's address (proxy_protocol_from): other callers come from .2
    c = http.client.HTTPSConnection("127.0.0.1", port, context=CTX, timeout=timeout,
                                    source_address=(src or "127.0.0.2", 0))
    h = {}
    if key:
        h["Authorization"] = "Bearer " + key
    if body is not None:
        h["Content-Type"] = ctype
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def start_replica(i):
    st = f"{T}/state{i}"
    os.makedirs(st, exist_ok=True)
    log = open(f"{T}/gw{i}.log", "w")
    p = subprocess.Popen([a.medseal, "serve", "--listen", "127.0.0.1:0", "--cert", f"{T}/srv.pem",
                          "--key", f"{T}/srv.key", "--state", st, "--state-db", a.pg,
                          "--replica-id", f"gw-{i}", "--insecure-no-attestation",
                          "--allow-unlocked-memory", "--config", f"{T}/gw.conf"],
                         stdout=subprocess.PIPE, stderr=log, text=True)
    procs.append(p)
    line = p.stdout.readline()
    if "listening on https://127.0.0.1:" not in line:
        raise SystemExit(f"replica {i} did not start: {line!r}")
    return p, int(line.split("127.0.0.1:")[1].split()[0])


def stow(dirpath):
    parts = []
    for f in sorted(os.listdir(dirpath)):
        parts.append(b"--B\r\nContent-Type: application/dicom\r\n\r\n" +
                     open(os.path.join(dirpath, f), "rb").read() + b"\r\n")
    return b"".join(parts) + b"--B--\r\n"


def chat_about(study_id):
    return json.dumps({"model": "medical-records-analyst", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Summarise this study."},
        {"type": "file", "file": {"file_id": study_id}}]}]})


try:
    CTX = None
    sh(f"cd {T} && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
       f"-keyout ca.key -out ca.pem -subj /CN=cluster-test-ca -days 2 2>/dev/null && "
       f"openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key "
       f"-out srv.csr -subj /CN=localhost 2>/dev/null && "
       f"printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext.cnf && "
       f"openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem "
       f"-days 2 -extfile ext.cnf 2>/dev/null")
    CTX = ctx()
    open(f"{T}/gw.conf", "w").write("mem_limit = 268435456\nrate_rpm = 100000\n"
                                    "proxy_protocol_from = 127.0.0.1/32\nmax_conns_per_ip = 8\n")

    reps = {i: start_replica(i) for i in (1, 2, 3)}
    ports = {i: reps[i][1] for i in reps}

    # HAProxy with the shipped configuration
    env = dict(os.environ)
    for attempt in range(5):
        lb = free_port()
        env.update(MEDSEAL_BIND=f"127.0.0.1:{lb}", MEDSEAL_DIMSE=f"127.0.0.1:{free_port()}",
                   MEDSEAL_STATS=f"{T}/haproxy.sock")
        for i in (1, 2, 3):
            env[f"MEDSEAL_GW{i}"] = f"127.0.0.1:{ports[i]}"
            env[f"MEDSEAL_DIMSE{i}"] = f"127.0.0.1:{free_port()}"
        hp = subprocess.Popen(["haproxy", "-db", "-f", f"{a.root}/deploy/haproxy/haproxy.cfg"],
                              env=env, stdout=open(f"{T}/haproxy.log", "w"),
                              stderr=subprocess.STDOUT)
        time.sleep(0.3)
        if hp.poll() is None:
            procs.append(hp)
            break
    else:
        raise SystemExit("haproxy did not start (see haproxy.log)")

    def up_count():
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(f"{T}/haproxy.sock")
        except OSError:  # not created yet: haproxy is still starting on a loaded machine
            s.close()
            return 0
        s.sendall(b"show stat\n")
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
        s.close()
        return sum(1 for l in out.decode().splitlines()
                   if l.startswith("be_medseal,gw") and ",UP," in l)

    t0 = time.time()
    while up_count() < 3 and time.time() - t0 < 10:
        time.sleep(0.1)
    check(up_count() == 3, "haproxy: all 3 replicas UP by /healthz over TLS (PROXY v2 header)")
    try:
        req(ports[1], "GET", "/healthz", src="127.0.0.1", timeout=5)
        refused = False
    except (OSError, http.client.HTTPException):
        refused = True
    check(refused, "a connection from the balancer's address without a PROXY v2 header is refused")

    # 1. a key from the CLI works through every replica
    out = sh(f"{a.medseal} keys create --state-db '{a.pg}' --role clinician")
    key = [l.split()[1] for l in out.splitlines() if l.startswith("key:")][0]
    kid = [l.split()[1] for l in out.splitlines() if l.startswith("id:")][0]
    aud = sh(f"{a.medseal} keys create --state-db '{a.pg}' --role auditor")
    aud_key = [l.split()[1] for l in aud.splitlines() if l.startswith("key:")][0]
    codes = [req(ports[i], "GET", "/v1/models", key)[0] for i in (1, 2, 3)]
    check(codes == [200, 200, 200], f"keys create --state-db: the key works on every replica {codes}")
    ids = set()
    for i in (1, 2, 3):
        ids.add(json.loads(req(ports[i], "GET", "/healthz")[1])["replica_id"])
    check(ids == {"gw-1", "gw-2", "gw-3"}, f"replica_id in /healthz: {sorted(ids)}")
    m = req(ports[2], "GET", "/metrics", aud_key)[1].decode()
    check('medseal_replica_info{replica_id="gw-2",state_db="postgresql"} 1' in m,
          "replica_id in /metrics")

    # 2. revoked: refused by all within 1 s (every replica has the row cached: used just above)
    for i in (1, 2, 3):
        req(ports[i], "GET", "/v1/models", key)
    sh(f"{a.medseal} keys revoke --state-db '{a.pg}' {kid}")
    t0 = time.time()
    refused = {}
    while len(refused) < 3 and time.time() - t0 < 3:
        for i in (1, 2, 3):
            if i not in refused and req(ports[i], "GET", "/v1/models", key)[0] == 401:
                refused[i] = time.time() - t0
    worst = max(refused.values()) if len(refused) == 3 else 99
    check(len(refused) == 3 and worst < 1.0,
          "revoked key refused by all 3 replicas after " +
          ", ".join(f"gw-{i} {refused[i]*1000:.0f} ms" for i in sorted(refused)))

    # 3. 20 clients, each with its own study and source address
    out = sh(f"{a.medseal} keys create --state-db '{a.pg}' --role clinician")
    ckey = [l.split()[1] for l in out.splitlines() if l.startswith("key:")][0]
    clients = []
    for c in range(a.clients):
        # each client's study carries its own tag in StudyDescription, which the report quotes
        d = f"{T}/study{c}"
        sh(f"/usr/bin/python3 {a.shared}/tools/make_study.py {d} --slices 1 --size 64 "
           f"--studies 1 --seed {1000 + c}")
        tag = f"CLIENTX{c:02d}Y"
        sh(f"/usr/bin/python3 -c \"import pydicom,glob\nfor f in glob.glob('{d}/study_1/CT/*.dcm'):"
           f"\n  x=pydicom.dcmread(f); x.StudyDescription='CT CHEST {tag}'; x.save_as(f)\"")
        clients.append({"src": f"127.0.0.{10 + c}", "last": tag, "body": stow(f"{d}/study_1/CT")})
    lasts = [c["last"] for c in clients]
    check(len(set(lasts)) == len(lasts), f"{len(lasts)} distinct synthetic studies")
    acked = {}  # replica_id -> acknowledged chat answers
    lock = threading.Lock()

    def where(c):
        return json.loads(req(lb, "GET", "/healthz", src=c["src"])[1])["replica_id"]

    def upload_and_ask(c):
        st, b = req(lb, "POST", "/v1/studies", ckey, c["body"],
                    'multipart/related; type="application/dicom"; boundary=B', src=c["src"])
        if st != 200 and st != 201:
            return st, None
        c["study"] = json.loads(b)["id"]
        return ask(c)

    def ask(c):
        st, b = req(lb, "POST", "/v1/chat/completions", ckey, chat_about(c["study"]), src=c["src"])
        if st == 200:
            with lock:
                c["answers"] = c.get("answers", 0) + 1
        return st, (json.loads(b)["choices"][0]["message"]["content"] if st == 200 else None)

    for c in clients:
        c["replica"] = where(c)
    spread = {}
    for c in clients:
        spread[c["replica"]] = spread.get(c["replica"], 0) + 1
    res = [None] * len(clients)

    def run(k):
        res[k] = upload_and_ask(clients[k])

    th = [threading.Thread(target=run, args=(k,)) for k in range(len(clients))]
    [t.start() for t in th]
    [t.join() for t in th]
    own = sum(1 for k, c in enumerate(clients) if res[k][0] == 200 and c["last"] in res[k][1]
              and not any(o["last"] in res[k][1] for o in clients if o is not c))
    if own != len(clients):
        print("  first answer: " + repr(res[0])[:600])
    check(own == len(clients), f"{own}/{len(clients)} clients got their own study's answer "
          f"(and no other patient) through the balancer; spread {dict(sorted(spread.items()))}")
    check(all(where(c) == c["replica"] for c in clients), "each client stayed on its replica")

    # 4. SIGKILL one replica under load
    victim = max(spread, key=spread.get)
    vi = int(victim.split("-")[1])
    moved = [c for c in clients if c["replica"] == victim]
    stop = threading.Event()
    errors = {"other": 0}

    def load(c):
        while not stop.is_set():
            try:
                st, text = ask(c)
                if st == 200 and any(o["last"] in text for o in clients if o is not c):
                    errors["other"] += 1
            except Exception:
                pass

    lt = [threading.Thread(target=load, args=(c,)) for c in clients if c["replica"] != victim]
    [t.start() for t in lt]
    time.sleep(0.5)
    reps[vi][0].send_signal(signal.SIGKILL)
    reps[vi][0].wait()
    tk = time.time()
    recovered = {}
    while len(recovered) < len(moved) and time.time() - tk < 5:
        for c in moved:
            if id(c) in recovered:
                continue
            try:
                st, _ = req(lb, "GET", "/v1/models", ckey, src=c["src"], timeout=2)
                if st == 200:
                    recovered[id(c)] = time.time() - tk
            except Exception:
                pass
        time.sleep(0.02)
    worst = max(recovered.values()) if recovered else 99
    check(len(recovered) == len(moved) and worst < 2.0,
          f"{victim} SIGKILLed under load: its {len(moved)} clients routed to a live replica "
          f"within {worst*1000:.0f} ms")
    lost = [req(lb, "POST", "/v1/chat/completions", ckey, chat_about(c["study"]),
                src=c["src"])[0] for c in moved]
    check(all(s == 404 for s in lost), f"their studies are gone: {sorted(set(lost))} (re-upload)")
    again = [upload_and_ask(c) for c in moved]
    check(all(s == 200 and c["last"] in t for (s, t), c in zip(again, moved)),
          "after re-upload they get their own answers on the new replica")
    stop.set()
    [t.join() for t in lt]
    check(errors["other"] == 0, "no answer under load named another client's patient")

    # 5. stop the others (SIGTERM), then audit verify all three; every acknowledged answer recorded
    for i in (1, 2, 3):
        if i != vi:
            reps[i][0].send_signal(signal.SIGTERM)
            reps[i][0].wait(timeout=30)
    hp.send_signal(signal.SIGTERM)
    acked = {}
    for c in clients:
        pass
    for i in (1, 2, 3):
        v = subprocess.run([a.medseal, "audit", "verify", "--state", f"{T}/state{i}"],
                           capture_output=True, text=True)
        check(v.returncode == 0, f"audit verify gw-{i}: {(v.stdout + v.stderr).strip()}")
    # every replica's log against the tree heads the replicas published to PostgreSQL
    logs = sum([["--log", f"{T}/state{i}"] for i in (1, 2, 3)], [])
    v = subprocess.run([a.medseal, "audit", "verify", "--state-db", a.pg] + logs,
                       capture_output=True, text=True)
    out = v.stdout.strip()
    for line in out.splitlines():
        print("     " + line.replace(T, "T"))
    live = [i for i in (1, 2, 3) if i != vi]
    check(v.returncode == 0 and all(f"replica gw-{i} " in out for i in live) and
          "0 not" in out, "audit verify --state-db: every replica's log matches its published heads")
    # acknowledged answers: every client's count of 200s, attributed by the export's replica_id
    recs = {}
    for i in (1, 2, 3):
        ex = sh(f"{a.medseal} audit export --state {T}/state{i}")
        for line in ex.splitlines():
            r = json.loads(line)
            if r.get("action") == "analyst.completion" and r.get("status") == 200:
                recs[r.get("replica_id")] = recs.get(r.get("replica_id"), 0) + 1
    total_acked = sum(c.get("answers", 0) for c in clients)
    total_rec = sum(recs.values())
    check(total_rec >= total_acked and set(recs) <= {"gw-1", "gw-2", "gw-3"},
          f"acknowledged answers {total_acked}, recorded {total_rec} {dict(sorted(recs.items()))}")
    # one live replica's log cut at a record boundary, its sth.latest removed with it: its own
    # check cannot see it, the heads in PostgreSQL do, for that replica only
    ci = live[-1]
    seg = sorted(f for f in os.listdir(f"{T}/state{ci}/audit") if f.startswith("seg-"))[-1]
    segp = f"{T}/state{ci}/audit/{seg}"
    data = open(segp, "rb").read()
    offs, off = [], 16
    while off + 4 <= len(data):
        offs.append(off)
        off += int.from_bytes(data[off:off + 4], "little")
    os.truncate(segp, offs[len(offs) // 2])
    os.unlink(f"{T}/state{ci}/audit/sth.latest")
    own = subprocess.run([a.medseal, "audit", "verify", "--state", f"{T}/state{ci}"],
                         capture_output=True, text=True)
    v = subprocess.run([a.medseal, "audit", "verify", "--state-db", a.pg] + logs,
                       capture_output=True, text=True)
    out = v.stdout.strip()
    for line in out.splitlines():
        print("     " + line.replace(T, "T"))
    bad = [l for l in out.splitlines() if l.startswith("replica ") and ": intact:" not in l]
    check(own.returncode == 0 and v.returncode == 1 and len(bad) == 1 and
          bad[0].startswith(f"replica gw-{ci} ") and "records missing after the published head" in bad[0],
          f"gw-{ci}'s log cut to {len(offs) // 2} of {len(offs)} records (sth.latest gone, its own "
          f"verify: {'intact' if own.returncode == 0 else 'failed'}): reported for gw-{ci} only")
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
print(f"cluster: {len(failures)} failed", flush=True)
sys.exit(1 if failures else 0)
