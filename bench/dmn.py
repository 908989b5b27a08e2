"""DMN engine benchmark: batch vs row-by-row evaluation, and single-call latency.

* 50-rule, 4-input FIRST table (intervals, lists, comparisons, string lists, not(...)), evaluated over 1k,
  100k and 1M rows in batch mode: rows/s and rule tests/s, counted as rows x rules x inputs / time (the work a
  full evaluation of the table stands for; the batch engine codes each column into cells once and ANDs per-cell
  rule bitsets, so it does not perform that many comparisons one by one).
* The same rows through row-by-row ``model.evaluate`` on a 10k-row subset (per-row rate; the ratio uses it).
* Median latency of one ``evaluate`` call on a 20-rule, 3-input table; baseline: a hand-written Python
  if-chain over the same rules on floats (no FEEL semantics), measured in the same run.

Targets (issue 4, 2 cores): >= 1e7 rule tests/s in batch, >= 50x the row path, <= 50 us per single call.
Run: .venv/bin/python bench/dmn.py [--quick]
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np
import yaml

import decisions

KINDS = ["macro", "small", "pico", "femto"]


COLUMNS = {  # name -> (kind, upper bound)
    "load": ("num", 100.0), "headroom": ("num", 1.0), "kind": ("str", 0.0), "hour": ("hour", 24.0)}


def make_rules(rng: np.random.Generator, n_rules: int, names: list[str]) -> list[list[str]]:
    rules = []
    for j in range(n_rules - 1):
        row = []
        for name in names:
            kind, hi = COLUMNS[name]
            choice = rng.integers(0, 5)
            if kind == "str":
                row.append(['"macro"', '"small", "pico"', 'not("femto")', "-", '"femto"'][choice])
                continue
            if rng.random() < 0.15:
                row.append("-")
                continue
            a, b = sorted(np.round(rng.uniform(0, hi, 2), 2))
            if kind == "hour":
                a, b = int(a), int(b) + 1
            row.append([f"< {b}", f"[{a}..{b}]", f"({a}..{b}]", f">= {a}", f"{a}, {b}, {round(hi / 2, 2)}"][choice])
        rules.append(row + [f'"action_{j + 1}"'])
    rules.append(["-"] * len(names) + ['"default"'])
    return rules


def model(n_rules: int, names: list[str], seed: int) -> decisions.DecisionModel:
    rng = np.random.default_rng(seed)
    spec = {"name": "bench", "decisions": [{"name": "d", "table": {
        "hit_policy": "FIRST",
        "inputs": [{"expression": n, "type": "string" if COLUMNS[n][0] == "str" else "number"} for n in names],
        "outputs": [{"name": "action", "type": "string"}],
        "rules": make_rules(rng, n_rules, names)}}]}
    return decisions.loads(yaml.safe_dump(spec), format="yaml")


def columns(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"load": np.round(rng.uniform(0, 100, n), 2), "headroom": np.round(rng.uniform(0, 1, n), 3),
            "kind": np.array(KINDS, dtype=object)[rng.integers(0, 4, n)],
            "hour": rng.integers(0, 24, n).astype(np.float64)}


def rows_of(cols: dict[str, np.ndarray], n: int) -> list[dict]:
    keys = list(cols)
    lists = [cols[k][:n].tolist() for k in keys]
    return [dict(zip(keys, vals, strict=True)) for vals in zip(*lists, strict=True)]


def timeit(fn, repeats: int) -> tuple[float, float]:
    """Median wall-clock and median CPU time (process_time) of ``repeats`` calls, after one untimed warm-up call."""
    fn()
    ts, cs = [], []
    for _ in range(repeats):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
        cs.append(time.process_time() - c0)
    return statistics.median(ts), statistics.median(cs)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    quick = "--quick" in sys.argv
    m = model(50, ["load", "headroom", "kind", "hour"], seed=1)
    sizes = [1_000, 100_000] if quick else [1_000, 100_000, 1_000_000]
    n_row = 2_000 if quick else 10_000
    big = columns(max(sizes), seed=2)
    # correctness on the row subset
    sub = {k: v[:n_row] for k, v in big.items()}
    rows = rows_of(big, n_row)
    b = m.evaluate_batch(sub, "d")
    for i in range(0, n_row, 97):
        assert b.result(i) == m.evaluate(rows[i], "d")["d"], i
    load_start = load_average()
    t_row, c_row = timeit(lambda: [m.evaluate(r, "d") for r in rows], 5)
    row_rate = n_row / t_row
    results = []
    tests_per_row = 50 * 4
    for n in sizes:
        cols = {k: v[:n] for k, v in big.items()}
        reps = 200 if n <= 10_000 else (20 if n < 1_000_000 else 7)  # short calls: more repeats
        t, c = timeit(lambda cols=cols: m.evaluate_batch(cols, "d"), reps)
        results.append((n, n / t, n * tests_per_row / t, n / c))
    # single-call latency on a 20-rule, 3-input table
    m20 = model(20, ["load", "headroom", "hour"], seed=3)
    c3 = columns(1000, seed=4)
    del c3["kind"]
    r3 = rows_of(c3, 1000)
    lat = []
    for i in range(20_000):
        x = r3[i % 1000]
        t0 = time.perf_counter_ns()
        m20.evaluate(x, "d")
        lat.append(time.perf_counter_ns() - t0)
    lat_us = statistics.median(lat) / 1000
    base = _baseline(m20)
    blat = []
    for i in range(20_000):
        x = r3[i % 1000]
        t0 = time.perf_counter_ns()
        base(x)
        blat.append(time.perf_counter_ns() - t0)
    base_us = statistics.median(blat) / 1000

    print("DMN engine benchmark (median of repeats; rows: FIRST table, 50 rules x 4 inputs)")
    print(f"load average (1/5/15 min) at start: {load_start}, at end: {load_average()}; {os.cpu_count()} CPUs")
    print(f"row-by-row evaluate on {n_row} rows: {row_rate:,.0f} rows/s ({1e6 / row_rate:.1f} us/row; "
          f"CPU time {n_row / c_row:,.0f} rows/s)")
    hdr = f"{'figure':44s} {'median':>14s} {'baseline':>14s} {'ratio':>9s} {'target':>12s} {'result':>6s}"
    print(hdr)
    print("-" * len(hdr))
    for n, rps, tps, cps in results:
        ratio = rps / row_rate
        print(f"{f'batch rows/s, {n:,} rows':44s} {rps:14,.0f} {row_rate:14,.0f} {ratio:8.1f}x {'>= 50x':>12s} "
              f"{'PASS' if ratio >= 50 else 'FAIL':>6s}")
        print(f"{f'batch rule tests/s, {n:,} rows':44s} {tps:14.3e} {row_rate * tests_per_row:14.3e} "
              f"{tps / (row_rate * tests_per_row):8.1f}x {'>= 1e7':>12s} {'PASS' if tps >= 1e7 else 'FAIL':>6s}")
        print(f"{f'  (CPU time: batch rows/s, {n:,} rows)':44s} {cps:14,.0f} {n_row / c_row:14,.0f} "
              f"{cps / (n_row / c_row):8.1f}x {'(info)':>12s}")
    print(f"{'single evaluate, 20 rules x 3 inputs (us)':44s} {lat_us:14.1f} {base_us:14.2f} "
          f"{lat_us / base_us:8.1f}x {'<= 50 us':>12s} {'PASS' if lat_us <= 50 else 'FAIL':>6s}")
    print("baseline of the single call: hand-written Python if-chain on floats (no FEEL semantics)")


def _baseline(m20: decisions.DecisionModel):
    """Plain-Python check of the same rules on floats (open/closed interval ends simplified to closed), as a
    same-run yardstick; it has none of FEEL's null / decimal semantics."""
    ct = m20._cm.compiled["d"]
    names = ct.input_names
    checks = []
    for r in ct.rules:
        tests = []
        for k, ut in enumerate(r.uts):
            t = ut.tests[0]
            from decisions.feel import ast as A

            if isinstance(t, A.UCompare):
                c = float(t.endpoint.value)
                op = t.op
                tests.append((names[k], {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__,
                                         ">=": float.__ge__}[op], c))
            elif isinstance(t, A.URange):
                lo, hi = float(t.lo.value), float(t.hi.value)
                tests.append((names[k], None, (lo, hi)))
            elif isinstance(t, A.UExpr):  # "a, b, c": membership
                vals = frozenset(float(u.expr.value) for u in ut.tests)
                tests.append((names[k], frozenset.__contains__, vals))
        checks.append((tests, r.outs[0].value))

    def run(x: dict):
        for tests, out in checks:
            for name, op, c in tests:
                v = x[name]
                if op is None:
                    if not c[0] <= v <= c[1]:
                        break
                elif op is frozenset.__contains__:
                    if v not in c:
                        break
                elif not op(v, c):
                    break
            else:
                return out
        return None
    return run


if __name__ == "__main__":
    main()
