#!/usr/bin/python3
# Zero-retention canary for `medseal serve` (tests/test_zz_hardening_canary.c runs it).
# What it does: makes two synthetic studies with make_study.py (planted PHI listed in its
# manifest), runs `medseal serve` end to end on loopback (STOW-RS uploads, the analyst with the
# notes, inline DICOM, upstream pass-through plain and streamed, error paths carrying PHI, a
# SIGKILL of the server in the middle of an upload and a restart on the same state), checks the
# process hardening in /proc (coredump_filter, RLIMIT_CORE, not dumpable, VmLck, open files),
# then searches every file the server wrote (state dir with keys.sqlite and any -wal/-shm/-journal,
# the audit log, its decrypted export, stdout/stderr captures, a private TMPDIR, error and metrics
# bodies) for every planted string in many encodings. A positive control proves the scanner finds
# each encoding. Prints one "CANARY {json}" summary line; exit 0 only when everything held.
# What it trusts: the medseal binary under test, make_study.py, openssl, node (the test upstream).
# What it owns: everything under WORK (given on the command line); it stops every process it
# started. When run as root, the server runs as uid/gid 65534 so that "not dumpable" is visible
# (/proc/PID files then belong to root, not to the process's user).
# usage: canary.py MEDSEAL ROOT SHARED WORK [--seed N] [--no-lock]
#   --no-lock: the binary cannot lock memory (ASan makes mlock a no-op): skip the lock checks
import base64
import binascii
import http.client
import json
import os
import re
import resource
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse

# mem_limit fits the usual 8 MiB RLIMIT_MEMLOCK, so uid 65534 can lock it without privileges
MEM_LIMIT = 6 << 20
MAX_BODY = 32 << 20
NOBODY = 65534
DROP = [False]  # run medseal as NOBODY (root only, when NOBODY can reach the work folder)


def log(msg):
    print("canary: " + msg, flush=True)


# ---- encodings and the scanner ------------------------------------------------------------------


def b64_aligned(s, k):
    """The base64 characters determined only by s when s starts at byte offset k (mod 3)."""
    enc = base64.b64encode(b"\0" * k + s).decode()
    lo = (8 * k + 5) // 6
    hi = (8 * (k + len(s))) // 6
    return enc[lo:hi].encode()


def encodings(text):
    """name -> bytes for one planted string."""
    u = text.encode("utf-8")
    out = {
        "utf8": u,
        "utf16le": text.encode("utf-16-le"),
        "utf16be": text.encode("utf-16-be"),
        "b64+0": b64_aligned(u, 0),
        "b64+1": b64_aligned(u, 1),
        "b64+2": b64_aligned(u, 2),
        "json": json.dumps(text)[1:-1].replace("/", "\\/").encode(),
        "json-u": "".join("\\u%04x" % ord(c) for c in text).encode(),
        "url": urllib.parse.quote(text, safe="").encode(),
        "hex": binascii.hexlify(u),
    }
    return out


def scan_files(paths, needles):
    """needles: list of (string, enc name, bytes). Returns (hits, bytes scanned)."""
    hits, total = [], 0
    for p in paths:
        try:
            with open(p, "rb") as f:
                data = f.read()
        except OSError as e:
            hits.append({"file": p, "error": e.strerror})
            continue
        total += len(data)
        low = data.lower()
        for s, enc, nb in needles:
            if len(nb) < 4:
                continue
            found = nb.lower() in low if enc in ("utf8", "hex", "url") else nb in data
            if found:
                hits.append({"file": p, "string_index": s, "encoding": enc})
    return hits, total


def walk(root):
    out = []
    for d, _, files in os.walk(root):
        out.extend(os.path.join(d, f) for f in files)
    return sorted(out)


def positive_control(work, strings, needles):
    """Plants one string in every encoding inside junk; the scanner must find each one."""
    cdir = os.path.join(work, "control")
    os.makedirs(cdir, exist_ok=True)
    want = set()
    for enc, nb in encodings(strings[0]).items():
        with open(os.path.join(cdir, "planted." + enc), "wb") as f:
            f.write(os.urandom(37) + b"xx" + nb + b"yy" + os.urandom(41))
        want.add(enc)
    hits, _ = scan_files(walk(cdir), needles)
    got = {h["encoding"] for h in hits if h.get("string_index") == 0}
    return sorted(want - got)


