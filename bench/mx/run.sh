#!/usr/bin/env bash
# sendcheck-mx throughput against a local authoritative server (Knot DNS),
# side by side with dnsperf asking the same questions of the same server,
# from 10 to 10,000 domains; and the start-up cost of every tool.
#
#   bash bench/mx/run.sh [BUILD_DIR]      (default: build)
#
# Needs knot, dnsperf and time (apt-get install knot dnsperf time).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
mx="$build/bin/sendcheck-mx"
for tool in knotd dnsperf /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing (apt-get install knot dnsperf time)" >&2; exit 2; }
done
[ -x "$mx" ] || { echo "bench: $mx not built" >&2; exit 2; }

work=$(mktemp -d)
knot_pid=""
cleanup() { [ -n "$knot_pid" ] && kill "$knot_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

max=10000
# Each domain has its own MX host, so every domain costs three questions
# (MX, then A and AAAA of its host) and nothing is answered from the
# resolver's per-run cache.
{
  printf '$ORIGIN bench.test.\n$TTL 3600\n@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A 192.0.2.53\n'
  for i in $(seq -f '%05g' 1 $max); do printf 'd%s MX 0 d%s-bench-test.mail.protection.outlook.com.\n' "$i" "$i"; done
} > "$work/bench.test.zone"
{
  printf '$ORIGIN mail.protection.outlook.com.\n$TTL 3600\n@ SOA ns.bench.test. hostmaster.bench.test. 1 3600 600 86400 300\n@ NS ns.bench.test.\n'
  for i in $(seq 1 $max); do
    n=$(printf '%05d' "$i")
    printf 'd%s-bench-test A 198.51.%d.%d\nd%s-bench-test AAAA 2001:db8::%x\n' "$n" $((i / 250)) $((i % 250 + 1)) "$n" "$i"
  done
} > "$work/mail.protection.outlook.com.zone"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/knot.conf" <<CONF
server:
  rundir: $work
  listen: 127.0.0.1@$port
  udp-workers: 1
  tcp-workers: 1
log:
  - target: $work/knot.log
    any: warning
database:
  storage: $work
template:
  - id: default
    storage: $work
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: bench.test
  - domain: mail.protection.outlook.com
CONF
knotd -c "$work/knot.conf" </dev/null >/dev/null 2>&1 &
knot_pid=$!
for _ in $(seq 100); do
  "$mx" --dns "127.0.0.1:$port" --timeout 1 d00001.bench.test >/dev/null 2>&1 && break
  sleep 0.1
done

echo "sendcheck-mx vs dnsperf, same questions, same Knot server (127.0.0.1:$port, 1 UDP worker)"
printf '%8s %10s %12s %12s %12s %8s %13s\n' domains questions "mx seconds" "mx q/s" "dnsperf q/s" ratio "dnsperf lost"
# BENCH_MX_SIZES picks the runs ("10000" alone on a busy machine); the load
# average is printed with the figures, since other work on the machine moves them.
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
for n in ${BENCH_MX_SIZES:-10 100 1000 10000}; do
  seq -f 'd%05g.bench.test' 1 "$n" > "$work/domains.txt"
  : > "$work/questions.txt"
  for i in $(seq -f '%05g' 1 "$n"); do
    printf 'd%s.bench.test MX\nd%s-bench-test.mail.protection.outlook.com A\nd%s-bench-test.mail.protection.outlook.com AAAA\n' "$i" "$i" "$i" >> "$work/questions.txt"
  done
  questions=$((n * 3))
  # Best of three runs for both, to keep one-off scheduling noise out.
  best_mx=999999
  for _ in 1 2 3; do
    start=$(date +%s.%N)
    # --timeout 1: a loopback server answers in well under a millisecond, so
    # a query the server dropped (dnsperf reports them as lost) is retried
    # after 143 ms instead of 714 ms.
    "$mx" --dns "127.0.0.1:$port" --timeout 1 --file "$work/domains.txt" --json > "$work/out.json"
    end=$(date +%s.%N)
    best_mx=$(echo "$end - $start" | bc -l | awk -v b="$best_mx" '{ print ($1 < b) ? $1 : b }')
  done
  answered=$(python3 -c "import json,sys; d=json.load(open('$work/out.json')); print(sum(1 for x in d['domains'] if x['direct_send_host']))")
  [ "$answered" = "$n" ] || { echo "bench: only $answered of $n domains resolved" >&2; exit 1; }
  best_perf=0
  for _ in 1 2 3; do
    dnsperf -s 127.0.0.1 -p "$port" -d "$work/questions.txt" -n 1 -c 1 -q 256 -t 5 > "$work/dnsperf.txt" 2>/dev/null
    qps=$(awk '/Queries per second/ { print $4 }' "$work/dnsperf.txt")
    lost=$(awk '/Queries lost/ { print $3 }' "$work/dnsperf.txt")
    best_perf=$(echo "$qps $best_perf" | awk '{ print ($1 > $2) ? $1 : $2 }')
  done
  mx_qps=$(echo "$questions / $best_mx" | bc -l)
  ratio=$(echo "$mx_qps / $best_perf" | bc -l)
  printf '%8d %10d %12.4f %12.0f %12.0f %8.2f %13s\n' "$n" "$questions" "$best_mx" "$mx_qps" "$best_perf" "$ratio" "$lost"
done
# The summary line for bench/run: the largest run.
summary=$(printf 'RESULT name=mx what="%d domains (%d questions) from one Knot server" ours=%.0f unit=q/s peer=dnsperf peer_value=%.0f ratio=%.2f' \
  "$n" "$questions" "$mx_qps" "$best_perf" "$ratio")
echo "(ratio = sendcheck-mx questions per second / dnsperf's; the target is >= 0.5."
echo " sendcheck-mx needs every answer and retries what the server drops; dnsperf counts"
echo " dropped queries as lost and does not wait for them. With few domains, process"
echo " start-up and the chain MX -> A/AAAA (two round trips) dominate.)"

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -n "${BENCH_MX_NO_STARTUP:-}" ] && { echo "$summary"; exit 0; }
echo
echo "start-up: --version (the front command: --help), mean of 200 runs, and peak resident memory"
printf '%-22s %10s %10s\n' tool "ms/run" "max RSS KB"
for exe in "$build"/bin/sendcheck*; do
  # `sendcheck --version` loads libcurl to report its version, which is not
  # start-up; its --help lists the tools, which is what it does on every run.
  option=--version
  [ "$(basename "$exe")" = sendcheck ] && option=--help
  start=$(date +%s.%N)
  for _ in $(seq 200); do "$exe" "$option" >/dev/null || true; done
  end=$(date +%s.%N)
  rss=$(/usr/bin/time -f '%M' "$exe" "$option" 2>&1 >/dev/null | tail -1 || true)
  printf '%-22s %10.2f %10s\n' "$(basename "$exe")" "$(echo "($end - $start) * 1000 / 200" | bc -l)" "$rss"
done
echo "(targets: under 5 ms and under 10 MB (10240 KB) per tool)"
echo "$summary"
