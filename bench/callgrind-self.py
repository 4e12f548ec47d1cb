#!/usr/bin/env python3
"""Instructions per request by function, from bench/token-instructions.mjs's PROFILE=DIR output.

    python3 bench/callgrind-self.py DIR/tollgate DIR/floor      # A, B and A - B, largest first
    python3 bench/callgrind-self.py DIR/tollgate                # one target
    TOP=60 GROUPS_ONLY=1 ...                                    # more rows; by group only (GROUPS is bash's)
    CALLS='memory_copy_wrapper|Talc<S,B>::allocate' ...         # also calls per request into these
    CALLERS='Talc<S,B>::allocate$' DEPTH=2 ...                  # and who makes those calls
    EVENT=I1mr ...      another of callgrind's events than instructions (Ir): with CACHE_SIM=1
                        dumps, I1mr, ILmr, D1mr, D1mw, DLmr, DLmw; with BRANCH_SIM=1, Bc, Bcm, Bi,
                        Bim; or CEst (its cycle estimate: Ir + 10 x (L1 misses + mispredicted
                        branches) + 100 x LL misses, of whatever the dumps simulated)

Each target directory holds callgrind's dump of the measured requests (one `out.1-NN` file per
thread), V8's perf map of the code it generated (`perf-PID.map`, written with `--perf-basic-prof`),
the names of the functions the wasm module defines, in index order (`functions.txt`, from
binaryen's listing; a TG_KEEP_NAMES=1 build has Rust's) and `requests` (how many requests the
dump covers). A function's self instructions are the counts of the cost lines under its `fn=`
that do not follow a `calls=` line (those are inclusive costs of the call). workerd keeps its
symbols, so the runtime's C++ functions are named; generated code (wasm, JavaScript, V8's
builtins) has none, and callgrind names it by the address a call entered it at: JavaScript and
builtins by the perf map, wasm functions by their slot in the module's jump table (`resolver`
says how), each with what TurboFan inlined into it. Counts are exact for the run; what they cost
in time is another matter (bench/README.md, "Steady state in instructions").
"""
import bisect
import os
import re
import sys
from collections import defaultdict

HASH = re.compile(r"::h[0-9a-f]{16}")
RECURSION = re.compile(r"'\d+$")  # callgrind's suffix for a function's deeper recursion levels
ADDR = re.compile(r"^0x[0-9a-fA-F]+$")


def perf_map(directory):
    """(starts, ends, names) of the generated code in the directory's perf map, sorted."""
    entries = {}
    for f in os.listdir(directory):
        if not (f.startswith("perf-") and f.endswith(".map")):
            continue
        with open(os.path.join(directory, f), errors="replace") as fh:
            for line in fh:
                parts = line.rstrip("\n").split(" ", 2)
                if len(parts) == 3:
                    # A later entry at the same address (code replaced by tier-up) wins.
                    entries[int(parts[0], 16)] = (int(parts[1], 16), parts[2])
    starts = sorted(entries)
    return starts, [s + entries[s][0] for s in starts], [entries[s][1] for s in starts]


JUMP_SLOT = 8  # bytes per slot of V8's wasm jump table on x64


def functions(directory):
    """The wasm module's defined functions' names in index order (`functions.txt`), or []."""
    path = os.path.join(directory, "functions.txt")
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [HASH.sub("", line.rstrip("\n")) for line in fh]


def resolver(addresses, pmap, funcs):
    """A function naming generated code at an address.

    V8 calls a wasm function through its slot in the module's jump table, which then jumps to
    the code; callgrind names code without symbols by the address a call entered it at, so a
    wasm function's instructions (with whatever TurboFan inlined into it) are counted under its
    jump-table slot, not under its code's address. The table is not in the perf map: it sits in
    the module's code space below the first wasm code the map lists, from the page holding the
    lowest address called there, one JUMP_SLOT per defined function in index order
    (functions.txt). Code the map lists is named from it.
    """
    starts, _, names = pmap
    wasm = [a for a, n in zip(starts, names) if re.search(r"-\d+-(liftoff|turbofan)$", n)]
    first = min(wasm) if wasm else None
    near = [a for a in addresses if first and first - (1 << 20) < a < first and map_entry(a, pmap) is None]
    base = (min(near) & ~0xFFF) if near else -1

    def name(addr):
        i = map_entry(addr, pmap)
        if i is not None:
            return HASH.sub("", names[i])
        slot, off = divmod(addr - base, JUMP_SLOT)
        if funcs and base >= 0 and off == 0 and 0 <= slot < len(funcs):
            return "wasm: " + funcs[slot]
        return "(generated code not named)"

    return name


def map_entry(addr, pmap):
    """The index of the perf-map entry holding `addr`, or None."""
    starts, ends, _ = pmap
    i = bisect.bisect_right(starts, addr) - 1
    return i if i >= 0 and addr < ends[i] else None


