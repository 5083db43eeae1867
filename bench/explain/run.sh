#!/usr/bin/env bash
# Throughput of sendcheck-explain over a ~100 MB mail log from the page
# cache, next to `grep -c` with a comparable regex over the same file.
# Usage: bench/explain/run.sh [BUILD_DIR] [SIZE_MB]
# Target (issue 5): at least 200 MB/s, under 20 MB resident. Needs python3
# and GNU time (scripts/install-deps --bench). Exits 1 when a target is missed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
size_mb=${2:-100}
tool=$build/bin/sendcheck-explain
[ -x "$tool" ] || { echo "run.sh: $tool not built (cmake --build build --target sendcheck-explain)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "run.sh: needs GNU time (apt-get install time)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log=$work/mail.log
python3 "$here/generate_log.py" "$log" "$size_mb"
bytes=$(stat -c %s "$log")
cat "$log" > /dev/null  # into the page cache

# Best of three runs of each, wall clock.
best_of_three() {
  local best=""
  for _ in 1 2 3; do
    # Wall time in nanoseconds around the run (GNU time rounds to 10 ms);
    # GNU time for the maximum resident set size.
    local start end wall rss
    start=$(date +%s%N)
    /usr/bin/time -v -o "$work/time" "$@" > "$work/out" 2>/dev/null || true
    end=$(date +%s%N)
    wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time")
    if [ -z "$best" ] || awk -v a="$wall" -v b="${best%% *}" 'BEGIN { exit !(a < b) }'; then best="$wall $rss"; fi
  done
  echo "$best"
}

read -r ours_s ours_rss < <(best_of_three "$tool" --json --file "$log")
# The peer: grep counting lines with a reply code and an enhanced code.
read -r grep_s grep_rss < <(best_of_three grep -c -E '(^|[ (:;=])[2-5][0-5][0-9][ -][245]\.[0-9]{1,3}\.[0-9]{1,3}' "$log")

mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
ours_rate=$(awk -v b="$bytes" -v s="$ours_s" 'BEGIN { printf "%.0f", b / 1e6 / (s > 0 ? s : 0.001) }')
grep_rate=$(awk -v b="$bytes" -v s="$grep_s" 'BEGIN { printf "%.0f", b / 1e6 / (s > 0 ? s : 0.001) }')
ratio=$(awk -v a="$ours_rate" -v b="$grep_rate" 'BEGIN { printf "%.2f", a / b }')
echo "input:             $mb MB ($(wc -l < "$log") lines)"
echo "sendcheck-explain: ${ours_s}s  ${ours_rate} MB/s  max RSS $((ours_rss / 1024)) MB"
echo "grep -c -E (peer): ${grep_s}s  ${grep_rate} MB/s  max RSS $((grep_rss / 1024)) MB"
echo "ratio (ours/grep): $ratio"
status=0
[ "$ours_rate" -ge 200 ] || { echo "below target: ${ours_rate} MB/s < 200 MB/s"; status=1; }
[ "$ours_rss" -lt $((20 * 1024)) ] || { echo "above target: max RSS ${ours_rss} KB >= 20 MB"; status=1; }
echo "RESULT name=explain what=\"scan a $mb MB mail log for SMTP replies\" ours=$ours_rate unit=MB/s peer=\"grep -c -E\" peer_value=$grep_rate ratio=$ratio"
exit $status
