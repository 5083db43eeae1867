#!/usr/bin/env bash
# sendcheck-inventory over an Entra sign-in log download of 1,000 and of
# 100,000 "Authenticated SMTP" rows (50 senders x 4 IPs, the same in both):
# time and peak memory (maximum resident set size). The aggregator keeps one
# entry per sender and IP and the files are read in chunks, so the peak
# memory must not grow with the row count: the ratio of the two peaks is the
# number to watch (target: below 1.5 while the rows grow 100-fold).
#
#   bash bench/inventory/run.sh [BUILD_DIR]      (default: build)
#
# Needs time (apt-get install time).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
tool="$build/bin/sendcheck-inventory"
command -v /usr/bin/time >/dev/null || { echo "bench: /usr/bin/time missing (apt-get install time)" >&2; exit 2; }
[ -x "$tool" ] || { echo "bench: $tool not built" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The portal's columns (a subset in the portal's order is enough for the
# reader: it finds columns by name).
make_download() {
  awk -v rows="$1" 'BEGIN {
    print "Date (UTC),Request ID,User agent,Username,IP address,Location,Status,Sign-in error code,Failure reason,Client app"
    for (i = 0; i < rows; i++) {
      sender = i % 50; ip = int(i / 50) % 4; ok = (i % 17 != 0)
      printf "2026-11-%02dT%02d:%02d:%02dZ,req-%d,BAV2ROPC,device%02d@contoso.com,203.0.113.%d,\"Seattle, Washington, US\",%s,%s,%s,Authenticated SMTP\n",
        1 + i % 28, i % 24, i % 60, (i * 7) % 60, i, sender, 10 + ip, ok ? "Success" : "Failure", ok ? 0 : 50126,
        ok ? "Other." : "Error validating credentials due to invalid username or password."
    }
  }' > "$2"
}

measure() {  # prints "seconds kilobytes"
  /usr/bin/time -f '%e %M' -o "$work/time" "$tool" --signins "$1" --json > "$work/out.json" || [ $? -eq 1 ]
  tail -n 1 "$work/time"  # after "Command exited with non-zero status 1"
}

make_download 1000 "$work/small.csv"
make_download 100000 "$work/large.csv"
read -r small_s small_kb < <(measure "$work/small.csv")
read -r large_s large_kb < <(measure "$work/large.csv")
senders=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["senders"]))' "$work/out.json" 2>/dev/null || echo "?")
ratio=$(awk -v a="$large_kb" -v b="$small_kb" 'BEGIN { printf "%.2f", a / b }')
echo "rows      seconds  peak RSS (KiB)"
printf '%-9s %-8s %s\n' 1000 "$small_s" "$small_kb" 100000 "$large_s" "$large_kb"
echo "senders in the report: $senders; peak memory 100,000 rows / 1,000 rows: $ratio"
# No peer: the comparison is with itself at 1/100 of the rows; the table's
# last column is the peak-memory growth, not a speed-up.
echo "RESULT name=inventory what=\"peak memory, 100,000 sign-in rows (1,000 rows as the peer; $large_s s)\" ours=$large_kb unit=KiB peer=\"same, 1,000 rows\" peer_value=$small_kb ratio=n/a"
awk -v r="$ratio" 'BEGIN { exit !(r < 1.5) }' || { echo "bench: peak memory grew with the rows ($ratio)" >&2; exit 1; }
