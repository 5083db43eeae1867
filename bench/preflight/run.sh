#!/bin/sh
# preflight's wall time against the sum of its parts run one after another
# (issue 7: at most 1.2x its slowest part). Offline: the demo zones and a
# local sendcheck-listen in the exo-mx profile. Usage: bench/preflight/run.sh [BUILD_DIR] [RUNS]
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$here/build}/bin
runs=${2:-20}
for tool in mx spf blocklist probe listen preflight; do
  [ -x "$bin/sendcheck-$tool" ] || { echo "run.sh: $bin/sendcheck-$tool not built" >&2; exit 2; }
done
zone=$here/fixtures/demo/demo.zone
lists=$here/fixtures/demo/blocklists.zone
port=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
"$bin/sendcheck-listen" --profile exo-mx --port "$port" >/dev/null 2>&1 &
listen=$!
trap 'kill $listen 2>/dev/null' EXIT
sleep 0.3
now() { date +%s.%N; }
time_it() { # label command...
  label=$1; shift
  start=$(now)
  i=0; while [ $i -lt "$runs" ]; do "$@" >/dev/null 2>&1 || true; i=$((i + 1)); done
  end=$(now)
  ms=$(echo "($end - $start) * 1000 / $runs" | bc -l)
  echo "$label $(echo "$ms" | cut -c1-7) ms"
  eval "ms_$label=$ms"
}
d=northwind-traders.example
time_it mx        "$bin/sendcheck-mx" --zone "$zone" $d
time_it spf       "$bin/sendcheck-spf" --zone "$zone" $d --ip 203.0.113.40 --sender scanner@$d --suggest
time_it blocklist "$bin/sendcheck-blocklist" --zone "$lists" 203.0.113.40
time_it probe     "$bin/sendcheck-probe" 127.0.0.1 --port "$port" --from scanner@$d --rcpt frontdesk@$d
time_it preflight "$bin/sendcheck-preflight" $d --zone "$zone" --zone "$lists" --ip 203.0.113.40 --from scanner@$d \
                  --to frontdesk@$d --smtp-host 127.0.0.1 --smtp-port "$port"
sum=$(echo "$ms_mx + $ms_spf + $ms_blocklist + $ms_probe" | bc -l)
slowest=$(printf '%s\n' "$ms_mx" "$ms_spf" "$ms_blocklist" "$ms_probe" | sort -g | tail -1)
echo "parts one after another: $(echo "$sum" | cut -c1-7) ms; slowest part: $(echo "$slowest" | cut -c1-7) ms"
echo "preflight / slowest part: $(echo "$ms_preflight / $slowest" | bc -l | cut -c1-4)x (target <= 1.2x); preflight / sum: $(echo "$ms_preflight / $sum" | bc -l | cut -c1-4)x"
# For bench/run: the parts one after another are the peer; the ratio is how
# many times faster preflight is than that.
printf 'RESULT name=preflight what="direct-send preflight, offline demo" ours=%.1f unit=ms peer="mx+spf+blocklist+probe one after another" peer_value=%.1f ratio=%.2f\n' \
  "$ms_preflight" "$sum" "$(echo "$sum / $ms_preflight" | bc -l)"