# ---- processes ----------------------------------------------------------------------------------


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


def as_user(memlock):
    """preexec: the memlock limit for the server, and uid 65534 when we are root."""

    def fn():
        lim, hard = memlock, resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]
        if hard != resource.RLIM_INFINITY:
            lim = min(lim, hard)
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (lim, lim))
        if DROP[0]:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)

    return fn


def can_drop(work):
    """Root only: can uid NOBODY reach the work folder (its parents may be 0700)?"""
    if os.getuid() != 0:
        return False

    def fn():
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)

    return subprocess.run(["test", "-x", work], preexec_fn=fn).returncode == 0


def own_tree(path):
    if not DROP[0]:
        return
    for d, dirs, files in os.walk(path):
        os.chown(d, NOBODY, NOBODY)
        for f in files:
            os.chown(os.path.join(d, f), NOBODY, NOBODY)


class Server:
    def __init__(self, ctx, tag, extra=(), memlock=None):
        c = ctx
        self.log_out = os.path.join(c.run, "logs", "serve-%s.out" % tag)
        self.log_err = os.path.join(c.run, "logs", "serve-%s.err" % tag)
        env = dict(os.environ, TMPDIR=c.tmp, HOME=c.run, MS_CANARY_MK=c.master_hex)
        env.pop("MEDSEAL_MASTER_KEY", None)
        cmd = [c.medseal, "serve", "--listen", "127.0.0.1:0", "--cert", c.cert, "--key",
               c.key, "--state", c.state, "--config", c.conf, "--upstream", c.up_url,
               "--insecure-no-attestation", "--grace", "5", "--pseudo-key", c.pseudo,
               "--master-key", "env:MS_CANARY_MK"] + list(extra)
        lim = memlock if memlock is not None else MEM_LIMIT + (1 << 20)
        hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]
        self.unlocked = hard != resource.RLIM_INFINITY and hard < lim
        if self.unlocked and memlock is None:  # cannot lock here: say so, check the rest
            cmd.append("--allow-unlocked-memory")
        self.p = subprocess.Popen(cmd, stdout=open(self.log_out, "w"),
                                  stderr=open(self.log_err, "w"), env=env, cwd=c.run,
                                  preexec_fn=as_user(lim))
        self.port = 0
        for _ in range(150):  # bounded: 15 s
            time.sleep(0.1)
            m = re.search(r"127\.0\.0\.1:(\d+) ", open(self.log_out).read())
            if m:
                self.port = int(m.group(1))
                break
            if self.p.poll() is not None:
                break

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        return self.p.returncode


class Ctx:
    pass


def setup(argv):
    c = Ctx()
    c.medseal, c.root, c.shared, c.work = argv[1:5]
    c.seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 11
    c.no_lock = "--no-lock" in argv
    c.data = os.path.join(c.work, "data")
    c.run = os.path.join(c.work, "run")  # everything the server may write
    c.state = os.path.join(c.run, "state")
    c.tmp = os.path.join(c.run, "tmp")
    c.http = os.path.join(c.run, "http")  # error and metrics bodies the server sent
    c.certs = os.path.join(c.work, "certs")
    for d in (c.run, c.tmp, os.path.join(c.run, "logs"), c.http, c.certs):
        os.makedirs(d, exist_ok=True)
    os.chmod(c.work, 0o711)
    DROP[0] = can_drop(c.work)
    r = run(["/usr/bin/python3", os.path.join(c.shared, "tools", "make_study.py"), c.data,
             "--slices", "2", "--size", "32", "--studies", "2", "--seed", str(c.seed)])
    if r.returncode != 0:
        raise SystemExit("make_study.py failed")
    man = json.load(open(os.path.join(c.data, "manifest.json")))
    strings = list(man["planted_phi"])
    for v in man.get("planted_dates", {}).values():
        strings.extend(v)
    c.strings = sorted(set(strings), key=strings.index)
    make_certs(c)
    make_master(c)
    c.conf = os.path.join(c.work, "serve.conf")
    with open(c.conf, "w") as f:
        f.write("mem_limit = %d\nmax_body = %d\nstudy_ttl_s = 120\nrate_rpm = 0\n"
                "request_timeout_s = 20\nupstream_timeout_s = 20\n" % (MEM_LIMIT, MAX_BODY))
    return c


