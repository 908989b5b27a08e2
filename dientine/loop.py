"""The closed loop: KPI table -> decision tables (batch) -> actions -> solvers -> twin changes -> outcomes ->
threshold feedback.

:class:`ClosedLoop` wraps a :class:`dientine.sim.Simulation`. At each *decision epoch* (every
``clock.decision_every``, default one hour -- the period of the sleep plan, REFERENCES.md §6.1; an assumption
when the scenario does not state it) it

1. builds the per-cell KPI table (:meth:`Simulation.cell_kpi_table`) and, for each table named in the
   scenario's ``decisions:``, the table's input columns (KPIs as arrays, thresholds as scalars from the
   :class:`decisions.feedback.ThresholdBook`), and evaluates the table over all rows at once
   (``model.evaluate_batch``);
2. turns the matched actions into twin changes, calling a solver when the action says so
   (``decisions/tables/README.md``):

   * ``energy_saving``: ``rru_sleep`` / ``rru_wake`` -> :mod:`solvers.rru_sleep` (one-period facility-location
     MILP built from the twin: demand points = users' pixels aggregated into blocks, spectral efficiency and
     received power from the twin's top-K gain cache with the current load-weighted interference, EARTH power
     of each cell from its equipment; the recommended cells and the cells already asleep are free, every
     other cell must stay on; demand scaled up to the diurnal profile's peak over the coming interval). The
     MILP decides which candidates really sleep (adoption) and wakes sleeping cells the coming demand needs.
     When no cell is free that the plan in force did not already consider, no wake is asked and the profile
     does not rise above the level that plan was made for, the plan stands without a solver call;
   * ``incumbent_protection`` (every tick, a safety function): ``vacate_channel`` -> the cell leaves the
     channel (``off``); ``reassign_channel`` -> :mod:`solvers.spectrum` (CP-SAT: which cells may keep the single
     channel with the aggregate at every active protection point <= threshold - margin; the others go off);
     ``reduce_power`` -> a closed-form uniform back-off of the contributing cells by the excess over
     (threshold - margin - early warning), capped by ``loop.max_power_backoff_db``. When no incumbent is
     active, cells the protection changed are restored;
   * ``drone_response`` (rows = the sensing tracks): ``track`` / ``alert`` / ``hand_to_authorities`` are logged
     (no twin change; alerts are counted);
   * ``power_adjustment``: ``power_up`` / ``power_down`` -> :mod:`solvers.power` (``min_power`` LP over the
     twin's gains at up to ``loop.max_demand_points`` users' pixels, fixed association, every receiver kept
     at SINR >= min(SINR_MIN, its SINR at the current powers) at full load): ``power_down`` cells may go down
     to ``loop.max_power_backoff_db`` below their nominal power, ``power_up`` cells return to nominal, the
     others stay fixed;
   * ``coverage_tilt``: evaluated and logged as recommendations (``overshoot_pct``, which the twin does not
     measure, is null); *not applied* (no builder from the twin to :mod:`solvers.tilt` yet), which the
     adoption rate shows;

3. logs every recommendation (every row whose action is not the table's no-op): time, table, row, matched rule
   (number, id, annotation), inputs, action, whether it was applied, solver kind / status / objective and the
   time the epoch took to decide;
4. opens an outcome window for the energy-saving thresholds when cells are asleep (or when none is although
   the hour lies in the range the sleep window may reach: no QoS lost, slack); when it closes (after
   ``loop.outcome_window``, default the decision interval) it measures the QoS lost in the affected area
   (difference-in-differences against a reference tick and the unaffected cells, :mod:`dientine.outcomes`)
   against ``loop.qos`` and the saved energy, and updates the thresholds of :data:`ADAPTED_THRESHOLDS` with
   :meth:`ThresholdBook.update` (bounded, step-limited, versioned with reason and evidence, revertible);
   every change is a row of ``thresholds.parquet``.

Energy reference of ``energy_saved_pct``: the EARTH counterfactual of :mod:`dientine.outcomes` (sleeping cells
at idle power), or -- with ``loop.compare_all_on: true`` -- a same-seed run of the scenario without decisions
(``energy_reference`` in the summary says which).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import yaml

import decisions
from agents.equipment import CellState
from decisions.feedback import Outcome, ThresholdBook
from dientine.outcomes import SLEEP_STATES, measure_window, neighbour_mask, saved_energy_kwh
from dientine.radio.link import spectral_efficiency_bps_hz
from dientine.radio.maps import gain_map_dense
from dientine.radio.network_arrays import PointArrays
from dientine.scenario import LoopSettings, Scenario, load_scenario, parse_clock_time_s
from dientine.sim import SINR_MIN_DB, Simulation
from dientine.sim_output import plot_timeseries, write_parquet, write_summary

THRESHOLDS_YAML = decisions.tables_dir() / "thresholds.yaml"

#: Default decision interval when the clock states none: the 1 h period of the sleep plan (REFERENCES.md §6.1).
DEFAULT_DECISION_EVERY_S = 3600.0

#: The thresholds the loop adapts and which way of moving each makes the energy-saving policy act more often
#: (feedback's ``aggressive``): a higher sleep load, a later window end, a lower neighbour-headroom requirement
#: and a lower wake threshold all put more cells to sleep for longer. The window start stays at its value:
#: moving start and end with the same signal can close the window altogether (start >= end), after which no
#: outcome would ever reopen it.
ADAPTED_THRESHOLDS: dict[str, dict[str, str]] = {
    "energy_saving": {
        "threshold_sleep_load": "up",
        "threshold_sleep_end_hour": "up",
        "threshold_neighbour_headroom": "down",
        "threshold_wake_headroom": "down",
    },
}

#: Step-size sequence of the adapted thresholds (decisions.feedback, a_k = gain / (k + 1)^gamma): gamma = 1,
#: the classical Robbins-Monro choice (sum a_k infinite, sum a_k^2 finite), so that the thresholds settle
#: within a simulated week of hourly outcomes; gain = feedback's default. Policy assumptions.
FEEDBACK_GAIN = 0.5
FEEDBACK_GAMMA = 1.0

#: The no-op output of each bundled table (rows with it are not logged as recommendations).
NOOP_ACTION = {"energy_saving": "keep", "coverage_tilt": "keep", "power_adjustment": "keep",
               "incumbent_protection": "none", "drone_response": "ignore", "maintenance_scheduling": "none"}

#: Unserved-traffic penalty of the sleep MILP [Wh-equivalent per Mbit/s lost for one hour]: an assumption,
#: chosen far above one cell-hour of EARTH idle power (260 W) so that the plan never trades traffic for energy
#: unless no plan serves it (then the loss is minimised).
UNSERVED_PENALTY_WH_PER_MBIT = 1000.0


class LoopError(ValueError):
    """The closed loop cannot run the scenario as written; the message names the field."""


@dataclass
class _Pending:
    """An open outcome window of the energy-saving thresholds."""

    tick_from: int
    tick_to: int
    names: list[str]
    expected_saving_kwh: float
    reference: tuple[dict[str, np.ndarray], dict[str, float]] | None


@dataclass
class LoopStats:
    decide_ms: list[float] = field(default_factory=list)
    table_s: float = 0.0
    solver_s: float = 0.0
    apply_s: float = 0.0
    protection_s: float = 0.0
    solver_calls: int = 0
    solver_failures: int = 0
    recommended: int = 0
    applied: int = 0
    rows_evaluated: int = 0
    expected_saving_kwh: float = 0.0
    measured_saving_kwh: float = 0.0
    drone_alerts: int = 0
    protection_violations: int = 0
    protection_checks: int = 0
    outcome_windows: int = 0
    qos_violations: int = 0
    max_cells_asleep: int = 0


def _bundled_specs() -> dict[str, dict]:
    data = yaml.safe_load(THRESHOLDS_YAML.read_text(encoding="utf-8")) or {}
    return dict(data.get("thresholds") or {})


def load_table(name: str):
    """A bundled decision table by name (``decisions/tables/<name>.dmn`` or ``.yaml``)."""
    for ext in (".dmn", ".yaml"):
        path = decisions.tables_dir() / f"{name}{ext}"
        if path.is_file():
            return decisions.load(path)
    raise LoopError(f"decisions: no bundled table named {name!r} in {decisions.tables_dir()}")


def threshold_book(tables: dict[str, Any], settings: LoopSettings) -> ThresholdBook:
    """The thresholds the tables read, with bounds and steps from ``thresholds.yaml``, adaptation direction
    from :data:`ADAPTED_THRESHOLDS` and initial values from ``loop.thresholds``."""
    bundled = _bundled_specs()
    specs: dict[str, dict] = {}
    for table, model in tables.items():
        for name in model.input_names():
            if not name.startswith("threshold_"):
                continue
            if name not in bundled:
                raise LoopError(f"decisions: table {table!r} reads {name!r}, which {THRESHOLDS_YAML} does not "
                                f"define")
            body = dict(bundled[name])
            body["aggressive"] = ADAPTED_THRESHOLDS.get(table, {}).get(name, "up")
            body.setdefault("gain", FEEDBACK_GAIN)
            body.setdefault("gamma", FEEDBACK_GAMMA)
            specs[name] = body
    book = ThresholdBook.from_mapping(specs)
    for name, value in settings.thresholds.items():
        if name not in book.specs:
            raise LoopError(f"loop.thresholds.{name}: not a threshold of the scenario's tables; known: "
                            f"{sorted(book.specs)}")
        spec = book.specs[name]
        if not (math.isfinite(value) and spec.min <= value <= spec.max):
            raise LoopError(f"loop.thresholds.{name}: expected a number in [{spec.min:g}, {spec.max:g}], "
                            f"found {value!r}")
        book.values[name] = float(value)
    return book


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class ClosedLoop:
    """A simulation with the decision loop (see module docstring)."""

    def __init__(self, scenario: Scenario, *, seed: int | None = None, parallel: bool | None = None):
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
        self._pending: list[_Pending] = []
        self._cell_rows: list[dict[str, np.ndarray]] = []
        self._net_rows: list[dict[str, float]] = []
        self._saved_kwh = 0.0
        self._tx_nominal_dbm = tw.cells.tx_power_dbm.copy()
        self._protect_off = np.zeros(tw.n_cells, bool)
        self._protect_backoff = np.zeros(tw.n_cells, bool)
        self._incumbent_gain_builds = -1
        self._incumbent_gain_db: np.ndarray | None = None
        self._epoch = 0
        self._qos_ref: tuple[dict[str, np.ndarray], dict[str, float]] | None = None
        self._plan_level: float | None = None
        self._plan_free: np.ndarray | None = None
        self._threshold_names: dict[int, list[str]] = {}

    @property
    def energy_saved_kwh(self) -> float:
        """Energy saved so far (EARTH counterfactual of :mod:`dientine.outcomes`), kWh."""
        return self._saved_kwh

    # ------------------------------------------------------------------ running
    def step(self) -> None:
        sim = self.sim
        if self.scenario.incumbents:
            if "incumbent_protection" in self.tables:
                self._protect()
            self._count_violations()
        if sim.tick > 0 and sim.tick % self.ticks_per_epoch == 0:
            self.decide()
        sim.step()
        cell, net = sim.kpi.latest_cell(), sim.kpi.latest_network()
        self._cell_rows.append(cell)
        self._net_rows.append(net)
        self._saved_kwh += saved_energy_kwh(cell["state"], cell["energy_kwh"], self.p_idle_w, sim.tick_s)
        self.stats.max_cells_asleep = max(self.stats.max_cells_asleep,
                                          int(np.isin(cell["state"], SLEEP_STATES).sum()))
        self._close_outcomes()

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

    # ------------------------------------------------------------------ one epoch
    def decide(self) -> list[dict[str, Any]]:
        """Evaluate every (non-protection) table over the current KPI table and apply the results; returns the
        log records of this epoch."""
        t0 = time.perf_counter()
        sim = self.sim
        kpi = sim.cell_kpi_table()
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
            inputs = {n: _jsonable(v[i] if isinstance(v, np.ndarray) else v) for n, v in cols.items()}
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

    # ------------------------------------------------------------------ table inputs
    def _thresholds(self, model) -> dict[str, float]:
        names = self._threshold_names.get(id(model))
        if names is None:
            names = self._threshold_names[id(model)] = [n for n in model.input_names() if n.startswith("threshold_")]
        return {n: self.book.values[n] for n in names}

    def _columns(self, table: str, kpi: dict[str, np.ndarray]) -> tuple[dict[str, Any], np.ndarray | None]:
        sim = self.sim
        tw = sim.twin
        model = self.tables[table]
        cols: dict[str, Any] = self._thresholds(model)
        state = kpi["state"]
        failed = state == int(CellState.FAILED)
        pending = tw.bs.pending >= 0
        if table == "energy_saving":
            load = np.where(failed | pending, np.nan, np.clip(kpi["load"], 0.0, 1.0))
            cols.update({"is_coverage_cell": self.coverage.copy(), "cell_asleep": np.isin(state, SLEEP_STATES),
                         "cell_load": load, "hour": float(math.floor(sim.hour_of_day * 1e6) / 1e6),
                         "neighbour_headroom": np.clip(kpi["neighbour_headroom"], 0.0, 1.0)})
            return cols, np.arange(tw.n_cells)
        if table in ("coverage_tilt", "power_adjustment"):
            cov, edge_sinr, edge_rsrp = self._per_cell_user_stats()
            load = np.where(failed | pending, np.nan, np.clip(kpi["load"], 0.0, 1.0))
            cols.update({"coverage_pct": cov, "edge_sinr_db": edge_sinr, "overshoot_pct": np.full(tw.n_cells, np.nan),
                         "cell_load": load, "edge_rsrp_dbm": edge_rsrp})
            return cols, np.arange(tw.n_cells)
        if table == "drone_response":
            return self._drone_columns(cols)
        raise LoopError(f"decisions: the closed loop has no input builder for table {table!r}")

    def _per_cell_user_stats(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per serving cell: coverage (% of its users with SINR >= SINR_MIN), 5th-percentile SINR and serving
        RSRP of its users (NaN = null when the cell serves nobody)."""
        sim = self.sim
        tw = sim.twin
        n = tw.n_cells
        serving = tw.users.ho.serving_cell
        ok = tw.users.active & (serving >= 0)
        cov = np.full(n, np.nan)
        sinr5 = np.full(n, np.nan)
        rsrp5 = np.full(n, np.nan)
        s = serving[ok]
        sinr = sim.sinr_db[ok]
        rsrp = sim._rsrp_serv[ok]
        order = np.argsort(s, kind="stable")
        s, sinr, rsrp = s[order], sinr[order], rsrp[order]
        bounds = np.searchsorted(s, np.arange(n + 1))
        for c in range(n):
            a, b = bounds[c], bounds[c + 1]
            if b > a:
                x = sinr[a:b]
                cov[c] = 100.0 * np.count_nonzero(x >= SINR_MIN_DB) / (b - a)
                f = np.isfinite(x)
                if f.any():
                    sinr5[c] = float(np.percentile(x[f], 5.0))
                r = rsrp[a:b][np.isfinite(rsrp[a:b])]
                if r.size:
                    rsrp5[c] = float(np.percentile(r, 5.0))
        return cov, sinr5, rsrp5

    def _drone_columns(self, cols: dict[str, Any]) -> tuple[dict[str, Any], np.ndarray | None]:
        sim = self.sim
        tw = sim.twin
        if sim.sensing is None or not sim.sensing.tracks:
            return cols, None
        tracks = sim.sensing.tracks
        pos = np.array([t.pos for t in tracks], dtype=np.float64).reshape(-1, 3)
        truth = np.array([t.truth() for t in tracks], dtype=np.int64)
        registered = np.where(truth >= 0, tw.drones.registered[np.maximum(truth, 0)], False)
        gain = gain_map_dense(tw.cells, PointArrays(pos[:, 0], pos[:, 1], np.maximum(pos[:, 2], 1.5)), tw.fields,
                              wrap_offsets_m=tw.wrap_offsets_m, parallel=False)
        snr_db = tw.cells.tx_power_dbm[None, :] + gain - tw.noise_dbm
        visible = np.count_nonzero(snr_db >= SINR_MIN_DB, axis=1).astype(np.float64)
        zones = self.settings.restricted_zones
        if zones:
            d = np.min([np.hypot(pos[:, 0] - z.x_m, pos[:, 1] - z.y_m) - z.radius_m for z in zones], axis=0)
            dist = np.maximum(d, 0.0)
        else:
            dist = np.full(len(tracks), np.nan)
        confirmed = np.array([t.confirmed for t in tracks], bool)
        duration = np.array([sim.time_s - t.born_t_s for t in tracks], dtype=np.float64)
        cols.update({"drone_authorised": registered, "drone_altitude_m": pos[:, 2], "visible_cells": visible,
                     "distance_to_restricted_m": dist,
                     "track_duration_s": np.where(confirmed, duration, 0.0)})
        return cols, np.array([t.tid for t in tracks], dtype=np.int64)

    # ------------------------------------------------------------------ energy saving
    def _apply_energy(self, action: np.ndarray, kpi: dict[str, np.ndarray], recs: list[dict[str, Any]]) -> None:
        from solvers import solve  # noqa: PLC0415

        sim = self.sim
        tw = sim.twin
        state = tw.bs.state.astype(np.int64)
        asleep = np.isin(state, SLEEP_STATES)
        if not asleep.any() and self._cell_rows:  # QoS reference: the last tick with no cell asleep
            self._qos_ref = (self._cell_rows[-1], self._net_rows[-1])
        serving = tw.bs.serving_mask()
        want_sleep = (action == "rru_sleep") & serving & ~self.coverage & ~self._protect_off
        want_wake = (action == "rru_wake") & asleep
        free = want_sleep | (asleep & ~want_wake & ~self._protect_off)
        if not free.any() and not want_wake.any():
            self._plan_level = self._plan_free = None
            self._open_idle_window()
            return
        level = self._profile_level()
        if (not want_wake.any() and self._plan_level is not None and level <= self._plan_level
                and self._plan_free is not None and not (free & ~self._plan_free).any()):
            # no cell is free that the plan in force did not already consider, and the diurnal demand is not
            # rising above the level it was made for: the plan stands (no solver call)
            for r in recs:
                r.update(solver="rru_sleep", solver_status="plan in force")
            if asleep.any():
                self._open_window(0.0)
            else:
                self._open_idle_window()
            return
        t0 = time.perf_counter()
        self._plan_level = level
        self._plan_free = free.copy()
        problem = self.sleep_problem(free, load=kpi["load"])
        if problem is None:  # nobody demands anything: every free cell may sleep
            on = ~free
            status, objective, expected_wh, solve_s = "trivial", 0.0, 0.0, 0.0
        else:
            t1 = time.perf_counter()
            sol = solve(problem, time_limit_s=self.settings.solver_time_limit_s)
            solve_s = time.perf_counter() - t1
            self.stats.solver_s += solve_s
            self.stats.solver_calls += 1
            status, objective = str(sol.status.value if hasattr(sol.status, "value") else sol.status), sol.objective
            if not sol.has_decision or sol.on is None:
                self.stats.solver_failures += 1
                for r in recs:
                    r.update(solver="rru_sleep", solver_status=status, solver_objective=objective,
                             solver_time_s=solve_s)
                on = serving | want_wake  # no plan: keep what serves, wake what was asked
                expected_wh = 0.0
            else:
                on = np.asarray(sol.on)[:, 0].astype(bool)
                expected_wh = float((sol.energy_all_on_wh or 0.0) - (sol.energy_wh or 0.0))
        to_sleep = np.flatnonzero(free & ~on & serving)
        to_wake = np.flatnonzero(asleep & (on | want_wake))
        for c in to_sleep:
            sim.set_cell_state(int(c), "deep_sleep")
        for c in to_wake:
            sim.set_cell_state(int(c), "on")
        by_row = {r["row"]: r for r in recs}
        for r in recs:
            r.update(solver="rru_sleep", solver_status=status, solver_objective=_jsonable(objective),
                     solver_time_s=solve_s)
        for c in to_sleep:
            r = by_row.get(int(c))
            if r is not None and r["action"] == "rru_sleep":
                r["applied"] = True
                self.stats.applied += 1
        for c in to_wake:
            r = by_row.get(int(c))
            if r is not None and r["action"] == "rru_wake":
                r["applied"] = True
                self.stats.applied += 1
            elif r is None:  # the plan wakes a cell the table left asleep: logged as the solver's decision
                recs.append({**self._blank_record("energy_saving"), "row": int(c), "rule": 0, "rule_id": "",
                             "reason": "sleep plan: the coming demand needs the cell", "inputs": "{}",
                             "action": "rru_wake", "applied": True, "solver": "rru_sleep", "solver_status": status,
                             "solver_objective": _jsonable(objective), "solver_time_s": solve_s})
                self.stats.recommended += 1
                self.stats.applied += 1
        self.stats.apply_s += time.perf_counter() - t0 - solve_s
        if (free & ~on).any():
            expected_kwh = (expected_wh * (self.window_ticks * sim.tick_s / 3600.0) / max(problem.period_h, 1e-9)
                            / 1e3 if problem is not None else 0.0)
            self._open_window(expected_kwh)
        else:
            self._open_idle_window()

    def _open_window(self, expected_kwh: float) -> None:
        """Outcome window of the energy-saving thresholds from now (cells asleep)."""
        if not (self.settings.adapt and "energy_saving" in self.tables):
            return
        sim = self.sim
        names = [n for n in ADAPTED_THRESHOLDS["energy_saving"] if n in self.book.specs]
        ref = self._qos_ref or ((self._cell_rows[-1], self._net_rows[-1]) if self._cell_rows else None)
        self._pending.append(_Pending(sim.tick, sim.tick + self.window_ticks, names, expected_kwh, ref))

    def _open_idle_window(self) -> None:
        """An outcome window in which the policy put nothing to sleep although the hour lies inside the range its
        window may reach ([start hour, largest end hour of thresholds.yaml)): the
        policy lost no QoS there, so the feedback sees slack and moves towards aggressive. Without these
        samples a policy that became too conservative would never be given evidence to recover."""
        specs = self.book.specs
        if "threshold_sleep_start_hour" not in specs or "threshold_sleep_end_hour" not in specs:
            return
        hour = self.sim.hour_of_day
        if self.book.values["threshold_sleep_start_hour"] <= hour < specs["threshold_sleep_end_hour"].max:
            self._open_window(0.0)

    def _apply_power(self, action: np.ndarray, recs: list[dict[str, Any]]) -> None:
        """``power_up`` / ``power_down`` rows -> one :mod:`solvers.power` min-power LP (see module docstring)."""
        from solvers import solve  # noqa: PLC0415
        from solvers.power import PowerProblem  # noqa: PLC0415

        down = (action == "power_down") & ~self._protect_off
        up = action == "power_up"
        if not (down.any() or up.any()):
            return
        t0 = time.perf_counter()
        sim = self.sim
        tw = sim.twin
        u = tw.users
        ok = np.flatnonzero(u.active & (u.ho.serving_cell >= 0))
        if ok.size == 0:
            return
        pick = ok[:: max(1, ok.size // self.settings.max_demand_points)]
        g = tw.grid
        col = np.clip(np.floor((u.x_m[pick] - g.x0_m) / g.resolution_m).astype(np.int64), 0, g.n_cols - 1)
        row = np.clip(np.floor((u.y_m[pick] - g.y0_m) / g.resolution_m).astype(np.int64), 0, g.n_rows - 1)
        pix = row * g.n_cols + col
        cand = tw.topk_cell[pix].astype(np.int64)
        valid = cand >= 0
        gain = np.zeros((pick.size, tw.n_cells))
        j_idx = np.broadcast_to(np.arange(pick.size)[:, None], cand.shape)
        gain[j_idx[valid], cand[valid]] = 10.0 ** (tw.topk_gain_db[pix][valid].astype(np.float64) / 10.0)
        serving = u.ho.serving_cell[pick].astype(np.int64)
        radiates = tw.bs.interfering_mask()
        keep = gain[np.arange(pick.size), serving] > 0
        gain, serving = gain[keep][:, radiates], serving[keep]
        cells = np.flatnonzero(radiates)
        pos = np.full(tw.n_cells, -1)
        pos[cells] = np.arange(cells.size)
        serving = pos[serving]
        keep = serving >= 0
        gain, serving = gain[keep], serving[keep]
        if serving.size == 0:
            return
        p_w = 10.0 ** ((tw.cells.tx_power_dbm[cells] - 30.0) / 10.0)
        noise_w = tw.noise_mw / 1e3
        sig = p_w[serving] * gain[np.arange(serving.size), serving]
        sinr_now_db = 10.0 * np.log10(sig / (gain @ p_w - sig + noise_w))
        target = np.minimum(SINR_MIN_DB, sinr_now_db - 1e-6)
        nominal_w = 10.0 ** ((self._tx_nominal_dbm[cells] - 30.0) / 10.0)
        floor_w = nominal_w * 10.0 ** (-self.settings.max_power_backoff_db / 10.0)
        p_min, p_max = p_w.copy(), p_w.copy()
        d, uu = down[cells], up[cells]
        p_min[d], p_max[d] = floor_w[d], np.maximum(p_w[d], floor_w[d])
        p_min[uu], p_max[uu] = nominal_w[uu], nominal_w[uu]
        problem = PowerProblem(gain=gain, serving_cell=serving, noise_w=np.full(serving.size, noise_w),
                               sinr_target_db=target, p_min_w=p_min, p_max_w=p_max, mode="min_power",
                               objective="total_w")
        t1 = time.perf_counter()
        sol = solve(problem, time_limit_s=self.settings.solver_time_limit_s)
        solve_s = time.perf_counter() - t1
        self.stats.solver_s += solve_s
        self.stats.solver_calls += 1
        status = str(getattr(sol.status, "value", sol.status))
        by_row = {r["row"]: r for r in recs}
        if not sol.has_decision or sol.power_w is None:
            self.stats.solver_failures += 1
            new_dbm = None
        else:
            new_dbm = 10.0 * np.log10(np.maximum(np.asarray(sol.power_w), 1e-30)) + 30.0
        for k, c in enumerate(cells):
            r = by_row.get(int(c))
            if r is None or r["action"] not in ("power_up", "power_down"):
                continue
            r.update(solver="power", solver_status=status, solver_objective=_jsonable(sol.objective),
                     solver_time_s=solve_s)
            if new_dbm is not None and abs(new_dbm[k] - tw.cells.tx_power_dbm[c]) > 1e-3:
                sim.set_tx_power(int(c), float(new_dbm[k]))
                r["applied"] = True
                self.stats.applied += 1
        self.stats.apply_s += time.perf_counter() - t0 - solve_s

    def _profile_level(self) -> float:
        """Largest relative load of the diurnal profile over the coming decision interval."""
        sim = self.sim
        prof = sim.twin.population.profile
        now = sim.wall_clock_s
        return max(prof.at(now + k * sim.tick_s) for k in range(self.ticks_per_epoch))

    def _blank_record(self, table: str) -> dict[str, Any]:
        return {"time_s": float(self.sim.time_s), "tick": int(self.sim.tick), "epoch": self._epoch, "table": table,
                "decide_ms": None}

    def sleep_problem(self, free: np.ndarray, *, load: np.ndarray | None = None):
        """The one-period :class:`solvers.rru_sleep.RruSleepProblem` of the coming decision interval: cells in
        ``free`` may sleep, every other serving cell stays on (failed or transitioning cells are out of the
        plan: they can serve nobody). None when no user demands anything."""
        from solvers.rru_sleep import RruSleepProblem  # noqa: PLC0415

        sim = self.sim
        tw = sim.twin
        u = tw.users
        n = u.n
        demand = np.where(u.full_buffer, sim.rate_mbps, u.demand_mbps)[:n]
        use = u.active & (demand > 0)
        if not use.any():
            return None
        g = tw.grid
        col = np.clip(np.floor((u.x_m[use] - g.x0_m) / g.resolution_m).astype(np.int64), 0, g.n_cols - 1)
        row = np.clip(np.floor((u.y_m[use] - g.y0_m) / g.resolution_m).astype(np.int64), 0, g.n_rows - 1)
        d = demand[use]
        # forecast for the coming interval: scale by the diurnal profile's largest value over it (conservative)
        p_now = max(tw.population.profile.at(sim.wall_clock_s), 1e-9)
        d = d * max(1.0, self._profile_level() / p_now)
        # aggregate pixels into blocks of f x f pixels until at most max_demand_points blocks carry demand
        f = 1
        while True:
            block = (row // f) * ((g.n_cols + f - 1) // f) + col // f
            uniq, inv = np.unique(block, return_inverse=True)
            if uniq.size <= self.settings.max_demand_points:
                break
            f *= 2
        pix = row * g.n_cols + col
        dem_pts = np.bincount(inv, weights=d, minlength=uniq.size)
        # representative pixel of each block: the pixel of its largest user demand
        order = np.lexsort((-d, inv))
        first = order[np.searchsorted(inv[order], np.arange(uniq.size))]
        rep = pix[first]
        n_cells = tw.n_cells
        cand = tw.topk_cell[rep].astype(np.int64)  # (J, K)
        rx_dbm = tw.topk_rx_dbm[rep].astype(np.float64)
        rx_mw = tw.topk_rx_mw[rep]
        radiates = tw.bs.interfering_mask()
        load = np.where(radiates, np.clip(sim.cell_kpi_table()["load"] if load is None else load, 0.0, 1.0), 0.0)
        valid = cand >= 0
        cidx = np.where(valid, cand, 0)
        interf = np.sum(np.where(valid, load[cidx] * rx_mw, 0.0), axis=1, keepdims=True)
        own = np.where(valid, load[cidx] * rx_mw, 0.0)
        sinr_db = 10.0 * np.log10(np.maximum(rx_mw, 1e-300) / (np.maximum(interf - own, 0.0) + tw.noise_mw))
        se_k = spectral_efficiency_bps_hz(sinr_db, self.scenario.simulation.se_model)
        j_idx = np.broadcast_to(np.arange(len(rep))[:, None], cand.shape)
        se = np.zeros((n_cells, len(rep)))
        rsrp = np.full((n_cells, len(rep)), -np.inf)
        se[cidx[valid], j_idx[valid]] = se_k[valid]
        rsrp[cidx[valid], j_idx[valid]] = rx_dbm[valid]
        can = tw.bs.serving_mask() | free
        se[~can] = 0.0
        rsrp[~can] = -np.inf
        served = (se > 0).any(axis=0)
        if not served.any():
            return None
        se, rsrp, dem_pts = se[:, served], rsrp[:, served], dem_pts[served]
        pt = tw.bs.power_table
        must = np.flatnonzero(~free & can)
        period_h = self.ticks_per_epoch * sim.tick_s / 3600.0
        return RruSleepProblem(
            demand_mbps=dem_pts[:, None], spectral_efficiency_bps_hz=se, rsrp_dbm=rsrp,
            # total received power over the carrier vs noise + SINR_MIN: "covered" = SNR >= SINR_MIN (§4.1)
            rsrp_floor_dbm=float(tw.noise_dbm + SINR_MIN_DB),
            bandwidth_mhz=np.full(n_cells, tw.bandwidth_hz / 1e6), rho_max=self.settings.rho_max,
            period_h=period_h, n_trx=np.ones(n_cells), p0_w=np.asarray(pt.p_idle_w, float),
            delta_p=np.ones(n_cells), p_max_w=np.asarray(pt.p_slope_w, float),
            p_sleep_w=np.asarray(pt.state_power_w[:, int(CellState.DEEP_SLEEP)], float),
            must_stay_on=[int(c) for c in must], initial_on=~np.isin(tw.bs.state, SLEEP_STATES),
            max_unserved_fraction=None, unserved_penalty_wh_per_mbit=UNSERVED_PENALTY_WH_PER_MBIT,
            max_candidates=min(tw.top_k, 5))

    # ------------------------------------------------------------------ outcomes and feedback
    def _close_outcomes(self) -> None:
        done = [p for p in self._pending if p.tick_to <= len(self._cell_rows)]
        if not done:
            return
        self._pending = [p for p in self._pending if p.tick_to > len(self._cell_rows)]
        qos = self.settings.qos
        for p in done:
            w = measure_window(self._cell_rows, self._net_rows, p.tick_from, p.tick_to, p_idle_w=self.p_idle_w,
                               tick_s=self.sim.tick_s, neighbours=self._neighbours, reference=p.reference)
            self.stats.outcome_windows += 1
            if p.expected_saving_kwh > 0:  # recommendation quality: windows of a solved plan only
                self.stats.expected_saving_kwh += p.expected_saving_kwh
                self.stats.measured_saving_kwh += w.energy_saved_kwh
            measure = w.qos_lost_pct
            if measure > qos.unsatisfied_demand_pct:
                self.stats.qos_violations += 1
            t_from = p.tick_from * self.sim.tick_s
            label = f"{t_from / 3600:.2f}h-{p.tick_to * self.sim.tick_s / 3600:.2f}h"
            outcome = Outcome(qos_measure=measure, qos_target=qos.unsatisfied_demand_pct, qos_scale=qos.scale_pct,
                              benefit=w.energy_saved_kwh, window=label)
            for ch in self.book.update(p.names, outcome):
                self.threshold_log.append({"time_s": float(self.sim.time_s), "name": ch.name, "value": ch.new,
                                           "version": ch.version, "reason": ch.reason, "slack": ch.slack,
                                           "benefit": ch.benefit, "window": ch.window})

    # ------------------------------------------------------------------ incumbent protection
    def _active_incumbents(self) -> np.ndarray:
        sim = self.sim
        t = sim.time_s + sim.twin.start_s
        out = []
        for inc in self.scenario.incumbents:
            a = parse_clock_time_s(inc.active_from) if inc.active_from is not None else -math.inf
            b = parse_clock_time_s(inc.active_until) if inc.active_until is not None else math.inf
            out.append(a <= t < b)
        return np.array(out, bool)

    def incumbent_interference_dbm(self) -> np.ndarray:
        """Per protection point x cell: the power each cell would put into the point's reference bandwidth when
        it transmits (dBm): transmit power + path gain (the twin's radio model at the point's 3-D position)
        + 10 log10(min(1, B_ref / B))."""
        tw = self.sim.twin
        if self._incumbent_gain_db is None or self._incumbent_gain_builds != tw.gain_builds:
            inc = self.scenario.incumbents
            pts = PointArrays(np.array([p.x_m for p in inc]), np.array([p.y_m for p in inc]),
                              np.array([p.height_m for p in inc]))
            self._incumbent_gain_db = gain_map_dense(tw.cells, pts, tw.fields, wrap_offsets_m=tw.wrap_offsets_m,
                                                     parallel=False)
            self._incumbent_gain_builds = tw.gain_builds
        ref = np.array([p.ref_bandwidth_mhz for p in self.scenario.incumbents]) * 1e6
        bw_db = 10.0 * np.log10(np.minimum(1.0, ref / tw.cells.bandwidth_hz))[:, None]
        return tw.cells.tx_power_dbm[None, :] + self._incumbent_gain_db + bw_db

    def radiating(self) -> np.ndarray:
        """Cells that radiate during the coming tick: ON and not commanded out of ON (a cell commanded to sleep
        or off counts as gone: the command is the protection action; its equipment shutdown time is not
        counted as a violation)."""
        bs = self.sim.twin.bs
        leaving = (bs.pending >= 0) & (bs.pending != int(CellState.ON))
        return bs.interfering_mask() & ~leaving

    def aggregate_dbm(self) -> np.ndarray:
        """Aggregate interference at every protection point from the cells that radiate (:meth:`radiating`),
        dBm in each point's reference bandwidth."""
        i_dbm = self.incumbent_interference_dbm()
        rad = self.radiating()
        mw = np.where(rad[None, :], 10.0 ** (i_dbm / 10.0), 0.0).sum(axis=1)
        with np.errstate(divide="ignore"):
            return 10.0 * np.log10(mw)

    def _count_violations(self) -> None:
        """Protection check of the coming tick (after the protection acted): active points above threshold."""
        active = self._active_incumbents()
        if not active.any():
            return
        thr = np.array([p.threshold_dbm for p in self.scenario.incumbents])
        agg = self.aggregate_dbm()
        self.stats.protection_checks += int(active.sum())
        self.stats.protection_violations += int(np.count_nonzero(active & (agg > thr + 1e-9)))

    def _protect(self) -> None:
        from solvers import solve  # noqa: PLC0415
        from solvers.spectrum import ProtectionPoint, SpectrumProblem  # noqa: PLC0415

        t0 = time.perf_counter()
        sim = self.sim
        tw = sim.twin
        model = self.tables["incumbent_protection"]
        active = self._active_incumbents()
        n = tw.n_cells
        if not active.any():
            self._restore_protection()
            self.stats.protection_s += time.perf_counter() - t0
            return
        inc = self.scenario.incumbents
        agg = self.aggregate_dbm()
        thr = np.array([p.threshold_dbm for p in inc])
        worst = int(np.argmax(np.where(active, agg - thr, -np.inf)))
        in_zone = np.zeros(n, bool)
        for k, p in enumerate(inc):
            if active[k] and p.exclusion_radius_m is not None:
                in_zone |= np.hypot(tw.cells.x_m - p.x_m, tw.cells.y_m - p.y_m) <= p.exclusion_radius_m
        rows = np.flatnonzero(self.radiating())  # cells that transmit on the protected channel
        if rows.size == 0:
            self.stats.protection_s += time.perf_counter() - t0
            return
        cols = self._thresholds(model)
        cols.update({"incumbent_active": np.ones(rows.size, bool), "in_exclusion_zone": in_zone[rows],
                     "aggregate_interference_dbm": np.full(rows.size, agg[worst]),
                     "threshold_protection_dbm": thr[worst]})
        t1 = time.perf_counter()
        res = model.evaluate_batch(cols, "incumbent_protection")
        self.stats.table_s += time.perf_counter() - t1
        self.stats.rows_evaluated += rows.size
        action = self._action_column(res)
        recs = self._records("incumbent_protection", model, res, action, cols, rows)
        if not recs:
            self.stats.protection_s += time.perf_counter() - t0
            return
        by_row = {r["row"]: r for r in recs}
        for c in rows[action == "vacate_channel"]:
            self._switch_off(int(c))
            by_row[int(c)]["applied"] = True
        if (action == "reassign_channel").any():
            i_dbm = self.incumbent_interference_dbm()[active]  # (P, C)
            cells = rows[action != "vacate_channel"]
            value = np.asarray(sim.cell_kpi_table()["throughput_mbps"], float)[cells] + 1.0
            margin = float(cols["threshold_protection_margin_db"])
            problem = SpectrumProblem(
                n_channels=1, channel_bandwidth_mhz=float(inc[worst].ref_bandwidth_mhz),
                operator=np.zeros(cells.size, np.int64), channels_max=np.ones(cells.size, np.int64),
                channels_min=np.zeros(cells.size, np.int64), value=value,
                points=[ProtectionPoint(name=p.name, kind="custom", threshold_dbm=p.threshold_dbm, margin_db=margin)
                        for k, p in enumerate(inc) if active[k]],
                interference_dbm=i_dbm[:, cells].T)
            t2 = time.perf_counter()
            sol = solve(problem, time_limit_s=self.settings.solver_time_limit_s)
            solve_s = time.perf_counter() - t2
            self.stats.solver_s += solve_s
            self.stats.solver_calls += 1
            status = str(getattr(sol.status, "value", sol.status))
            keep = (np.asarray(sol.assignment)[:, 0].astype(bool) if sol.has_decision and sol.assignment is not None
                    else np.zeros(cells.size, bool))
            if not sol.has_decision:
                self.stats.solver_failures += 1
            for j, c in enumerate(cells):
                if not keep[j]:
                    self._switch_off(int(c))
            for r in recs:
                if r["action"] == "reassign_channel":
                    r.update(solver="spectrum", solver_status=status, solver_objective=_jsonable(sol.objective),
                             solver_time_s=solve_s, applied=True)
        reduce = rows[action == "reduce_power"]
        if reduce.size:
            target = thr[worst] - float(cols["threshold_protection_margin_db"]) \
                - float(cols["threshold_early_warning_db"])
            backoff = float(min(self.settings.max_power_backoff_db, max(agg[worst] - target, 0.0)))
            for c in reduce:
                new = max(float(tw.cells.tx_power_dbm[c]) - backoff, self._tx_nominal_dbm[c]
                          - self.settings.max_power_backoff_db)
                if new < tw.cells.tx_power_dbm[c]:
                    sim.set_tx_power(int(c), new)
                    self._protect_backoff[c] = True
                r = by_row[int(c)]
                r.update(solver="closed-form back-off", solver_status="applied", solver_objective=backoff,
                         applied=True)
        n_applied = sum(1 for r in recs if r["applied"])
        self.stats.applied += n_applied
        ms = (time.perf_counter() - t0) * 1e3
        for r in recs:
            r["decide_ms"] = ms
        self.stats.decide_ms.append(ms)
        self.log += recs
        self.stats.protection_s += time.perf_counter() - t0

    def _switch_off(self, cell: int) -> None:
        tw = self.sim.twin
        if tw.bs.state[cell] != int(CellState.OFF):
            self.sim.set_cell_state(cell, "off")
        self._protect_off[cell] = True

    def _restore_protection(self) -> None:
        sim = self.sim
        for c in np.flatnonzero(self._protect_off):
            sim.set_cell_state(int(c), "on")
        self._protect_off[:] = False
        for c in np.flatnonzero(self._protect_backoff):
            sim.set_tx_power(int(c), float(self._tx_nominal_dbm[c]))
        self._protect_backoff[:] = False

    # ------------------------------------------------------------------ outputs
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
            "outcome_windows": st.outcome_windows,
            "qos_violations": st.qos_violations,
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
    ``kpis_network.parquet``, ``timeseries.png``, ``decisions.parquet``, ``thresholds.parquet`` and
    ``summary.json`` into ``out_dir``; return the summary."""
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
    marks = [(sim.twin.event_hour(ev), f"{ev.kind} {ev.event.at}") for ev in sim.twin.events]
    plot_timeseries(sim.kpis_network, out / "timeseries.png", title=f"{sc.name} (seed {sim.seed_value}, loop)",
                    event_marks=marks)
    write_summary(out / "summary.json", scenario=sc.name, seed=sim.seed_value,
                  summary={k: _jsonable(v) for k, v in summary.items()}, wall_time_s=time.perf_counter() - t0,
                  extra={"decisions": list(sc.decisions), "thresholds": dict(loop.book.values)})
    return summary
