"""The closed loop itself: epochs, logging, outputs and :func:`run_closed_loop` (see :mod:`dientine.loop`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pyarrow as pa

from dientine.loop.common import (
    DEFAULT_DECISION_EVERY_S,
    NOOP_ACTION,
    LoopError,
    LoopStats,
    PendingWindow,
    jsonable,
    load_table,
    threshold_book,
)
from dientine.loop.energy import EnergyMixin
from dientine.loop.inputs import InputsMixin
from dientine.loop.power import PowerMixin
from dientine.loop.predict import PlanPredictor
from dientine.loop.protection import ProtectionMixin
from dientine.loop.shadow import AllOnShadow
from dientine.loop.tilt import TiltMixin
from dientine.outcomes import asleep_mask, neighbour_mask, overshoot_pct, saved_energy_kwh
from dientine.scenario import LoopSettings, Scenario, load_scenario
from dientine.sim import Simulation
from dientine.sim_output import plot_timeseries, write_parquet, write_summary


@numba.njit(cache=True)
def _qos_sums(active, full_buffer, demand, serving, rate, rate_ref, out_dem, out_short, out_diff):
    """One pass over the users with a finite demand > 0 (the QoS measure's users): per serving cell (-1: none)
    their demand (``out_dem``) and shortfall ``max(d - rate, 0)`` (``out_short``); with ``rate_ref`` (the
    all-on rates; the cells are then the all-on run's servers) ``out_diff`` gets the shortfall minus the all-on
    shortfall. Returns the total demand, the demand of users without a server, and, with ``rate_ref``, the sum
    of the differences (all users) and the total all-on shortfall."""
    tot = 0.0
    unassigned = 0.0
    diff_sum = 0.0
    short_ref_sum = 0.0
    with_ref = rate_ref.shape[0] > 0
    for u in range(serving.shape[0]):
        d = demand[u]
        if not active[u] or full_buffer[u] or not (d > 0.0) or not np.isfinite(d):
            continue
        tot += d
        short = max(d - rate[u], 0.0)
        s = serving[u]
        if with_ref:
            short_ref = max(d - rate_ref[u], 0.0)
            diff = short - short_ref
            diff_sum += diff
            short_ref_sum += short_ref
            if s >= 0:
                out_diff[s] += diff
        if s < 0:
            unassigned += d
            continue
        out_dem[s] += d
        out_short[s] += short
    return tot, unassigned, diff_sum, short_ref_sum


class ClosedLoop(InputsMixin, EnergyMixin, PowerMixin, ProtectionMixin, TiltMixin):
    """A simulation with the decision loop (see :mod:`dientine.loop`). ``shadow_overlap``: run the all-on
    shadow's passes in a worker thread overlapped with the tick (None: when two CPUs are available; the results
    are the same either way, :mod:`dientine.loop.shadow`)."""

    def __init__(self, scenario: Scenario, *, seed: int | None = None, parallel: bool | None = None,
                 shadow_overlap: bool | None = None):
        if scenario.clock is None:
            raise LoopError("clock: the closed loop needs a scenario with a 'clock' section")
        self.scenario = scenario
        self.settings = scenario.loop or LoopSettings()
        self.sim = Simulation(scenario, seed=seed, parallel=parallel)
        tw = self.sim.twin
        for i, c in enumerate(self.settings.coverage_cells):
            if not 0 <= c < tw.n_cells:
                raise LoopError(f"loop.coverage_cells[{i}]: expected a cell index in [0, {tw.n_cells - 1}], "
                                f"found {c}")
        self.tables = {name: load_table(name) for name in scenario.decisions}
        self.book = threshold_book(self.tables, self.settings)
        every = scenario.clock.decision_every or DEFAULT_DECISION_EVERY_S
        self.ticks_per_epoch = max(1, int(round(every / self.sim.tick_s)))
        window = self.settings.outcome_window or self.ticks_per_epoch * self.sim.tick_s
        self.window_ticks = max(1, int(round(window / self.sim.tick_s)))
        self.coverage = np.zeros(tw.n_cells, bool)
        self.coverage[list(self.settings.coverage_cells)] = True
        self.p_idle_w = np.asarray(tw.bs.power_table.p_idle_w, dtype=np.float64)
        self._neighbours = neighbour_mask(tw.topk_cell, tw.n_cells)
        self.log: list[dict[str, Any]] = []
        self.threshold_log: list[dict[str, Any]] = [
            {"time_s": 0.0, "name": n, "value": float(v), "version": 0, "reason": "initial value", "slack": None,
             "benefit": None, "window": ""} for n, v in self.book.values.items()]
        self.stats = LoopStats()
        self.outcome_log: list[dict[str, Any]] = []
        self._pending: list[PendingWindow] = []
        self._cell_rows: list[dict[str, np.ndarray]] = []
        self._net_rows: list[dict[str, float]] = []
        self._saved_kwh = 0.0
        self._tx_nominal_dbm = tw.cells.tx_power_dbm.copy()
        self._protect_off = np.zeros(tw.n_cells, bool)
        self._sleep_hold = np.zeros(tw.n_cells, np.int64)  # tick until which the QoS guard keeps a cell awake
        self._protect_backoff = np.zeros(tw.n_cells, bool)
        self._incumbent_gain_builds = -1
        self._incumbent_gain_db: np.ndarray | None = None
        self._epoch = 0
        self._qos_ref: tuple[dict[str, np.ndarray], dict[str, float]] | None = None
        self._plan_level: float | None = None
        self._plan_free: np.ndarray | None = None
        self._threshold_names: dict[int, list[str]] = {}
        #: same-tick all-cells-on counterfactual of the QoS measure (dientine.loop.shadow)
        self.shadow = AllOnShadow(self.sim, overlap=shadow_overlap)
        self._no_ref = np.zeros(0)  # "no all-on rates" for _qos_sums
        self._predictor = PlanPredictor(self.sim, self.shadow, self._neighbours)
        #: safety margin of the sleep plan's demand (>= 1), raised by windows over the QoS target
        self._plan_margin = 1.0
        #: share of the QoS target a predicted plan may use (learned from the windows, dientine.loop.energy)
        self._predict_share = self.settings.guard.predict_target_share
        #: measured / predicted loss of transition ticks (>= 1) and the prediction of the plan just applied
        self._transition_factor = 1.0
        self._pending_transition: float | None = None

    def _solve(self, problem: Any, *, time_limit_s: float | None = None, **kwargs: Any) -> tuple[Any, float, str]:
        """``solvers.solve`` with the loop's time limit (unless given), counted in the stats (calls, wall time);
        returns the solution, the seconds it took and its status as text."""
        from solvers import solve  # noqa: PLC0415

        limit = self.settings.solver_time_limit_s if time_limit_s is None else time_limit_s
        t0 = time.perf_counter()
        sol = solve(problem, time_limit_s=limit, **kwargs)
        took = time.perf_counter() - t0
        self.stats.solver_s += took
        self.stats.solver_calls += 1
        return sol, took, str(getattr(sol.status, "value", sol.status))

    def _set_state(self, cell: int, state: str) -> None:
        """A cell-state change of the energy-saving policy (the shadow counts the cell as on)."""
        self.shadow.mark([cell])
        self.sim.set_cell_state(cell, state)

    @property
    def energy_saved_kwh(self) -> float:
        """Energy saved so far (EARTH counterfactual of :mod:`dientine.outcomes`), kWh."""
        return self._saved_kwh

    def step(self) -> None:
        sim = self.sim
        if self.scenario.incumbents:
            if "incumbent_protection" in self.tables:
                self._protect()
            self._count_violations()
        if sim.tick > 0 and sim.tick % self.ticks_per_epoch == 0:
            self.decide()
        self.shadow.before_step()
        # the tick before a decision gathers the users' top-K rows for the QoS predictor's passes
        self._predictor.gather((sim.tick + 1) % self.ticks_per_epoch == 0)
        # the state each cell is in for this tick (a sleep entered or a wake made milliseconds into it counts
        # from the tick start; the KPI row's "state" is the state at the tick start): the energy counterfactual's
        tick_state = sim.twin.bs.tick_state().astype(np.int64)
        sim.step()
        t0 = time.perf_counter()
        cell, net = dict(sim.kpi.latest_cell()), dict(sim.kpi.latest_network())
        cell["tick_state"] = tick_state
        # what does not need the all-on shadow first (its pass may still be running in the worker thread)
        self._add_qos_columns(cell, net)
        self._saved_kwh += saved_energy_kwh(tick_state, cell["energy_kwh"], self.p_idle_w, sim.tick_s)
        self.stats.max_cells_asleep = max(self.stats.max_cells_asleep, int(asleep_mask(tick_state).sum()))
        ran = self.shadow.after_step(cell)
        self._add_all_on_columns(cell, net, ran)
        self._cell_rows.append(cell)
        self._net_rows.append(net)
        self._tick_guard(cell)
        self._close_outcomes()
        # loop.all_on_shadow: 'exact' keeps the all-on run going until the real run has caught up with it, as
        # long as the policy can still start a sleep before the run ends; 'sleep_window' through the policy's
        # sleep window only (a later start is then exact only if the run had caught up)
        self.shadow.maybe_stop(keep=bool(self._pending) or self._in_sleep_window(),
                               until_caught_up=self.settings.all_on_shadow == "exact"
                               and self._sleep_possible_before_end())
        self.stats.tick_s += time.perf_counter() - t0

    def _add_qos_columns(self, cell: dict[str, Any], net: dict[str, Any]) -> None:
        """The QoS measure of the outcomes (:mod:`dientine.outcomes`): demand and shortfall of the users with a
        finite demand (full-buffer users take whatever is left, their "demand" is no QoS target), per serving
        cell (``qos_demand_mbps``, ``qos_unsatisfied_mbps``) and, for the network, that demand and the part of
        it from users no cell serves (``qos_demand_mbps``, ``qos_unassigned_mbps``)."""
        sim = self.sim
        u = sim.twin.users
        n = u.n
        n_cells = sim.twin.n_cells
        dem, short = np.zeros(n_cells), np.zeros(n_cells)
        tot, unassigned, _, _ = _qos_sums(u.active[:n], u.full_buffer[:n], u.demand_mbps[:n], u.ho.serving_cell[:n],
                                          sim.rate_mbps[:n], self._no_ref, dem, short, self._no_ref)
        cell["qos_demand_mbps"] = dem
        cell["qos_unsatisfied_mbps"] = short
        net["qos_demand_mbps"] = tot
        net["qos_unassigned_mbps"] = unassigned
        sensing = sim.sensing
        if sensing is not None:  # intruders seen so far that no track has confirmed yet
            net["intruders_undetected"] = len(sensing.kpi.intruders) - len(sensing.kpi.detected)

    def _add_all_on_columns(self, cell: dict[str, Any], net: dict[str, Any], ran: bool) -> None:
        """The same-tick all-cells-on comparison of the finite-demand users (:mod:`dientine.loop.shadow`,
        :func:`dientine.outcomes.paired_loss`): per cell ``allon_demand_mbps`` (demand by the cell that would
        have served it), ``allon_loss_mbps`` (shortfall had minus shortfall with every cell on, by that cell),
        ``allon_off`` (cells the policy kept from serving); for the network ``allon_loss_mbps`` (all users, also
        those no cell would have served), ``allon_unsatisfied_mbps`` and ``allon_rate_p5_mbps``. Without the
        shadow this tick the run *is* the all-on run: no loss."""
        sim = self.sim
        n_cells = sim.twin.n_cells
        if not ran:
            cell["allon_demand_mbps"] = cell["qos_demand_mbps"]
            cell["allon_loss_mbps"] = np.zeros(n_cells)
            cell["allon_off"] = np.zeros(n_cells, bool)
            net["allon_loss_mbps"] = 0.0
            net["allon_unsatisfied_mbps"] = float(cell["qos_unsatisfied_mbps"].sum()) + net["qos_unassigned_mbps"]
            net["allon_rate_p5_mbps"] = float(net["rate_p5_mbps"])
            return
        t0 = time.perf_counter()
        sh = self.shadow
        u = sim.twin.users
        n = u.n
        dem, short, diff = np.zeros(n_cells), np.zeros(n_cells), np.zeros(n_cells)
        _, _, diff_sum, short_ref = _qos_sums(u.active[:n], u.full_buffer[:n], u.demand_mbps[:n],
                                              sh.ho.serving_cell[:n], sim.rate_mbps[:n], sh.rate_mbps[:n], dem,
                                              short, diff)
        cell["allon_demand_mbps"] = dem
        cell["allon_loss_mbps"] = diff
        cell["allon_off"] = sh.off.copy()
        net["allon_loss_mbps"] = diff_sum
        net["allon_unsatisfied_mbps"] = short_ref
        net["allon_rate_p5_mbps"] = sh.rate_p5_mbps()
        sh.time_s += time.perf_counter() - t0

    def run(self, progress: bool = False) -> ClosedLoop:
        sim = self.sim
        t0 = time.perf_counter()
        todo = sim.n_ticks - sim.tick
        if progress and todo > 0:
            from rich.progress import Progress  # noqa: PLC0415  (only for interactive runs)

            with Progress(transient=True) as bar:
                task = bar.add_task(f"closed loop {self.scenario.name}", total=todo)
                while sim.tick < sim.n_ticks:
                    self.step()
                    bar.advance(task)
        else:
            while sim.tick < sim.n_ticks:
                self.step()
        sim.wall_time_s += time.perf_counter() - t0
        return self

    def decide(self) -> list[dict[str, Any]]:
        """Evaluate every (non-protection) table over the current KPI table and apply the results; returns the
        log records of this epoch."""
        t0 = time.perf_counter()
        sim = self.sim
        kpi = sim.twin.telemetry_overlay(sim.cell_kpi_table())  # measured KPIs in force (dientine.twin telemetry)
        records: list[dict[str, Any]] = []
        for name, model in self.tables.items():
            if name == "incumbent_protection":
                continue
            cols, rows = self._columns(name, kpi)
            if rows is None or len(rows) == 0:
                continue
            t1 = time.perf_counter()
            res = model.evaluate_batch(cols, name)
            self.stats.table_s += time.perf_counter() - t1
            self.stats.rows_evaluated += len(rows)
            action = self._action_column(res)
            recs = self._records(name, model, res, action, cols, rows)
            if name == "energy_saving":
                self._apply_energy(action, kpi, recs)
            elif name == "power_adjustment":
                self._apply_power(action, recs)
            elif name == "coverage_tilt":
                self._apply_tilt(res, action, cols, recs)
            elif name == "drone_response":
                self.stats.drone_alerts += int(np.isin(action, ("alert", "hand_to_authorities")).sum())
            records += recs
        ms = (time.perf_counter() - t0) * 1e3
        for r in records:
            r["decide_ms"] = ms
        self.stats.decide_ms.append(ms)
        self.log += records
        self._epoch += 1
        return records

    @staticmethod
    def _action_column(res) -> np.ndarray:
        arr = res.outputs.get("action")
        if arr is None:  # single-output table keyed by the decision name
            arr = res.outputs[res.decision]
        return np.array([("" if v is None else str(v)) for v in arr], dtype=object)

    def _records(self, table: str, model, res, action: np.ndarray, cols: dict[str, Any],
                 rows: np.ndarray) -> list[dict[str, Any]]:
        noop = NOOP_ACTION.get(table, "")
        dt = model.definitions.decisions
        rules = next((d.logic.rules for d in dt if d.name == table and hasattr(d.logic, "rules")), [])
        out = []
        sim = self.sim
        for i in np.flatnonzero(action != noop):
            k = int(res.rule[i])
            rule = rules[k - 1] if 0 < k <= len(rules) else None
            inputs = {n: jsonable(v[i] if isinstance(v, np.ndarray) else v) for n, v in cols.items()}
            out.append({
                "time_s": float(sim.time_s), "tick": int(sim.tick), "epoch": self._epoch, "table": table,
                "row": int(rows[i]), "rule": k, "rule_id": rule.id if rule else "",
                "reason": (rule.annotations[0] if rule and rule.annotations else ""),
                "inputs": json.dumps(inputs, sort_keys=True), "action": str(action[i]), "applied": False,
                "solver": "", "solver_status": "", "solver_objective": None, "solver_time_s": None,
                "decide_ms": None,
            })
            self.stats.recommended += 1
        return out

    def _blank_record(self, table: str) -> dict[str, Any]:
        return {"time_s": float(self.sim.time_s), "tick": int(self.sim.tick), "epoch": self._epoch, "table": table,
                "decide_ms": None}

    def decisions_table(self) -> pa.Table:
        cols = ["time_s", "tick", "epoch", "table", "row", "rule", "rule_id", "reason", "inputs", "action",
                "applied", "solver", "solver_status", "solver_objective", "solver_time_s", "decide_ms"]
        types = [pa.float64(), pa.int64(), pa.int64(), pa.string(), pa.int64(), pa.int64(), pa.string(),
                 pa.string(), pa.string(), pa.string(), pa.bool_(), pa.string(), pa.string(), pa.float64(),
                 pa.float64(), pa.float64()]
        return pa.table({c: pa.array([r.get(c) for r in self.log], type=t) for c, t in zip(cols, types, strict=True)})

    def thresholds_table(self) -> pa.Table:
        cols = {"time_s": pa.float64(), "name": pa.string(), "value": pa.float64(), "version": pa.int64(),
                "reason": pa.string(), "slack": pa.float64(), "benefit": pa.float64(), "window": pa.string()}
        return pa.table({c: pa.array([r.get(c) for r in self.threshold_log], type=t) for c, t in cols.items()})

    def outcomes_table(self) -> pa.Table:
        """One row per closed outcome window (energy saved, QoS lost, 5th-percentile rate change, missed
        detections; see :func:`dientine.outcomes.measure_window`)."""
        cols = ["time_s", "time_to_s", "energy_saved_kwh", "expected_saving_kwh", "qos_lost_pct", "qos_target_pct",
                "affected_unsatisfied_pct", "reference_unsatisfied_pct", "control_drift_pct", "unassigned_pct",
                "rate_p5_mbps", "rate_p5_change_mbps", "detections_missed", "sleeping_cell_ticks",
                "qos_lost_all_on_pct", "network_lost_all_on_pct", "rate_p5_all_on_mbps", "plan_margin",
                "all_on_exact"]
        types = {"detections_missed": pa.int64(), "sleeping_cell_ticks": pa.int64(), "all_on_exact": pa.bool_()}
        return pa.table({c: pa.array([r[c] for r in self.outcome_log], type=types.get(c, pa.float64()))
                         for c in cols})

    def summary(self) -> dict[str, Any]:
        """The simulation's summary plus the loop's KPIs (see module docstring for the energy reference)."""
        sim = self.sim
        out: dict[str, Any] = dict(sim.summary())
        st = self.stats
        energy = float(out["energy_kwh"])
        all_on_est = energy + self._saved_kwh
        out.update({
            "energy_saved_kwh": self._saved_kwh,
            "energy_all_on_kwh": all_on_est,
            "energy_saved_pct": 100.0 * self._saved_kwh / all_on_est if all_on_est > 0 else 0.0,
            "energy_reference": "earth_counterfactual",
            "n_decisions": st.recommended,
            "n_actions_applied": st.applied,
            "adoption_rate": st.applied / st.recommended if st.recommended else 1.0,
            "rows_evaluated": st.rows_evaluated,
            "decision_epochs": len(st.decide_ms),
            "decide_time_ms_p50": float(np.percentile(st.decide_ms, 50)) if st.decide_ms else 0.0,
            "decide_time_ms_p99": float(np.percentile(st.decide_ms, 99)) if st.decide_ms else 0.0,
            "solver_calls": st.solver_calls,
            "solver_failures": st.solver_failures,
            "sleep_plans_kept": st.plans_kept,
            "tilt_solver_calls": st.tilt_calls,
            "sleep_plans_rejected": st.plans_rejected,
            "qos_guard_wakes": st.guard_wakes,
            "outcome_windows": st.outcome_windows,
            "qos_violations": st.qos_violations,
            "outcome_qos_lost_pct_max": max((r["qos_lost_pct"] for r in self.outcome_log), default=0.0),
            "overshoot_pct": overshoot_pct([r["qos_lost_pct"] for r in self.outcome_log],
                                           self.settings.qos.unsatisfied_demand_pct),
            "all_on_shadow_ticks": self.shadow.ticks,
            "all_on_shadow_exact": self.shadow.exact,
            # the wall time the shadow added to the loop's own thread; its passes' wall and CPU time, in the worker
            # thread for the overlapped ticks (dientine.loop.shadow)
            "time_all_on_shadow_s": self.shadow.time_s,
            "time_all_on_shadow_pass_s": self.shadow.pass_s,
            "time_all_on_shadow_pass_cpu_s": self.shadow.pass_cpu_s,
            "all_on_shadow_overlapped": self.shadow.overlapped,
            "qos_predictions": st.predictions,
            "time_qos_prediction_s": self._predictor.time_s,
            "outcome_rate_p5_change_mbps_mean": (float(np.mean([r["rate_p5_change_mbps"] for r in self.outcome_log]))
                                                 if self.outcome_log else 0.0),
            "outcome_detections_missed_max": max((r["detections_missed"] for r in self.outcome_log), default=0),
            "recommendation_quality": (st.measured_saving_kwh / st.expected_saving_kwh
                                       if st.expected_saving_kwh > 0 else None),
            "cells_switchable_pct": 100.0 * st.max_cells_asleep / sim.twin.n_cells,
            "threshold_changes": sum(1 for r in self.threshold_log if r["version"] > 0),
            "protection_violations": st.protection_violations,
            "protection_checks": st.protection_checks,
            "drone_alerts": st.drone_alerts,
            "time_tables_s": st.table_s,
            "time_solvers_s": st.solver_s,
            "time_protection_s": st.protection_s,
            "time_decide_s": float(np.sum(st.decide_ms)) / 1e3,
            "time_loop_per_tick_s": st.tick_s,
        })
        if sim.sensing is not None:
            s = sim.sensing.kpi.summary()
            out["intruders_detected"] = int(s["intruders_detected"])
            out["intruders_missed"] = int(s["intruders_missed"])
        else:
            out["intruders_detected"] = 0
            out["intruders_missed"] = int(out.get("intruders", 0))
        for name, value in self.book.values.items():
            out[f"final_{name}"] = float(value)
        return out


def _all_on_reference(scenario: Scenario, seed: int) -> dict[str, Any]:
    ref = scenario.model_copy(update={"decisions": [], "loop": None})
    sim = Simulation(ref, seed=seed)
    sim.run()
    return sim.summary()


def run_closed_loop(scenario: str | Path | Scenario, out_dir: str | Path, *, progress: bool = False,
                    seed: int | None = None) -> dict[str, Any]:
    """Run a scenario with ``decisions:`` through the closed loop; write ``kpis_cell.parquet``,
    ``kpis_network.parquet``, ``timeseries.png``, ``decisions.parquet``, ``thresholds.parquet``,
    ``outcomes.parquet`` and ``summary.json`` into ``out_dir``; return the summary."""
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    loop = ClosedLoop(sc, seed=seed)
    loop.run(progress=progress)
    summary = loop.summary()
    settings = loop.settings
    if settings.compare_all_on:
        ref = _all_on_reference(sc, loop.sim.seed_value)
        e_ref = float(ref["energy_kwh"])
        summary.update({
            "energy_all_on_kwh": e_ref,
            "energy_saved_kwh": e_ref - float(summary["energy_kwh"]),
            "energy_saved_pct": 100.0 * (e_ref - float(summary["energy_kwh"])) / e_ref if e_ref > 0 else 0.0,
            "energy_reference": "all_on_run",
            "unsatisfied_demand_pct_all_on": float(ref["unsatisfied_demand_pct"]),
            "qos_loss_pct": float(summary["unsatisfied_demand_pct"]) - float(ref["unsatisfied_demand_pct"]),
        })
    sim = loop.sim
    write_parquet(sim.kpis_cell, out / "kpis_cell.parquet")
    write_parquet(sim.kpis_network, out / "kpis_network.parquet")
    write_parquet(loop.decisions_table(), out / "decisions.parquet")
    write_parquet(loop.thresholds_table(), out / "thresholds.parquet")
    write_parquet(loop.outcomes_table(), out / "outcomes.parquet")
    marks = [(sim.twin.event_hour(ev), f"{ev.kind} {ev.event.at}") for ev in sim.twin.events]
    plot_timeseries(sim.kpis_network, out / "timeseries.png", title=f"{sc.name} (seed {sim.seed_value}, loop)",
                    event_marks=marks)
    write_summary(out / "summary.json", scenario=sc.name, seed=sim.seed_value,
                  summary={k: jsonable(v) for k, v in summary.items()}, wall_time_s=time.perf_counter() - t0,
                  extra={"decisions": list(sc.decisions), "thresholds": dict(loop.book.values)})
    return summary

