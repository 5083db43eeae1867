#!/usr/bin/env bash
# sendcheck-spf against python3-spf and spfquery (libspf2's command-line
# tool) on the same deep include tree, served by our loopback DNS server
# (sendcheck-testdns) with 50 ms added to every answer, in the same run.
# Prints each wall time and the ratios.
#
#   bash bench/spf/run.sh [BUILD_DIR]      (default: build)
#
# Needs python3-spf and spfquery (scripts/install-deps --bench) and the
# build's sendcheck-spf and tests/sendcheck-testdns.
#
# spfquery asks the system resolver (libresolv), which reads only
# /etc/resolv.conf and cannot take a port. So, as in bench/blocklist, the run
# happens in private namespaces: `unshare --mount --net` gives a fresh
# loopback, the test server listens on 127.0.0.1:53 inside it, and a
# resolv.conf naming 127.0.0.1 is bind-mounted over /etc/resolv.conf for the
# namespace only. All three tools ask that one server. Needs root (or
# unprivileged user namespaces: --map-root-user is added).
#
# The tree: root -> 2 includes -> 4 includes each (10 DNS-querying terms,
# the RFC 7208 maximum), 3 levels deep. The IP matches the last leaf, so a
# sequential evaluation asks all 11 TXT questions one after another (11
# round trips); sendcheck-spf asks a level at a time (3 round trips).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
spf="$build/bin/sendcheck-spf"
testdns="$build/tests/sendcheck-testdns"
delay_ms=${DELAY_MS:-50}
runs=${RUNS:-5}
[ -x "$spf" ] || { echo "bench: $spf not built" >&2; exit 2; }
[ -x "$testdns" ] || { echo "bench: $testdns not built (cmake --build build --target sendcheck-testdns)" >&2; exit 2; }
/usr/bin/python3 -c 'import spf, DNS' 2>/dev/null || { echo "bench: python3-spf missing (apt-get install python3-spf)" >&2; exit 2; }
command -v spfquery >/dev/null || { echo "bench: spfquery missing (apt-get install spfquery)" >&2; exit 2; }

if [ "${BENCH_IN_NAMESPACE:-}" != 1 ]; then
  command -v unshare >/dev/null || { echo "bench: unshare (util-linux) is needed" >&2; exit 2; }
  flags=(--mount --net)
  [ "$(id -u)" = 0 ] || flags+=(--map-root-user)
  exec env BENCH_IN_NAMESPACE=1 unshare "${flags[@]}" "$0" "$build"
fi

# --- inside the namespaces ------------------------------------------------
work=$(mktemp -d)
dns_pid=""
cleanup() { [ -n "$dns_pid" ] && kill "$dns_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

ip link set lo up
printf 'nameserver 127.0.0.1\noptions timeout:5 attempts:1\n' > "$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf

names=(deep.bench.test)
{
  printf '$ORIGIN bench.test.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A 192.0.2.53\n'
  printf 'deep TXT "v=spf1 include:l1-0.bench.test include:l1-1.bench.test -all"\n'
  for i in 0 1; do
    record="v=spf1"
    for j in 0 1 2 3; do record="$record include:l2-$i-$j.bench.test"; done
    printf 'l1-%s TXT "%s"\n' "$i" "$record"
    names+=("l1-$i.bench.test")
    for j in 0 1 2 3; do
      printf 'l2-%s-%s TXT "v=spf1 ip4:198.51.100.%d/32"\n' "$i" "$j" $((i * 4 + j + 1))
      names+=("l2-$i-$j.bench.test")
    done
  done
} > "$work/bench.test.zone"
for name in "${names[@]}"; do printf '%s ANY delay %s\n' "$name" "$delay_ms"; done > "$work/faults"

"$testdns" --zone "$work/bench.test.zone" --faults "$work/faults" --port 53 --port-file "$work/port" > /dev/null &
dns_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || { echo "bench: the test DNS server did not start" >&2; exit 3; }
port=$(cat "$work/port")

ip=198.51.100.8   # the last leaf
now_ms() { date +%s%3N; }
best_ours=999999 best_pyspf=999999 best_pyspf_inner=999999 best_spfquery=999999
for _ in $(seq "$runs"); do
  start=$(now_ms)
  ours=$("$spf" deep.bench.test --ip "$ip" --dns "127.0.0.1:$port" --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["result"])')
  t=$(( $(now_ms) - start ))
  [ "$t" -lt "$best_ours" ] && best_ours=$t
  start=$(now_ms)
  read -r theirs inner < <(/usr/bin/python3 "$here/pyspf_check.py" "$port" "$ip" "bench@deep.bench.test" deep.bench.test)
  t=$(( $(now_ms) - start ))
  [ "$t" -lt "$best_pyspf" ] && best_pyspf=$t
  inner=${inner%.*}
  [ "$inner" -lt "$best_pyspf_inner" ] && best_pyspf_inner=$inner
  start=$(now_ms)
  # Its first line is the result; its exit status encodes it (pass is 0).
  libspf2=$(spfquery -ip "$ip" -sender "bench@deep.bench.test" -helo deep.bench.test | head -n 1 || true)
  t=$(( $(now_ms) - start ))
  [ "$t" -lt "$best_spfquery" ] && best_spfquery=$t
  [ "$ours" = pass ] && [ "$theirs" = pass ] && [ "$libspf2" = pass ] ||
    { echo "bench: results differ: sendcheck-spf $ours, pyspf $theirs, spfquery $libspf2" >&2; exit 1; }
done

depth=3
echo "tree: 11 records, 10 DNS-querying terms, depth $depth; ${delay_ms} ms per answer; best of $runs runs"
echo "sendcheck-spf (process, incl. tree validation): ${best_ours} ms  (target <= $((depth * delay_ms * 3 / 2)) ms = 1.5 x depth x delay)"
echo "python3-spf check2 (process):                   ${best_pyspf} ms  (inside check2: ${best_pyspf_inner} ms)"
echo "spfquery (libspf2, process):                    ${best_spfquery} ms"
/usr/bin/python3 -c "print(f'ratio pyspf/sendcheck-spf: {$best_pyspf/$best_ours:.1f}x (process), {$best_pyspf_inner/$best_ours:.1f}x (check2 alone vs our whole process)')"
/usr/bin/python3 -c "print(f'ratio spfquery/sendcheck-spf: {$best_spfquery/$best_ours:.1f}x (process)')"
what="SPF check_host, 11-record include tree, ${delay_ms} ms per answer"
for peer in "python3-spf $best_pyspf" "spfquery $best_spfquery"; do
  set -- $peer
  echo "RESULT name=spf what=\"$what\" ours=$best_ours unit=ms peer=$1 peer_value=$2 ratio=$(/usr/bin/python3 -c "print(f'{$2/$best_ours:.2f}')")"
done
