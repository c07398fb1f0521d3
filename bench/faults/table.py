#!/usr/bin/env python3
"""Prints the fault campaign's report (JSON lines, one per scenario) as a Markdown table.

Usage: table.py REPORT [EXPECTED_SCENARIO_COUNT]
A scenario that failed wrote no row; with an expected count, missing rows are listed and
the exit status is 1.
"""
import json
import sys


def figures(f):
    parts = []
    for k, v in f.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a}: {b}" for a, b in v.items())
            parts.append(f"{k.replace('_', ' ')} ({v})")
        else:
            parts.append(f"{k.replace('_', ' ')} {v}")
    return "; ".join(parts)


def main():
    rows = []
    with open(sys.argv[1]) as fh:
        for line in fh:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    print("| scenario | mode | what was done | measured | promise kept |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['scenario']} | {r['mode']} | {r['did']} | {figures(r['figures'])} | {r['kept']} |")
    if len(sys.argv) > 2 and len(rows) < int(sys.argv[2]):
        print(f"\n{int(sys.argv[2]) - len(rows)} scenario(s) failed and wrote no row (see the log above).")
        sys.exit(1)


if __name__ == "__main__":
    main()
