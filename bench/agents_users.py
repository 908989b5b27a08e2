"""Benchmark: per-tick cost of the users' models (mobility + demand + handover) for 100k and 1M users.

Target (issue 3): a full tick <= ~100 ms per 100k users including radio etc.; the users' share should stay at
a few ms per 100k users -> target <= 5 ms per 100k for mobility + demand + handover.
Baseline, measured in the same run: a plain NumPy vectorised random-waypoint step (one leg per tick, no
pauses, no street grid) over the same arrays, i.e. the obvious array implementation without Numba.

Run: .venv/bin/python bench/agents_users.py
"""

from __future__ import annotations

import time

import numpy as np

from agents.catalog import load_catalog
from agents.users import Population

REPEATS = 7
TARGET_MS_PER_100K = 5.0


def numpy_rwp_step(x, y, tx, ty, v, dt, rng, area):
    dx, dy = tx - x, ty - y
    d = np.hypot(dx, dy)
    f = np.minimum(1.0, v * dt / np.maximum(d, 1e-12))
    x += dx * f
    y += dy * f
    arrived = f >= 1.0
    k = int(arrived.sum())
    tx[arrived] = area[0] + area[2] * rng.random(k)
    ty[arrived] = area[1] + area[3] * rng.random(k)


def median_ms(fn, repeats=REPEATS):
    """Median CPU time (process_time) per call in ms: on a shared machine wall time mostly measures waiting
    for a core; every kernel here runs on one thread below PARALLEL_THRESHOLD users."""
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append((time.process_time() - t0) * 1e3)
    return float(np.median(times))


def bench(n: int, dt: float, cat) -> tuple[float, float, dict]:
    area = (0.0, 0.0, 3000.0, 3000.0)
    groups = [("pedestrian", int(0.55 * n)), ("vehicle", int(0.2 * n)), ("indoor_stationary", int(0.15 * n)),
              ("iot_meter", int(0.05 * n)), ("xr_user", n - int(0.55 * n) - int(0.2 * n) - int(0.15 * n)
                                             - int(0.05 * n))]
    pop = Population.build(cat, groups, area, np.random.default_rng(1))
    rng = np.random.default_rng(2)
    n_cells = 57
    serving0 = rng.integers(0, n_cells, n).astype(np.int32)
    pop.users.ho.serving_cell[:] = serving0
    best = rng.integers(0, n_cells, n)
    rs = rng.normal(-90, 8, n)
    rb = rs + rng.normal(0, 4, n)
    # warm-up (compilation, caches)
    pop.step_mobility(dt, rng)
    pop.update_demand(0.0, dt, rng)
    pop.step_handover(rs, best, rb, 0.0, dt, n_cells=n_cells)
    t = {"t": 3600.0}

    def tick():
        pop.step_mobility(dt, rng)
        pop.update_demand(t["t"], dt, rng)
        pop.step_handover(rs, best, rb, t["t"], dt, n_cells=n_cells)
        t["t"] += dt

    parts = {
        "mobility": median_ms(lambda: pop.step_mobility(dt, rng)),
        "demand": median_ms(lambda: pop.update_demand(t["t"], dt, rng)),
        "handover": median_ms(lambda: pop.step_handover(rs, best, rb, t["t"], dt, n_cells=n_cells)),
    }
    ours = median_ms(tick)
    x, y = pop.users.x_m.copy(), pop.users.y_m.copy()
    tx, ty, v = pop.users.target_x_m.copy(), pop.users.target_y_m.copy(), pop.users.speed_mps.copy()
    base = median_ms(lambda: numpy_rwp_step(x, y, tx, ty, v, dt, rng, area))
    return ours, base, parts


def main() -> None:
    cat = load_catalog()
    rows = []
    for n in (100_000, 1_000_000):
        for dt in (1.0, 900.0):
            ours, base, parts = bench(n, dt, cat)
            per100k = ours * 100_000 / n
            rows.append((n, dt, ours, parts, base, per100k))
    print("times: median CPU ms (process_time) of", REPEATS, "repeats")
    print(f"{'figure':58s} {'median ms':>10s} {'baseline ms':>12s} {'ratio':>7s} {'target':>18s} result")
    for n, dt, ours, parts, base, per100k in rows:
        label = f"users tick (mob+demand+HO), n={n:,}, dt={dt:g}s"
        ok = "PASS" if per100k <= TARGET_MS_PER_100K else "FAIL"
        target = f"<= {TARGET_MS_PER_100K:.1f} ms/100k"
        print(f"{label:58s} {ours:10.2f} {base:12.2f} {ours / base:7.2f} "
              f"{target:>18s} {ok} ({per100k:.2f} ms/100k)")
        print(f"{'   parts: ' + ', '.join(f'{k} {v:.2f} ms' for k, v in parts.items()):58s}")
    print("baseline = NumPy vectorised one-leg random-waypoint step on the same arrays (no Numba)")


if __name__ == "__main__":
    main()
