#!/usr/bin/python3
# The sequential reference for bench/spf/run.sh: python3-spf (pyspf, Debian)
# evaluating check_host() against the same server, timed around the check.
#   /usr/bin/python3 pyspf_check.py PORT IP SENDER HELO
import sys
import time

import spf  # python3-spf; with Debian's python3 it uses pydns (python3-dns)
import DNS

port, ip, sender, helo = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
DNS.defaults['server'] = ['127.0.0.1']
DNS.defaults['port'] = port
start = time.monotonic()
result, explanation = spf.check2(i=ip, s=sender, h=helo)
elapsed = time.monotonic() - start
print(f"{result} {elapsed * 1000:.1f}")
