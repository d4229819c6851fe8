#!/usr/bin/env bash
# Replicas benchmark (docs/replicas.md): the analyst on a short note, wrk (keep-alive, TLS 1.3)
# through HAProxy (deploy/haproxy/haproxy.cfg, TCP passthrough) in front of 2 replicas sharing a
# PostgreSQL 15 key store (HAProxy sends a PROXY v2 header, the replicas read it), against a
# third replica of the same build and database directly, in the same run, alternating ROUNDS
# times. wrk connects from one address, so the source hash puts it on one replica: the
# ratio is the cost of the extra hop, not scaling (2 cores cannot show scaling). PostgreSQL's
# share: its server CPU time over the run, per request. Everything on loopback in a temp dir.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MS="${MEDSEAL:-$ROOT/build/medseal}"
PGB=/usr/lib/postgresql/15/bin
DURATION="${DURATION:-5s}" CONNS="${CONNS:-16}" ROUNDS="${ROUNDS:-3}"
for t in wrk haproxy openssl "$PGB/initdb"; do command -v "$t" >/dev/null || { echo "skip: $t missing"; exit 0; }; done
T="$(mktemp -d)"; chmod 755 "$T"
AS=""; [ "$(id -u)" = 0 ] && AS="runuser -u nobody --"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  $AS "$PGB/pg_ctl" -D "$T/pg" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$T"; }
trap cleanup EXIT
cd "$T"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.pem \
  -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 -days 2 2>/dev/null
[ "$(id -u)" = 0 ] && chown -R nobody: "$T"
$AS "$PGB/initdb" -D pg -A trust -U postgres --no-sync >/dev/null
PGPORT=$((20000 + RANDOM % 30000))
$AS "$PGB/pg_ctl" -D pg -l pg.log -w -o "-k $T -p $PGPORT -c listen_addresses=''" start >/dev/null
URL="postgresql://postgres@/postgres?host=$T&port=$PGPORT"
KEY=$("$MS" keys create --state-db "$URL" --role researcher | awk '/^key:/{print $2}')
printf 'rate_rpm = 0\nmem_limit = 268435456\n' > gw.conf
# the replicas behind HAProxy take its PROXY v2 header (send-proxy-v2) from 127.0.0.1; wrk
# connects from 127.0.0.1 too, so the direct run goes to gw-0, the same replica without it
{ cat gw.conf; printf 'proxy_protocol_from = 127.0.0.1/32\n'; } > gw-lb.conf
port_of() { sed -n 's/.*127.0.0.1:\([0-9]*\) .*/\1/p' "$1" | head -1; }
for i in 0 1 2; do
  conf=gw-lb.conf; [ "$i" = 0 ] && conf=gw.conf
  "$MS" serve --listen 127.0.0.1:0 --cert srv.pem --key srv.key --state "st$i" --state-db "$URL" \
    --replica-id "gw-$i" --insecure-no-attestation --allow-unlocked-memory --config "$conf" > "gw$i.out" 2>&1 &
  PIDS+=($!)
done
for _ in $(seq 50); do [ -n "$(port_of gw0.out)" ] && [ -n "$(port_of gw1.out)" ] && [ -n "$(port_of gw2.out)" ] && break; sleep 0.1; done
P0=$(port_of gw0.out); P1=$(port_of gw1.out); P2=$(port_of gw2.out); LB=$((20000 + RANDOM % 30000))
MEDSEAL_BIND=127.0.0.1:$LB MEDSEAL_DIMSE=127.0.0.1:$((LB + 1)) MEDSEAL_GW1=127.0.0.1:$P1 \
MEDSEAL_GW2=127.0.0.1:$P2 MEDSEAL_GW3=127.0.0.1:1 MEDSEAL_DIMSE1=127.0.0.1:2 MEDSEAL_DIMSE2=127.0.0.1:3 \
MEDSEAL_DIMSE3=127.0.0.1:4 MEDSEAL_STATS="$T/hap.sock" haproxy -db -f "$ROOT/deploy/haproxy/haproxy.cfg" > hap.log 2>&1 &
PIDS+=($!)
sleep 2 # gw3 (no listener) is marked down; gw1, gw2 up
NOTE='CT chest: 8 mm solid nodule in the right upper lobe. No effusion.'
cat > a.lua <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
wrk.body = [[{"model":"medical-records-analyst","messages":[{"role":"user","content":"$NOTE"}]}]]
LUA
PGU=$(id -un); [ -n "$AS" ] && PGU=nobody
pgcpu() { local s=0; for p in $(pgrep -u "$PGU" postgres || true); do
  s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$s"; }
rps() { wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s a.lua "$1" | awk '/Requests\/sec/{r=$2} / 99%/{p=$2} /Non-2xx/{e=$4} END{printf "%s %s %s", r, p, e+0}'; }
echo "replicas bench: $(nproc) cores, wrk -t2 -c$CONNS -d$DURATION, analyst short note, researcher key; $(date -u +%FT%TZ)"
printf '| round | direct req/s | direct p99 | haproxy+2 req/s | haproxy p99 | ratio | non-2xx |\n|---:|---:|---:|---:|---:|---:|---:|\n'
TOTAL=0; C0=$(pgcpu)
for r in $(seq "$ROUNDS"); do
  read -r d dp de <<<"$(rps "https://127.0.0.1:$P0/v1/chat/completions")"
  read -r h hp he <<<"$(rps "https://127.0.0.1:$LB/v1/chat/completions")"
  TOTAL=$(awk -v a="$d" -v b="$h" -v t="$TOTAL" -v s="${DURATION%s}" 'BEGIN{print t + (a + b) * s}')
  printf '| %d | %s | %s | %s | %s | %.2f | %s |\n' "$r" "$d" "$dp" "$h" "$hp" "$(awk -v a="$d" -v b="$h" 'BEGIN{print b / a}')" "$((de + he))"
done
C1=$(pgcpu); TCK=$(getconf CLK_TCK)
awk -v c=$((C1 - C0)) -v k="$TCK" -v n="$TOTAL" 'BEGIN{printf "PostgreSQL server CPU during the run: %.2f s for %d requests = %.2f us/request\n", c / k, n, c / k * 1e6 / n}'
