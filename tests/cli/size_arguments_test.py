#!/usr/bin/env python3
"""size_arguments_test.py UZRAM: the SIZE arguments of the swap commands.

--size and --limit reach the workload as given (a small swap-bench run reports
them back in its JSON), and sizes that are garbage, zero or not whole pages
exit with code 2 and a message naming the option, before anything runs.
"""
import json
import subprocess
import sys

uzram = sys.argv[1]


def run(*args):
    return subprocess.run([uzram, *args], capture_output=True, text=True, timeout=120)


p = run("swap-bench", "--size", "8M", "--limit", "2M", "--json")
if p.returncode != 0:
    sys.exit(f"swap-bench --size 8M --limit 2M: exit {p.returncode}: {p.stderr}")
d = json.loads(p.stdout)
if d["size_bytes"] != 8 << 20 or d["limit_bytes"] != 2 << 20:
    sys.exit(f"sizes not taken as given: size_bytes {d['size_bytes']}, limit_bytes {d['limit_bytes']}")

for cmd, opt, bad in [("swap-bench", "--size", "12Q"), ("swap-bench", "--limit", "0"),
                      ("swap-bench", "--limit", "5000"), ("demo", "--size", "1G1"), ("demo", "--limit", "-4M")]:
    p = run(cmd, opt, bad)
    if p.returncode != 2 or opt not in p.stderr or p.stdout:
        sys.exit(f"{cmd} {opt} {bad}: exit {p.returncode}, stderr {p.stderr!r}, stdout {p.stdout[:80]!r}")
print("2 passed, 0 failed")