EVENT = os.environ.get("EVENT", "Ir")
TENS, HUNDREDS = ("I1mr", "D1mr", "D1mw", "Bcm", "Bim"), ("ILmr", "DLmr", "DLmw")


def event_weights(events):
    """Weights over a dump's event columns that give EVENT."""
    if EVENT == "CEst":
        w = {"Ir": 1, **{e: 10 for e in TENS if e in events}, **{e: 100 for e in HUNDREDS if e in events}}
    else:
        w = {EVENT: 1}
    missing = [e for e in w if e not in events]
    if missing:
        sys.exit(f"EVENT={EVENT}: the dumps hold {events}, not {missing} (CACHE_SIM=1 for misses)")
    return [w.get(e, 0) for e in events]


def self_costs(directory):
    """Self cost (EVENT), calls into it, and calls between two functions, by function name over
    every thread's dump in `directory`: three dicts."""
    names = {}  # callgrind's name compression: "(id) name" defines, "(id)" refers
    raw = defaultdict(int)  # by C++ name, or by address for generated code
    raw_calls = defaultdict(int)  # the same keys: how often something called it
    raw_edges = defaultdict(int)  # (caller, callee) in the same keys: how often

    def key(field):
        fn = RECURSION.sub("", name_of(field.rstrip("\n")))
        return int(fn, 16) if ADDR.match(fn) else HASH.sub("", fn)

    def name_of(field):
        m = re.match(r"\((\d+)\)(?: (.*))?$", field)
        if not m:
            return field
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), field)

    for f in sorted(os.listdir(directory)):
        if not re.match(r"^out\.1(-\d+)?$", f):
            continue
        names.clear()  # ids are per file
        current = None
        callee = None
        skip_next = False
        positions, weights = 1, [1]
        with open(os.path.join(directory, f), errors="replace") as fh:
            for line in fh:
                if line.startswith("positions:"):
                    positions = len(line.split()) - 1
                    continue
                if line.startswith("events:"):
                    weights = event_weights(line.split()[1:])
                    continue
                if line.startswith("fn="):
                    current = key(line[3:])
                    continue
                if line.startswith("cfn="):
                    callee = key(line[4:])
                    continue
                if line.startswith(("cfi=", "cfl=", "cob=", "ob=", "fl=", "fi=", "fe=")):
                    name_of(line.split("=", 1)[1].rstrip("\n"))  # may define a name
                    continue
                if line.startswith("calls="):
                    if callee is not None:
                        n = int(line[6:].split()[0])
                        raw_calls[callee] += n
                        raw_edges[(current, callee)] += n
                    skip_next = True
                    continue
                if not line or not (line[0].isdigit() or line[0] in "+-*"):
                    continue
                if skip_next:
                    skip_next = False
                    continue
                parts = line.split()
                if current is not None and len(parts) > positions:
                    # Trailing zero events are left out of a cost line.
                    raw[current] += sum(w * int(v) for w, v in zip(weights, parts[positions:]))
    addresses = {k for k in (*raw, *raw_calls) if isinstance(k, int)}
    name = resolver(addresses, perf_map(directory), functions(directory))

    def named(k):
        return name(k) if isinstance(k, int) else k

    costs, calls, edges = defaultdict(int), defaultdict(int), defaultdict(int)
    for into, src in ((costs, raw), (calls, raw_calls)):
        for k, v in src.items():
            into[named(k)] += v
    for (caller, callee), v in raw_edges.items():
        edges[(named(caller), named(callee))] += v
    return costs, calls, edges


def requests(directory):
    with open(os.path.join(directory, "requests")) as fh:
        return int(fh.read().strip())


WASM_GROUPS = [
    ("signature (p256, primeorder, crypto-bigint, sha2, hmac, rfc6979, compiler-rt)",
     r"p256|primeorder|crypto_bigint|sha2|hmac|rfc6979|__multi3|__ashl|__lshr|subtle|digest|ecdsa|elliptic|ctutils"),
    ("base64 / hex", r"base64|base16"),
    ("serde, serde_json", r"serde"),
    ("allocation (talc, dlmalloc, Vec/String growth)", r"talc|dlmalloc|raw_vec|to_vec|alloc::|memcmp|memcpy|memset|memmove"),
    ("wasm-bindgen, js-sys, web-sys, worker", r"wasm_bindgen|js_sys|web_sys|worker::|__wbindgen|__wbg"),
    ("Tollgate (core and worker)", r"tollgate"),
    ("core, std (str, iter, fmt), form_urlencoded", r"core|std|form_urlencoded|str::|iter"),
]