def make_certs(c):
    d = c.certs
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for cmd in (["openssl", "req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.pem",
                 "-subj", "/CN=canary-ca", "-days", "2"],
                ["openssl", "req"] + ec + ["-keyout", "srv.key", "-out", "srv.csr", "-subj",
                 "/CN=localhost"],
                ["openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey",
                 "ca.key", "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile",
                 "ext.cnf"]):
        if run(cmd, cwd=d).returncode != 0:
            raise SystemExit("openssl failed")
    c.ca, c.cert, c.key = (os.path.join(d, n) for n in ("ca.pem", "srv.pem", "srv.key"))
    for n in ("srv.pem", "srv.key"):
        os.chmod(os.path.join(d, n), 0o644)  # readable by the uid the server runs as


def make_master(c):
    """The master key is handed over in the environment (as a key broker's agent would); the
    pseudonym key is stored sealed under it. Neither is in the state dir."""
    mk = os.path.join(c.certs, "master.key")
    c.pseudo = os.path.join(c.certs, "pseudo.sealed")
    with open(mk, "w") as f:
        if subprocess.run([c.medseal, "keygen"], stdout=f).returncode != 0:
            raise SystemExit("keygen failed")
    with open(c.pseudo, "wb") as f:
        if subprocess.run([c.medseal, "keygen", "--seal", "file:" + mk],
                          stdout=f).returncode != 0:
            raise SystemExit("keygen --seal failed")
    os.chmod(c.pseudo, 0o644)
    c.master_hex = open(mk).read().strip()


def make_keys(c):
    c.keys = {}
    for role in ("clinician", "researcher", "auditor"):
        r = run([c.medseal, "keys", "create", "--state", c.state, "--role", role],
                preexec_fn=as_user(1 << 20), cwd=c.run)
        m = re.search(r"key:\s+(msk_\S+)", r.stdout)
        if not m:
            raise SystemExit("keys create failed: " + r.stderr[-200:])
        c.keys[role] = m.group(1)


def start_upstream(c):
    c.up_rec = os.path.join(c.work, "upstream.jsonl")
    c.up_log = os.path.join(c.work, "upstream.port")
    c.up = subprocess.Popen(["node", os.path.join(c.root, "tests", "upstream", "server.mjs"),
                             c.up_rec], stdout=open(c.up_log, "w"), stderr=subprocess.STDOUT)
    for _ in range(100):
        time.sleep(0.1)
        m = re.search(r"PORT (\d+)", open(c.up_log).read())
        if m:
            c.up_url = "http://127.0.0.1:%s/v1" % m.group(1)
            return
    raise SystemExit("test upstream did not start")


# ---- requests -----------------------------------------------------------------------------------


def request(c, port, method, path, key=None, body=None, headers=None, save=None):
    ctx = ssl.create_default_context(cafile=c.ca)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60)
    h = dict(headers or {})
    if key:
        h["Authorization"] = "Bearer " + key
    if isinstance(body, str):
        body = body.encode()
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    hdrs = dict((k.lower(), v) for k, v in r.getheaders())
    conn.close()
    if save:
        with open(os.path.join(c.http, save), "wb") as f:
            f.write(b"%d\n" % r.status + json.dumps(hdrs).encode() + b"\n" + data)
    return r.status, hdrs, data


def stow_body(files):
    parts = []
    for p in files:
        parts.append(b"--CANARYB\r\nContent-Type: application/dicom\r\n\r\n" +
                     open(p, "rb").read() + b"\r\n")
    return b"".join(parts) + b"--CANARYB--\r\n"


STOW_CT = 'multipart/related; type="application/dicom"; boundary=CANARYB'


