"""Summarises bench/workerd-perf.sh's `perf script` stacks: CPU per request of each workerd, split
by the first rule a sample's stack matches, and Tollgate minus the bare signer per item.

    python3 bench/workerd-perf.py TARGETS    (lines "name stacks-file requests-in-the-window")

Samples are at 2000 Hz, so each stands for 0.5 ms of one thread's CPU. The rules are ordered:
garbage collection and wasm compilation wherever they run, then the audit lines' path (the
runtime's console.log and workerd's writes to its stdout, a socket to Miniflare's node process),
the network, the JIT'd code itself (JavaScript and wasm: the worker's own work), then the runtime's
request objects and the rest.
"""

import re
import sys
from collections import Counter

RULES = [
    ("garbage collection", lambda s, leaf: re.search(
        r"Heap::CollectGarbage|Scavenge|MinorGC|MarkCompact|ConcurrentMarking|Sweeper|GCEpilogue", s)),
    ("wasm compilation (tier-up)", lambda s, leaf: re.search(
        r"BackgroundCompileJob|ExecuteCompilationUnits|WasmCompilationUnit", s)),
    ("console.log in the runtime", lambda s, leaf: "Worker::handleLog" in s),
    # stdout is a socket to node; a write that is neither TCP nor HTTP is a log line (the
    # sample's user stack is often cut short there, so the caller cannot be read).
    ("stdout writes (log lines)", lambda s, leaf: "unix_stream_sendmsg" in s or (
        "libc_write" in s and not re.search(r"tcp_|HttpOutputStream|sock_sendmsg", s))),
    ("network: HTTP and TCP", lambda s, leaf: re.search(
        r"tcp_|kj::HttpServer|HttpOutputStream|HttpInputStream|AsyncStreamFd|sock_recvmsg|epoll", s)),
    ("JIT'd code (JavaScript, wasm)", lambda s, leaf: "[JIT]" in leaf or "perf-" in leaf),
    ("runtime: request.cf", lambda s, leaf: "CfProperty" in s),
    ("runtime: Request/Response/Headers", lambda s, leaf: re.search(
        r"api::Request::|api::Response::|api::Headers::", s)),
    ("kernel: scheduling, other", lambda s, leaf: "kernel" in leaf),
    ("runtime: other V8 and workerd", lambda s, leaf: True),
]


def stacks(path):
    cur = []
    with open(path, errors="replace") as f:
        for line in f:
            if line.strip():
                cur.append(line.strip())
            elif cur:
                yield cur
                cur = []
    if cur:
        yield cur


def split(path, requests):
    per = 0.5 * 1000 / requests  # us of CPU per request, per sample
    out = Counter()
    for st in stacks(path):
        text = "\n".join(st)
        for name, rule in RULES:
            if rule(text, st[0]):
                out[name] += per
                break
    return out


def main():
    targets = [line.split() for line in open(sys.argv[1]) if line.strip()]
    res = {name: split(path, float(reqs)) for name, path, reqs in targets}
    names = [t[0] for t in targets]
    print(f"\n{'us of workerd CPU per request':38s}" + "".join(f"{n:>10s}" for n in names)
          + ("  tollgate-sign" if {"tollgate", "sign"} <= set(names) else ""))
    for item, _ in RULES + [("total", None)]:
        vals = {n: (sum(res[n].values()) if item == "total" else res[n][item]) for n in names}
        row = f"{item:38s}" + "".join(f"{vals[n]:10.1f}" for n in names)
        if "tollgate" in vals and "sign" in vals:
            row += f"{vals['tollgate'] - vals['sign']:+15.1f}"
        print(row)
    if {"tollgate", "sign", "empty"} <= set(names):
        t, s, e = (sum(res[n].values()) for n in ("tollgate", "sign", "empty"))
        print(f"\nCPU per token (tollgate - empty) / bare sign (sign - empty): "
              f"{t - e:.1f} / {s - e:.1f} us = {(t - e) / (s - e):.3f}")


main()
