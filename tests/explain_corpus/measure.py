#!/usr/bin/env python3
"""Runs a sendcheck-explain binary over real_replies.tsv and prints the figures
(found / right entry / remedy fits / right sender), the same measure as
tests/test_explain_corpus.cpp, so an older binary can be measured too:
    tests/explain_corpus/measure.py build/bin/sendcheck-explain [-v]"""
import json, os, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))

def unescape(field):
    out, i = [], 0
    while i < len(field):
        c = field[i]
        if c == "\\" and i + 1 < len(field):
            i += 1
            c = {"n": "\n", "t": "\t"}.get(field[i], field[i])
        out.append(c)
        i += 1
    return "".join(out)

def matches(match, expected):
    parts = expected.split(" ")
    basic = enhanced = None
    if len(parts) == 2: basic, enhanced = parts
    elif "." in expected: enhanced = expected
    else: basic = expected
    if basic and str(match.get("code") or 0) != basic: return False
    if enhanced and match.get("enhanced") != enhanced: return False
    return True

def main():
    binary, verbose = sys.argv[1], "-v" in sys.argv[2:]
    n = found = entry = remedy = sender = 0
    for line in open(os.path.join(here, "real_replies.tsv"), encoding="utf-8"):
        if not line.strip() or line.startswith("#"): continue
        rid, url, expected, want_entry, want_sender, word, text = line.rstrip("\n").split("\t")
        n += 1
        run = subprocess.run([binary, "--json", "--file", "-"], input=unescape(text).encode(), capture_output=True)
        try: matches_list = json.loads(run.stdout).get("matches", [])
        except ValueError: matches_list = []
        hit = next((m for m in matches_list if matches(m, expected)), None)
        if not hit:
            if verbose: print(f"  miss {rid}: not found")
            continue
        found += 1
        if hit["id"] != want_entry:
            if verbose: print(f"  miss {rid}: entry {hit['id']}, expected {want_entry}")
            continue
        entry += 1
        if word.lower() not in " ".join(hit.get("remedy", [])).lower():
            if verbose: print(f"  miss {rid}: remedy lacks {word!r}")
            continue
        remedy += 1
        got = hit.get("details", {}).get("sender", "unknown")
        if got == want_sender: sender += 1
        elif verbose: print(f"  miss {rid}: sender {got}, expected {want_sender}")
    print(f"{n} replies, {found} found, {entry} right entry, {remedy} remedy fits, {sender} right sender")

main()