def study_files(c, i):
    d = os.path.join(c.data, "study_%d" % i)
    return [os.path.join(d, "CT", n) for n in sorted(os.listdir(os.path.join(d, "CT")))] + \
        [os.path.join(d, "SR", "report.dcm")]


def chat(model, text, parts=(), stream=False):
    content = [{"type": "text", "text": text}] + list(parts)
    return json.dumps({"model": model, "stream": stream,
                       "messages": [{"role": "user", "content": content}]})


def traffic(c, port, results):
    """The normal paths. Returns the uploaded study ids."""
    ids = {}
    for role in ("clinician", "researcher"):  # a study serves only the key that uploaded it
        ids[role] = []
        for i in (1, 2):
            st, _, data = request(c, port, "POST", "/v1/studies", c.keys[role],
                                  stow_body(study_files(c, i)), {"Content-Type": STOW_CT})
            results.append(("stow %s study_%d" % (role, i), st, 200))
            if st == 200:
                ids[role].append(json.loads(data)["id"])
    notes = [open(os.path.join(c.data, "study_%d" % i, "notes.txt")).read() for i in (1, 2)]
    for role in ("clinician", "researcher"):
        for n, sid in zip(notes, ids[role]):
            for stream in (False, True):
                st, _, _ = request(c, port, "POST", "/v1/chat/completions", c.keys[role],
                                   chat("medical-records-analyst", n,
                                        [{"type": "file", "file": {"file_id": sid}}], stream),
                                   {"Content-Type": "application/json"})
                results.append(("analyst %s stream=%d" % (role, stream), st, 200))
        for stream in (False, True):
            st, _, _ = request(c, port, "POST", "/v1/chat/completions", c.keys[role],
                               chat("canary-upstream-model", notes[0] + "\n" + notes[1],
                                    stream=stream), {"Content-Type": "application/json"})
            results.append(("upstream %s stream=%d" % (role, stream), st, 200))
    inline = base64.b64encode(open(study_files(c, 1)[0], "rb").read()).decode()
    st, _, _ = request(c, port, "POST", "/v1/confidential/chat/completions", c.keys["clinician"],
                       chat("medical-records-analyst", notes[0],
                            [{"type": "file", "file": {"file_data":
                                                       "data:application/dicom;base64," + inline,
                                                       "filename": "x.dcm"}}]),
                       {"Content-Type": "application/json"})
    results.append(("analyst inline dicom", st, 200))
    st, _, _ = request(c, port, "DELETE", "/v1/studies/" + ids["clinician"][0],
                       c.keys["clinician"])
    results.append(("delete study", st, 200))
    return ids


