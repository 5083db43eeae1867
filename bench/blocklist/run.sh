#!/bin/bash
# One IP against every default zone, every answer delayed 100 ms by the test
# DNS server (sendcheck-testdns, faults "delay 100"), timed for
# sendcheck-blocklist and for Debian's rblcheck on the same server, with the
# ratio. sendcheck-blocklist sends every zone's questions at once (A, TXT and
# the two RFC 5782 test entries), so it should take about one answer's delay;
# rblcheck asks one zone after another.
#
# rblcheck uses the system resolver (glibc res_query), which reads only
# /etc/resolv.conf and cannot take a port (RES_OPTIONS and LOCALDOMAIN set
# options and the search list, not the server). So the run happens in private
# namespaces: `unshare --mount --net` gives a fresh loopback, the test server
# listens on 127.0.0.1:53 inside it, and a resolv.conf naming 127.0.0.1 is
# bind-mounted over /etc/resolv.conf for the namespace only. Needs root (or
# unprivileged user namespaces: add --map-root-user) and rblcheck
# (apt-get install rblcheck).
#
# Usage: bench/blocklist/run.sh [BUILD_DIR] [RUNS]     (default: build, 5)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
build_dir=$(cd "${1:-$source_dir/build}" && pwd)
runs=${2:-5}
delay_ms=100
tool="$build_dir/bin/sendcheck-blocklist"
testdns="$build_dir/tests/sendcheck-testdns"
zones="$source_dir/fixtures/blocklist/lists.zone"

for binary in "$tool" "$testdns"; do
  [ -x "$binary" ] || { echo "run.sh: $binary missing; build sendcheck-blocklist and sendcheck-testdns first" >&2; exit 2; }
done

if [ "${BENCH_IN_NAMESPACE:-}" != 1 ]; then
  command -v unshare >/dev/null || { echo "run.sh: unshare (util-linux) is needed" >&2; exit 2; }
  flags=(--mount --net)
  [ "$(id -u)" = 0 ] || flags+=(--map-root-user)
  exec env BENCH_IN_NAMESPACE=1 unshare "${flags[@]}" "$0" "$build_dir" "$runs"
fi

# --- inside the namespaces ------------------------------------------------
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

ip link set lo up
printf 'nameserver 127.0.0.1\noptions timeout:5 attempts:1\n' > "$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf

# The default zones, from the tool's own table.
mapfile -t zone_list < <("$tool" --list-zones --json | python3 -c '
import json, sys
for entry in json.load(sys.stdin)["lists"]:
    if entry["query"] == "default": print(entry["zone"])')

# Every name either tool asks about one IP is delayed (ANY type).
ip_listed=192.0.2.2
ip_clean=192.0.2.1
reverse() { local IFS=.; set -- $1; echo "$4.$3.$2.$1"; }
: > "$work/faults"
for zone in "${zone_list[@]}"; do
  for name in "$(reverse $ip_listed)" "$(reverse $ip_clean)" 2.0.0.127 1.0.0.127; do
    echo "$name.$zone ANY delay $delay_ms" >> "$work/faults"
  done
done

"$testdns" --zone "$zones" --faults "$work/faults" --port 53 --port-file "$work/port" > /dev/null &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || { echo "run.sh: the test DNS server did not start" >&2; exit 3; }

# Wall time of a command in milliseconds (its exit status is ignored: a
# listed IP exits 1 by design).
time_ms() {
  local start end
  start=$EPOCHREALTIME
  "$@" > /dev/null 2>&1 || true
  end=$EPOCHREALTIME
  python3 -c "print(round(($end - $start) * 1000, 1))"
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

rbl_args=(-c)
for zone in "${zone_list[@]}"; do rbl_args+=(-s "$zone"); done

have_rblcheck=1
command -v rblcheck >/dev/null || have_rblcheck=0

echo "sendcheck-blocklist vs rblcheck: ${#zone_list[@]} zones, ${delay_ms} ms per answer, median of $runs runs"
echo "zones: ${zone_list[*]}"
printf '%-34s %12s %12s %8s\n' "case" "sendcheck" "rblcheck" "ratio"
summaries=()
for case_name in "listed $ip_listed (rblcheck -t: with TXT)" "clean $ip_clean"; do
  ip=${case_name#* }; ip=${ip%% *}
  extra=(); [[ $case_name == listed* ]] && extra=(-t)
  ours=(); theirs=()
  for _ in $(seq "$runs"); do
    ours+=("$(time_ms "$tool" --dns 127.0.0.1:53 --timeout 5 "$ip")")
    if [ $have_rblcheck = 1 ]; then theirs+=("$(time_ms rblcheck "${extra[@]}" "${rbl_args[@]}" "$ip")"); fi
  done
  ours_ms=$(median "${ours[@]}")
  if [ $have_rblcheck = 1 ]; then
    theirs_ms=$(median "${theirs[@]}")
    ratio=$(python3 -c "print(f'{$theirs_ms / $ours_ms:.1f}x')")
  else
    theirs_ms="n/a"; ratio="n/a (apt-get install rblcheck)"
  fi
  printf '%-34s %10s ms %10s ms %8s\n' "${case_name%% (*}" "$ours_ms" "$theirs_ms" "$ratio"
  what="one IP, ${#zone_list[@]} lists, ${delay_ms} ms per answer: ${case_name%% *}"
  summary_ratio=${ratio%x}
  [ $have_rblcheck = 1 ] || summary_ratio=n/a
  summaries+=("RESULT name=blocklist what=\"$what\" ours=$ours_ms unit=ms peer=rblcheck peer_value=$theirs_ms ratio=$summary_ratio")
done

# Sanity: both tools saw the listing through this server.
echo
echo "rblcheck's view of $ip_listed (first lines):"
if [ $have_rblcheck = 1 ]; then rblcheck "${rbl_args[@]}" "$ip_listed" | head -3 || true; fi
echo "sendcheck-blocklist's verdict: exit $("$tool" --dns 127.0.0.1:53 "$ip_listed" > /dev/null 2>&1; echo $?) (1 = listed)"
printf '%s\n' "${summaries[@]}"
