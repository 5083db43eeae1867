#!/usr/bin/env python3
"""sendcheck preflight --batch over one DNS loop, against the same rows run
one by one (a process per row, as a script looping over devices would).

1,000 devices over 100 tenants (10 per tenant), direct send, answered by
our loopback DNS server holding every answer 50 ms (a distant resolver).
Each run: wall time, questions the server received, peak RSS (getrusage of
the child). The one-by-one runs take the first SAMPLE rows (10 tenants)
and are scaled to all rows; the ratio is one-by-one time / batch time.
The SMTP step goes to a closed local port (refused at once): DNS is what
is measured.

    python3 bench/batch/run.py [BUILD_DIR] [DEVICES] [TENANTS] [SAMPLE] [DELAY_MS]

With BENCH_BATCH_BASELINE=OTHER_BUILD_DIR, that build's --batch runs the
same file too (an older build: a thread per row, resolvers per part).
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(top, "build"))
devices = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
tenants = int(sys.argv[3]) if len(sys.argv) > 3 else 100
sample = int(sys.argv[4]) if len(sys.argv) > 4 else 100
delay_ms = int(sys.argv[5]) if len(sys.argv) > 5 else 50
preflight = os.path.join(build, "bin", "sendcheck-preflight")
testdns = os.path.join(build, "tests", "sendcheck-testdns")
for exe in (preflight, testdns):
    if not os.access(exe, os.X_OK):
        sys.exit(f"bench: {exe} not built")

work = tempfile.mkdtemp(prefix="bench-batch-")
zone = os.path.join(work, "tenants.zone")
with open(zone, "w") as out:
    out.write("$TTL 3600\n")
    for t in range(tenants):
        out.write(f"$ORIGIN t{t:03d}.bench.example.\n")
        out.write(f"@ MX 0 t{t:03d}-bench-example.mail.protection.outlook.com.\n")
        out.write('@ TXT "v=spf1 ip4:203.0.113.0/24 include:spf.protection.outlook.com -all"\n')
        out.write('_dmarc TXT "v=DMARC1; p=reject"\n')
    out.write("$ORIGIN mail.protection.outlook.com.\n")
    for t in range(tenants):
        out.write(f"t{t:03d}-bench-example A 192.0.2.{t % 250 + 1}\n")
    out.write("$ORIGIN spf.protection.outlook.com.\n")
    out.write('@ TXT "v=spf1 ip4:40.92.0.0/15 ip4:40.107.0.0/16 ip4:52.100.0.0/15 -all"\n')
lists = os.path.join(top, "fixtures", "demo", "blocklists.zone")

# A port nothing listens on: the SMTP step is refused at once.
probe = socket.socket()
probe.bind(("127.0.0.1", 0))
closed_port = probe.getsockname()[1]
probe.close()


def row(i):
    t = i % tenants
    domain = f"t{t:03d}.bench.example"
    ip = f"203.0.113.{i // tenants % 250 + 1}" if i < tenants * 250 else f"198.51.100.{i % 250 + 1}"
    return domain, ip, f"device{i}@{domain}", f"frontdesk@{domain}"


rows = [row(i) for i in range(devices)]
# The file in tenant order, as an MSP's inventory is: a tenant's rows together.
rows.sort(key=lambda r: r[0])
csv = os.path.join(work, "devices.csv")
with open(csv, "w") as out:
    out.write("domain,method,ip,from,to\n")
    for domain, ip, sender, to in rows:
        out.write(f"{domain},direct-send,{ip},{sender},{to}\n")

count_file = os.path.join(work, "count")
server = subprocess.Popen([testdns, "--zone", zone, "--zone", lists, "--delay", str(delay_ms), "--count-file", count_file],
                          stdout=subprocess.PIPE, text=True)
port = int(server.stdout.readline())
dns = f"127.0.0.1:{port}"


def questions():
    """The questions the server received since the last call."""
    if os.path.exists(count_file):
        os.unlink(count_file)
    server.send_signal(signal.SIGUSR1)
    for _ in range(200):
        if os.path.exists(count_file):
            with open(count_file) as f:
                return int(f.read())
        time.sleep(0.01)
    sys.exit("bench: the DNS server did not report its count")


def run(argv):
    """Wall seconds, peak RSS in KB, exit code, stdout of one child."""
    start = time.monotonic()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    return time.monotonic() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status), output


common = ["--smtp-host", "127.0.0.1", "--smtp-port", str(closed_port), "--dns", dns, "--timeout", "10", "--json"]
try:
    questions()
    batch_seconds, batch_rss, code, output = run([preflight, "--batch", csv] + common)
    batch_questions = questions()
    documents = [line for line in output.splitlines() if line.startswith("{")]
    if len(documents) != devices:
        sys.exit(f"bench: the batch printed {len(documents)} rows of {devices} (exit {code})")

    baseline = None
    if os.environ.get("BENCH_BATCH_BASELINE"):
        other = os.path.join(os.environ["BENCH_BATCH_BASELINE"], "bin", "sendcheck-preflight")
        seconds, rss, _, _ = run([other, "--batch", csv] + common)
        baseline = (seconds, questions(), rss)

    one_seconds, one_rss = 0.0, 0
    for domain, ip, sender, to in rows[:sample]:
        seconds, rss, _, _ = run([preflight, domain, "--ip", ip, "--from", sender, "--to", to] + common)
        one_seconds += seconds
        one_rss = max(one_rss, rss)
    one_questions = questions()
finally:
    server.terminate()
    server.wait()

scale = devices / sample
load = os.getloadavg()
print(f"preflight --batch: {devices} devices over {tenants} tenants, every DNS answer held {delay_ms} ms "
      f"(load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, {os.cpu_count()} CPUs)")
print(f"{'mode':34} {'seconds':>9} {'questions':>10} {'peak RSS KB':>12}")
print(f"{'batch, one loop':34} {batch_seconds:9.2f} {batch_questions:10d} {batch_rss:12d}")
if baseline:
    print(f"{'baseline build --batch':34} {baseline[0]:9.2f} {baseline[1]:10d} {baseline[2]:12d}")
print(f"{f'one by one, {sample} rows measured':34} {one_seconds:9.2f} {one_questions:10d} {one_rss:12d}")
print(f"{f'one by one, scaled to {devices} rows':34} {one_seconds * scale:9.2f} {round(one_questions * scale):10d} {one_rss:12d}")
print(f"ratio (one by one / batch): time {one_seconds * scale / batch_seconds:.1f}x, "
      f"questions {one_questions * scale / batch_questions:.1f}x")
if baseline:
    print(f"ratio (baseline --batch / batch): time {baseline[0] / batch_seconds:.1f}x, questions {baseline[1] / batch_questions:.1f}x")
print(f"RESULT name=batch what=\"{devices} devices, {tenants} tenants, {delay_ms} ms answers\" ours={batch_seconds:.2f} unit=s "
      f"peer=\"rows one by one (scaled)\" peer_value={one_seconds * scale:.2f} ratio={one_seconds * scale / batch_seconds:.2f}")