def error_paths(c, port, results):
    phi = c.strings
    # a planted name, never a UID: a StudyInstanceUID in the path is a real study reference now
    # (issue 17), and DELETE of one's own study answers 200 with the study's handle
    names = [p for p in phi if "^" in p] or [p for p in phi if any(ch.isalpha() for ch in p)]
    name = names[0]
    cases = [
        ("bad key", "POST", "/v1/chat/completions", "msk_" + name.replace("^", "_"),
         chat("canary-upstream-model", " ".join(phi)), 401),
        ("malformed json", "POST", "/v1/chat/completions", c.keys["clinician"],
         '{"model":"x","messages":[{"role":"user","content":"' + " ".join(phi) + '"', 400),
        ("phi as model name", "POST", "/v1/chat/completions", c.keys["researcher"],
         json.dumps({"model": " ".join(phi[:6]), "messages": 7}), 400),
        ("phi in a role", "POST", "/v1/chat/completions", c.keys["researcher"],
         json.dumps({"model": "m", "messages": [{"role": name, "content": "x"}]}), 400),
        ("phi in the path", "DELETE", "/v1/studies/" + urllib.parse.quote(name),
         c.keys["clinician"], None, 404),
        ("phi in the query", "GET", "/v1/models?q=" + urllib.parse.quote(" ".join(phi)),
         c.keys["clinician"], None, None),
        ("not dicom in stow", "POST", "/v1/studies", c.keys["clinician"],
         b"--CANARYB\r\nContent-Type: application/dicom\r\n\r\n" +
         " ".join(phi).encode() + b"\r\n--CANARYB--\r\n", 409),  # PS3.18: every part failed
        ("truncated dicom in stow", "POST", "/v1/studies", c.keys["clinician"],
         stow_body(study_files(c, 1)[:1])[:-600], 400),
    ]
    for i, (what, method, path, key, body, want) in enumerate(cases):
        h = {"Content-Type": STOW_CT if "stow" in what else "application/json"}
        st, _, _ = request(c, port, method, path, key, body, h, save="error-%d.txt" % i)
        results.append((what, st, want if want is not None else st))
    # a body larger than mem_limit (max_body > mem_limit): STOW is parsed as it streams (issue 17),
    # so the body is never held whole; this one is one study then a long epilogue, which the
    # multipart parser discards: 200. A server that buffers answers 507 or 413, never swaps or spools.
    big = stow_body(study_files(c, 1)) * (MEM_LIMIT // 4096 + 64)
    big = big[:MEM_LIMIT + (8 << 20)]
    st, _, _ = request(c, port, "POST", "/v1/studies", c.keys["clinician"], big,
                       {"Content-Type": STOW_CT}, save="error-ceiling.txt")
    results.append(("body over mem_limit", st, st if st in (200, 413, 507) else 507))
    # declared larger than max_body: refused before the body is read
    st = raw_declared(c, port, MAX_BODY + 1, (" ".join(phi)).encode())
    results.append(("declared over max_body", st, 413))
    st, _, _ = request(c, port, "GET", "/metrics", c.keys["auditor"], save="metrics.txt")
    results.append(("metrics", st, 200))


def raw_declared(c, port, length, start):
    ctx = ssl.create_default_context(cafile=c.ca)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20),
                        server_hostname="127.0.0.1")
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
              c.keys["clinician"].encode() + b"\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % length + start)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    s.close()
    with open(os.path.join(c.http, "error-declared.txt"), "wb") as f:
        f.write(data)
    m = re.match(rb"HTTP/1\.1 (\d+)", data)
    return int(m.group(1)) if m else 0


