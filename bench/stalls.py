"""Summarises bench/stalls.sh: per target, every request's latency (bench/latency.lua's files), the
gaps in which no connection got a response, and what workerd's main thread was doing then (its
`perf script` stacks, sampled at 2000 Hz on the same CLOCK_MONOTONIC as the latencies).

    GAP_MS=30 python3 bench/stalls.py TARGETS    (lines "name stacks-file latency-prefix")
"""

import glob
import os
import re
import sys

GAP_MS = float(os.environ.get("GAP_MS", "30"))
GC = re.compile(r"Heap::CollectGarbage|Heap::PerformGarbageCollection")
# Inside a collection: the runtime's callbacks after it (workerd finalising the C++ objects behind
# dead JavaScript wrappers: Request, Response, Headers, URL...), the young-generation collector,
# and the full one.
GC_PARTS = [
    ("epilogue callbacks (runtime objects finalised)", re.compile(r"CallGCEpilogueCallbacks")),
    ("young generation (scavenge)", re.compile(r"Scavenge|MinorMarkSweep|MinorGC")),
    ("full mark-compact", re.compile(r"MarkCompactCollector")),
]


def samples(path):
    """(time in ms, stack text) per sample."""
    t, frames = None, []
    with open(path, errors="replace") as f:
        for line in f:
            m = re.match(r"^\s*(\d+\.\d+):", line)
            if m:
                if t is not None:
                    yield t, "\n".join(frames)
                t, frames = float(m.group(1)) * 1000, []
            elif line.strip():
                frames.append(line.strip())
    if t is not None:
        yield t, "\n".join(frames)


def latencies(prefix):
    """(start ms, latency ms) of every request latency.lua recorded."""
    out = []
    for path in glob.glob(prefix + "-*"):
        with open(path) as f:
            out += [tuple(map(float, line.split())) for line in f if line.strip()]
    return out


def pct(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, max(0, int(len(sorted_values) * p + 0.999999) - 1))]


def summarise(name, stacks, prefix):
    reqs = latencies(prefix)
    if not reqs:
        print(f"{name}: no latencies recorded")
        return
    lat = sorted(r[1] for r in reqs)
    ends = sorted(s + l for s, l in reqs)
    span = (ends[-1] - min(s for s, _ in reqs)) / 1000
    gaps = [(a, b) for a, b in zip(ends, ends[1:]) if b - a > GAP_MS]
    # Little's law: mean latency times rate is the requests in flight, one per connection (one
    # latency file each) when the latencies are the ones requests had.
    in_flight = sum(lat) / 1000 / span
    print(f"\n{name}: {len(reqs)} requests in {span:.1f} s; latency p50 {pct(lat, .5):.1f} ms, "
          f"p99 {pct(lat, .99):.1f}, p99.9 {pct(lat, .999):.1f}, max {lat[-1]:.1f}; "
          f"mean x rate {in_flight:.2f} for {len(glob.glob(prefix + '-*'))} connections")
    gap_ms = sum(b - a for a, b in gaps)
    print(f"  gaps over {GAP_MS:.0f} ms with no response: {len(gaps)}, {gap_ms:.0f} ms in all "
          f"({100 * gap_ms / 1000 / span:.1f}% of the run), longest {max((b - a for a, b in gaps), default=0):.0f} ms")
    # Only the samples inside the latency window: perf also ran a little before and after.
    lo, hi = min(s for s, _ in reqs), ends[-1]
    ss = [(t, st) for t, st in samples(stacks) if lo <= t <= hi]
    if not ss:
        print("  no perf samples in the window")
        return
    in_gap = [st for t, st in ss if any(a <= t <= b for a, b in gaps)]

    def split(group, label):
        gc = [st for st in group if GC.search(st)]
        parts = ", ".join(f"{part} {100 * sum(1 for st in gc if rx.search(st)) / max(1, len(gc)):.0f}%"
                          for part, rx in GC_PARTS)
        print(f"  {label}: {len(group)} samples ({len(group) / 2:.0f} ms of the thread), "
              f"{100 * len(gc) / max(1, len(group)):.0f}% in V8's garbage collector; of that: {parts}")

    split([st for _, st in ss], "the whole run")
    split(in_gap, "inside the gaps")


def main():
    with open(sys.argv[1]) as f:
        for line in f:
            if line.strip():
                summarise(*line.split())


if __name__ == "__main__":
    main()