def group(name):
    """A coarse group for a function name."""
    if name.startswith("wasm: "):
        for label, pattern in WASM_GROUPS:
            if re.search(pattern, name):
                return "wasm: " + label
        return "wasm: other"
    if name.startswith("(generated"):
        return "generated code without a name"
    if re.match(r"^(JS|LazyCompile|Function|Script):", name) or name.startswith("*"):
        return "JavaScript (glue, runtime modules), or wasm code the map names"
    if name.startswith(("Builtin:", "Builtins_", "BytecodeHandler:", "Stub:", "RegExp:")):
        return "V8 builtins"
    if name.startswith(("v8::internal::Heap", "v8::internal::Scavenger", "v8::internal::MarkCompact", "v8::internal::GC")):
        return "V8 garbage collector"
    if name.startswith("v8::"):
        return "V8 (C++)"
    if name.startswith("tcmalloc::") or name in ("malloc", "free", "operator new(unsigned long)", "operator delete(void*)"):
        return "malloc (tcmalloc)"
    if name.startswith(("kj::", "capnp::")):
        return "kj / capnp (I/O, HTTP)"
    if name.startswith("workerd::"):
        return "workerd (C++)"
    return "other (libc, simdutf, ...)"


def main():
    dirs = sys.argv[1:]
    if not 1 <= len(dirs) <= 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    top = int(os.environ.get("TOP", "40"))
    per, per_calls, per_edges = [], [], []
    for d in dirs:
        n = requests(d)
        costs, calls, edges = self_costs(d)
        per.append({k: v / n for k, v in costs.items()})
        per_calls.append({k: v / n for k, v in calls.items()})
        per_edges.append({k: v / n for k, v in edges.items()})
    label = [os.path.basename(d.rstrip("/")) for d in dirs]
    for d, p in zip(label, per):
        print(f"{d}: {sum(p.values()) / 1000:.1f} k {EVENT} per request")
    groups = [defaultdict(float) for _ in per]
    for g, p in zip(groups, per):
        for k, v in p.items():
            g[group(k)] += v
    keys = sorted(set().union(*groups), key=lambda k: -abs(groups[0][k] - (groups[1][k] if len(groups) > 1 else 0)))
    print(f"\nby group, k {EVENT} per request:", "  ".join(label), " A - B" if len(per) > 1 else "")
    for k in keys:
        vals = [g[k] / 1000 for g in groups]
        diff = f"{vals[0] - vals[1]:9.1f}" if len(vals) > 1 else ""
        print(" ".join(f"{v:9.1f}" for v in vals), diff, " ", k)
    calls_of = os.environ.get("CALLS")
    if calls_of:
        # Calls per request into the functions whose names match, with their self instructions
        # per call (e.g. CALLS='memory_copy_wrapper|Talc<S,B>::allocate').
        print(f"\ncalls per request into functions matching {calls_of!r}, and self {EVENT} per call:")
        for k in sorted({k for c in per_calls for k in c if re.search(calls_of, k)}):
            cells = [f"{c.get(k, 0):9.1f} {p.get(k, 0) / c[k] if c.get(k) else 0:7.1f}" for p, c in zip(per, per_calls)]
            print("  ".join(cells), " ", k[:120])
    callers_of = os.environ.get("CALLERS")
    if callers_of:
        print_callers(callers_of, int(os.environ.get("DEPTH", "1")), label, per_edges)
    if os.environ.get("GROUPS_ONLY") == "1":
        return
    names = set().union(*per)
    key = (lambda k: -abs(per[0].get(k, 0) - per[1].get(k, 0))) if len(per) > 1 else (lambda k: -per[0].get(k, 0))
    print(f"\nthe {top} functions whose self {EVENT} {'differ' if len(per) > 1 else 'are'} most (k per request):")
    for k in sorted(names, key=key)[:top]:
        vals = [p.get(k, 0) / 1000 for p in per]
        diff = f"{vals[0] - vals[1]:9.2f}" if len(vals) > 1 else ""
        print(" ".join(f"{v:9.2f}" for v in vals), diff, " ", k[:140])


def print_callers(pattern, depth, label, per_edges):
    """Calls per request into the functions matching `pattern`, by caller, then the callers'
    callers to `depth` levels. Callgrind keeps one level of the call graph, so a deeper level
    shares a caller's calls out among its callers by how often each called it (exact when a
    function has one caller, an estimate otherwise). A caller is the function whose code made
    the call, after inlining: TurboFan's for wasm, so an inlined caller is reported as the function
    it was inlined into."""
    for col, edges in zip(label, per_edges):
        into = defaultdict(lambda: defaultdict(float))  # callee -> caller -> calls per request
        for (caller, callee), v in edges.items():
            into[callee][caller] += v
        print(f"\n{col}: calls per request into functions matching {pattern!r}, by caller:")

        def walk(fn, share, level):
            callers = into.get(fn, {})
            total = sum(callers.values())
            for caller, v in sorted(callers.items(), key=lambda kv: -kv[1]):
                calls = share * v / total if total else 0
                if calls < 0.05:
                    continue
                print(f"{'  ' * level}{calls:9.1f}  {caller[:140]}")
                if level < depth and caller != fn:
                    walk(caller, calls, level + 1)

        for target in sorted({c for (_, c) in edges if re.search(pattern, c)}):
            total = sum(into[target].values())
            print(f"{total:9.1f}  {target[:140]}")
            walk(target, total, 1)


if __name__ == "__main__":
    main()