def crash_during_upload(c, srv):
    """Half a STOW-RS body, then SIGKILL: nothing of it may reach the disk."""
    ctx = ssl.create_default_context(cafile=c.ca)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.port), timeout=20),
                        server_hostname="127.0.0.1")
    body = stow_body(study_files(c, 2))
    s.sendall(b"POST /v1/studies HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
              c.keys["clinician"].encode() + b"\r\nContent-Type: " + STOW_CT.encode() +
              b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:len(body) // 2])
    time.sleep(0.3)
    srv.stop(signal.SIGKILL)
    s.close()


# ---- /proc checks -------------------------------------------------------------------------------


def proc_checks(c, pid, want_locked):
    out = {}
    base = "/proc/%d/" % pid
    out["coredump_filter"] = open(base + "coredump_filter").read().strip()
    lim = [ln for ln in open(base + "limits") if ln.startswith("Max core file size")][0].split()
    out["rlimit_core"] = lim[4:6]
    status = dict(ln.split(":", 1) for ln in open(base + "status") if ":" in ln)
    out["vmlck_kb"] = int(status["VmLck"].split()[0])
    out["uid"] = int(status["Uid"].split()[0])
    out["environ_owner"] = os.stat(base + "environ").st_uid
    fds = []
    for fd in os.listdir(base + "fd"):
        try:
            fds.append(os.readlink(base + "fd/" + fd))
        except OSError:
            pass
    bad_fds = [t for t in fds if t.startswith("/") and not (
        t.startswith(c.state + "/") or t.startswith("/dev/") or t.startswith(c.run + "/logs/"))]
    bad_fds += [t for t in fds if "(deleted)" in t]
    out["open_files_outside_state"] = bad_fds
    problems = []
    if int(out["coredump_filter"], 16) & 0x0f:
        problems.append("coredump_filter keeps anonymous or file-backed memory")
    if out["rlimit_core"] != ["0", "0"]:
        problems.append("RLIMIT_CORE is not 0")
    if want_locked and out["vmlck_kb"] < (MEM_LIMIT >> 10):
        problems.append("VmLck below mem_limit")
    if out["uid"] != 0 and out["environ_owner"] != 0:
        problems.append("process is dumpable (/proc/PID owned by its user)")
    if out["uid"] == 0:
        out["dumpable_check"] = "not visible: the server runs as root"
    if bad_fds:
        problems.append("files open outside the state dir")
    out["problems"] = problems
    return out


def refuses_unlockable(c):
    """With a 1 MiB RLIMIT_MEMLOCK the server must refuse to start (no --allow-...)."""
    s = Server(c, "nolock", memlock=1 << 20)
    started = s.port != 0
    rc = s.stop() if started else s.p.wait(20)
    err = open(s.log_err).read() + open(s.log_out).read()
    return (not started) and rc != 0 and "lock" in err


# ---- main ---------------------------------------------------------------------------------------


def main(argv):
    c = setup(argv)
    needles = [(i, enc, nb) for i, s in enumerate(c.strings) for enc, nb in encodings(s).items()]
    control_missed = positive_control(c.work, c.strings, needles)
    start_upstream(c)
    servers = []
    summary = {"strings": len(c.strings), "encodings": len(encodings("x")),
               "control_missed": control_missed}
    try:
        own_tree(c.run)
        make_keys(c)
        results = []
        if c.no_lock or (os.getuid() == 0 and not DROP[0]):  # ASan; root has CAP_IPC_LOCK
            summary["refuses_unlockable"] = "not testable here"
        else:
            summary["refuses_unlockable"] = refuses_unlockable(c)
        s1 = Server(c, "1")
        servers.append(s1)
        if not s1.port:
            raise SystemExit("server did not start: " + open(s1.log_err).read()[-300:])
        traffic(c, s1.port, results)
        summary["locked"] = not s1.unlocked and not c.no_lock
        summary["proc"] = proc_checks(c, s1.p.pid, summary["locked"])
        error_paths(c, s1.port, results)
        crash_during_upload(c, s1)
        s2 = Server(c, "2")
        servers.append(s2)
        if not s2.port:
            raise SystemExit("restart after SIGKILL failed: " + open(s2.log_err).read()[-300:])
        traffic(c, s2.port, results)
        summary["stop_rc"] = s2.stop()
        r = run([c.medseal, "audit", "export", "--state", c.state, "--master-key",
                 "env:MS_CANARY_MK"], preexec_fn=as_user(1 << 20), cwd=c.run,
                env=dict(os.environ, MS_CANARY_MK=c.master_hex))
        with open(os.path.join(c.run, "audit-export.jsonl"), "w") as f:
            f.write(r.stdout)
        summary["audit_records"] = r.stdout.count("\n")
        summary["audit_export_rc"] = r.returncode
        summary["requests_wrong"] = [x for x in results if x[1] != x[2]]
        summary["requests"] = len(results)
        summary["statuses"] = {w: st for w, st, _ in results if not w.startswith(("stow", "ana"))}
    finally:
        for s in servers:
            s.stop()
        c.up.send_signal(signal.SIGTERM)
        c.up.wait(10)
    files = walk(c.run)
    hits, total = scan_files(files, needles)
    summary["files"] = len(files)
    summary["bytes"] = total
    summary["file_names"] = sorted({os.path.relpath(f, c.run) for f in files})
    summary["hits"] = hits
    summary["master_key_in_state"] = os.path.exists(os.path.join(c.state, "master.key"))
    # what the (curious) upstream received: surrogates only
    up_hits, up_bytes = scan_files([c.up_rec], needles)
    summary["upstream_bytes"] = up_bytes
    summary["upstream_hits"] = ["%s:%s" % (h.get("string_index"), h.get("encoding"))
                                for h in up_hits]
    ok = (not hits and not up_hits and up_bytes > 0 and not control_missed and not summary["requests_wrong"] and
          summary["refuses_unlockable"] and not summary["proc"]["problems"] and
          summary["audit_export_rc"] == 0 and summary["audit_records"] > 0 and
          summary["stop_rc"] == 0 and not summary["master_key_in_state"])
    summary["ok"] = ok
    print("CANARY " + json.dumps(summary), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
