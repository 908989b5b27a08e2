"""Benchmark: one simulated day of the city scenario with the closed loop on vs off.

Baseline: ``Simulation(city day, all cells on).run()``. Loop: ``ClosedLoop(city day + decisions:
[energy_saving]).run()`` with the same seed (``scenarios/city_day_energy.yaml``: baseline and variant).
Both are run ``REPEATS`` times after a warm-up (Numba and table compilation excluded), in pairs that alternate
which run goes first (the machine's speed drifts between runs); medians are reported, each pair's ratio, and the
breakdown of the loop run: radio, agents (users, drones,
power/wear, sensing), scheduling and KPIs as timed by the simulation (``Simulation.stage_s`` when present),
decision tables, solvers, the predictive QoS guard and the all-on shadow (:mod:`dientine.loop.shadow`) as timed
by the loop, and the process CPU time of each run (to tell a load-limited figure). Target (issue 6): the loop
adds less than 50 % to a day's simulation time on 2 cores.

Then the threshold-settling demo: the same city run for ``WEEK_DAYS`` simulated days with the energy-saving
policy adapting its thresholds (decisions.feedback); prints each threshold at the end of every day, the energy
saved per day (EARTH counterfactual), the outcome windows over the QoS target and the largest window loss per
day, and the size of the last day's changes (settled: the largest <= 5 % of a threshold's range). Over several days
the exact all-on shadow runs between the nights too (until the real run catches up with it), so the loop's cost
per day of a long run is measured as well: the week with and without the loop, ``WEEK_REPEATS`` pairs (the
settling run is the first; the later pairs alternate which run goes first, as the machine's speed drifts), medians
of wall and process CPU time and the ratio of each pair, same target as the one-day figure. The shadow's
passes run in a worker thread overlapped with the rest of the tick when the process may use two CPUs
(:mod:`dientine.loop.shadow`): with the other CPU busy (a shared machine), the wall figures approach the CPU ones.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dientine.loop import ClosedLoop  # noqa: E402
from dientine.scenario import load_variants  # noqa: E402
from dientine.sim import Simulation  # noqa: E402

SCENARIO = ROOT / "scenarios" / "city_day_energy.yaml"  # baseline = all cells on, variant energy_saving
REPEATS = 5
TARGET_OVERHEAD = 0.50
WEEK_DAYS = 7
WEEK_REPEATS = 5
AGENT_STAGES = ("users", "drones", "power_wear", "sensing")


def _stages(sim: Simulation) -> dict[str, float]:
    st = dict(getattr(sim, "stage_s", {}) or {})
    return {"radio": st.get("radio", float("nan")),
            "agents": sum(st.get(k, 0.0) for k in AGENT_STAGES) if st else float("nan"),
            "scheduling": st.get("scheduling", float("nan")), "kpis": st.get("kpis", float("nan"))}


def run_off(sc) -> tuple[float, dict[str, float], dict]:
    t0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
    sim = Simulation(sc)
    sim.run()
    parts = _stages(sim)
    parts["CPU time (process)"] = time.process_time() - c0
    parts["CPU time (main thread)"] = time.thread_time() - m0
    return time.perf_counter() - t0, parts, sim.summary()


def run_on(sc) -> tuple[float, dict[str, float], dict]:
    t0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
    lp = ClosedLoop(sc)
    lp.run()
    total = time.perf_counter() - t0
    return total, _loop_parts(lp, time.process_time() - c0, time.thread_time() - m0), lp.summary()


def _loop_parts(lp: ClosedLoop, cpu_s: float, main_cpu_s: float) -> dict[str, float]:
    """The loop run's breakdown: the simulation's stages, then the loop's parts (wall time of the loop's thread;
    the all-on shadow's passes run in a worker thread overlapped with the tick when two CPUs are free, so their
    own wall and CPU time are listed apart: not part of the sum)."""
    parts = _stages(lp.sim)
    parts["CPU time (process)"] = cpu_s
    # without the worker thread's: what the wall time approaches when a second CPU is free for the process
    parts["CPU time (main thread)"] = main_cpu_s
    st = lp.stats
    sh = lp.shadow
    decide = float(np.sum(st.decide_ms)) / 1e3
    pred = lp._predictor.time_s
    in_tick = sh.time_s - sh.prepare_s  # the shadow's share of the loop's per-tick work (after the tick)
    parts.update({"loop: tables": st.table_s, "loop: solvers": st.solver_s,
                  "loop: QoS prediction (in apply)": pred,
                  "loop: problems + apply (rest)": st.apply_s - pred,
                  "loop: rest of decide": decide - st.table_s - st.solver_s - st.apply_s,
                  "loop: all-on shadow, loop thread": sh.time_s,
                  "loop: per-tick (QoS, outcomes, rest)": st.tick_s - in_tick,
                  "  shadow passes, wall": sh.pass_s, "  shadow passes, CPU": sh.pass_cpu_s,
                  "  shadow: waited for the worker": sh.wait_s,
                  "  shadow: share of ticks overlapped": float(sh.overlapped) / max(sh.ticks, 1)})
    return parts


def main() -> int:
    load0 = os.getloadavg()
    variants = load_variants(SCENARIO)
    base, loop_sc = variants["baseline"], variants["energy_saving"]
    short = loop_sc.model_copy(update={"clock": loop_sc.clock.model_copy(update={"duration": 4 * 3600.0}),
                                       "events": []})
    ClosedLoop(short).run()  # warm-up: Numba caches, table compilation, solver imports
    Simulation(short).run()
    offs, ons, parts_off, parts_on, summ = [], [], [], [], None
    for i in range(REPEATS):  # pairs in alternating order (the machine's speed drifts between runs)
        for loop_on in ((False, True) if i % 2 == 0 else (True, False)):
            if loop_on:
                t, p, summ = run_on(loop_sc)
                ons.append(t)
                parts_on.append(p)
            else:
                t, p, summ_off = run_off(base)
                offs.append(t)
                parts_off.append(p)
    off, on = statistics.median(offs), statistics.median(ons)
    ratio = on / off
    day_pairs = [a / b for a, b in zip(ons, offs, strict=True)]
    print(f"closed loop on vs off, one simulated day of {base.name} ({REPEATS} repeats, medians); load average "
          f"before the runs {' '.join(f'{x:.2f}' for x in load0)}")
    print(f"{'figure':<34}{'median s':>10}{'baseline s':>12}{'ratio':>8}   target")
    print(f"{'day with loop (energy_saving)':<34}{on:>10.2f}{off:>12.2f}{ratio:>8.2f}   < {1 + TARGET_OVERHEAD:.2f}"
          f"  {'PASS' if ratio < 1 + TARGET_OVERHEAD else 'FAIL'}")
    keys = list(parts_on[0])
    for k in keys:
        m_on = statistics.median(p[k] for p in parts_on)
        m_off = statistics.median(p.get(k, float("nan")) for p in parts_off) if k in parts_off[0] else float("nan")
        r = m_on / m_off if np.isfinite(m_off) and m_off > 0 else float("nan")
        print(f"{'  ' + k:<34}{m_on:>10.3f}{m_off:>12.3f}{r:>8.2f}")
    print(f"loop KPIs: energy saved {summ['energy_saved_pct']:.1f} % (EARTH counterfactual), unsatisfied "
          f"{summ['unsatisfied_demand_pct']:.2f} %, decisions {summ['n_decisions']}, applied "
          f"{summ['n_actions_applied']}, solver calls {summ['solver_calls']}, decide p50/p99 "
          f"{summ['decide_time_ms_p50']:.1f}/{summ['decide_time_ms_p99']:.1f} ms, cells switchable "
          f"{summ['cells_switchable_pct']:.0f} %, sleep plans kept without a solve {summ['sleep_plans_kept']}, "
          f"rejected by the QoS gate {summ['sleep_plans_rejected']}")
    e_on, e_off = float(summ["energy_kwh"]), float(summ_off["energy_kwh"])
    print(f"what-if vs the same-seed all-on run: energy {e_off:.1f} -> {e_on:.1f} kWh "
          f"({100 * (e_on - e_off) / e_off:+.1f} %), unsatisfied demand {summ_off['unsatisfied_demand_pct']:.2f} -> "
          f"{summ['unsatisfied_demand_pct']:.2f} %, 5th-pct rate {summ_off.get('rate_p5_mbps', float('nan')):.3f} -> "
          f"{summ.get('rate_p5_mbps', float('nan')):.3f} Mbit/s; outcome windows over the QoS target "
          f"{summ['qos_violations']} of {summ['outcome_windows']} (overshoot_pct {summ['overshoot_pct']:.1f}, "
          f"largest window loss vs all-on {summ['outcome_qos_lost_pct_max']:.2f} pp); shadow ticks "
          f"{summ['all_on_shadow_ticks']}, QoS predictions {summ['qos_predictions']}")
    print(f"runs' wall times with loop {' '.join(f'{t:.2f}' for t in ons)} s, without "
          f"{' '.join(f'{t:.2f}' for t in offs)} s; ratio of each pair {' '.join(f'{r:.2f}' for r in day_pairs)} "
          f"(median {statistics.median(day_pairs):.2f})")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    # ------------------------------------------------------------------ a week: thresholds settle
    week = loop_sc.model_copy(update={"clock": loop_sc.clock.model_copy(update={"duration": WEEK_DAYS * 86400.0})})
    base_week = base.model_copy(update={"clock": base.clock.model_copy(update={"duration": WEEK_DAYS * 86400.0})})
    load_w0 = os.getloadavg()
    off_w = [run_off(base_week)]
    t0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
    lp = ClosedLoop(week)
    t_on_week = time.perf_counter() - t0  # as run_on: the twin's build counts, the daily printout not
    per_day = lp.sim.n_ticks // WEEK_DAYS
    names = sorted(n for n in lp.book.values)
    print(f"\nthreshold settling over {WEEK_DAYS} simulated days ({week.name}, energy_saving, feedback on)")
    print(f"{'day':<5}" + "".join(f"{n.removeprefix('threshold_'):>20}" for n in names)
          + f"{'saved %':>9}{'QoS lost>tgt':>13}{'max lost pp':>12}")
    prev_saved, prev_viol, prev_w = 0.0, 0, 0
    values = []
    for day in range(WEEK_DAYS):
        t_day = time.perf_counter()
        for _ in range(per_day):
            lp.step()
        t_on_week += time.perf_counter() - t_day
        saved = lp.energy_saved_kwh - prev_saved
        energy = float(lp.sim.kpis_network.column("energy_kwh").to_numpy()[day * per_day:].sum())
        prev_saved = lp.energy_saved_kwh
        viol = lp.stats.qos_violations - prev_viol
        prev_viol = lp.stats.qos_violations
        values.append([lp.book.values[n] for n in names])
        pct = 100.0 * saved / (energy + saved) if energy + saved > 0 else 0.0
        lost = max((r["qos_lost_pct"] for r in lp.outcome_log[prev_w:]), default=0.0)
        prev_w = len(lp.outcome_log)
        print(f"{day + 1:<5}" + "".join(f"{v:>20.3f}" for v in values[-1]) + f"{pct:>9.1f}{viol:>13d}{lost:>12.2f}")
    on_w = [(t_on_week, _loop_parts(lp, time.process_time() - c0, time.thread_time() - m0), lp.summary())]
    last = np.abs(np.array(values[-1]) - np.array(values[-2])) if len(values) > 1 else np.zeros(len(names))
    span = np.array([lp.book.specs[n].max - lp.book.specs[n].min for n in names])
    settled = bool(np.all(last <= 0.05 * span))
    print(f"last day's largest change: {np.max(last / span) * 100:.1f} % of a threshold's range "
          f"(settled if <= 5 %: {'PASS' if settled else 'FAIL'}); {lp.summary()['threshold_changes']} versioned "
          f"changes; week wall time {time.perf_counter() - t0:.1f} s")
    # over several days the exact all-on shadow runs between the nights too (dientine.loop.shadow): the loop's
    # cost per day of a long run (the settling run above is the first repeat)
    # pairs in alternating order (the machine's speed drifts between runs: each pair shares it)
    for i in range(WEEK_REPEATS - 1):
        if i % 2:
            off_w.append(run_off(base_week))
            on_w.append(run_on(week))
        else:
            on_w.append(run_on(week))
            off_w.append(run_off(base_week))
    w_on, w_off = statistics.median(r[0] for r in on_w), statistics.median(r[0] for r in off_w)
    ratio_w = w_on / w_off
    pair_ratios = [a[0] / b[0] for a, b in zip(on_w, off_w, strict=True)]
    print(f"\n{WEEK_DAYS}-day run, closed loop on vs off ({WEEK_REPEATS} repeats, medians; load average before "
          f"{' '.join(f'{x:.2f}' for x in load_w0)}, after {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    print(f"{'figure':<34}{'median s':>10}{'baseline s':>12}{'ratio':>8}   target")
    print(f"{'week with loop (per-day ratio)':<34}{w_on:>10.2f}{w_off:>12.2f}{ratio_w:>8.2f}   < "
          f"{1 + TARGET_OVERHEAD:.2f}  {'PASS' if ratio_w < 1 + TARGET_OVERHEAD else 'FAIL'}")
    for k in on_w[0][1]:
        m_on = statistics.median(r[1][k] for r in on_w)
        m_off = statistics.median(r[1].get(k, float("nan")) for r in off_w) if k in off_w[0][1] else float("nan")
        r = m_on / m_off if np.isfinite(m_off) and m_off > 0 else float("nan")
        print(f"{'  ' + k:<34}{m_on:>10.3f}{m_off:>12.3f}{r:>8.2f}")
    sh = lp.shadow
    print(f"shadow ticks {sh.ticks} of {lp.sim.n_ticks} ({sh.overlapped} overlapped with the tick in a worker thread), "
          f"all-on comparison exact: {sh.exact}; runs' wall times with loop "
          f"{' '.join(f'{r[0]:.2f}' for r in on_w)} s, without {' '.join(f'{r[0]:.2f}' for r in off_w)} s; "
          f"ratio of each pair {' '.join(f'{r:.2f}' for r in pair_ratios)} (median "
          f"{statistics.median(pair_ratios):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
