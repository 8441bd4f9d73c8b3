#!/usr/bin/env python3
"""Adds up the REPORT files of several wrk that ran at once (benches/wrk/report.lua writes
them): prints "REQUESTS_PER_SECOND P99_MS NON_2XX OTHER_ERRORS REQUESTS".

The rate is the sum of each wrk's requests over its own duration. The p99 is taken over all
their requests together: the least latency x such that, by each wrk's quantiles, at least 99%
of all requests took x or less (with one wrk: exactly wrk's own p99; with several, to within
the quantile step of report.lua, 0.01% near the tail).

  merge.py REPORT...
"""

import bisect
import sys


def read(path):
    report = {"quantiles": []}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if parts[0] == "requests":
                report["requests"] = int(parts[1])
            elif parts[0] == "duration_us":
                report["duration"] = int(parts[1]) / 1e6
            elif parts[0] == "errors":
                connect, read_, write, status, timeout = map(int, parts[1:6])
                report["status"] = status
                report["other"] = connect + read_ + write + timeout
            elif parts[0] == "quantile":
                report["quantiles"].append((float(parts[1]), int(parts[2])))
    report["values"] = [value for _, value in report["quantiles"]]
    return report


def below(report, x):
    """The share (0..1) of this wrk's requests that took x µs or less, by its quantiles
    (their values rise with their percentages)."""
    i = bisect.bisect_right(report["values"], x)
    return report["quantiles"][i - 1][0] / 100 if i else 0.0


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    reports = [read(path) for path in sys.argv[1:]]
    total = sum(r["requests"] for r in reports)
    rate = sum(r["requests"] / r["duration"] for r in reports if r["duration"] > 0)
    candidates = sorted({v for r in reports for _, v in r["quantiles"]})
    p99 = candidates[-1] if candidates else 0
    for x in candidates:
        if sum(r["requests"] * below(r, x) for r in reports) >= 0.99 * total:
            p99 = x
            break
    status = sum(r["status"] for r in reports)
    other = sum(r["other"] for r in reports)
    print(f"{rate:.0f} {p99 / 1000:.1f} {status} {other} {total}")


if __name__ == "__main__":
    main()
