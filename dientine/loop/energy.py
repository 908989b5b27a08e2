"""Energy saving: the sleep plan (solvers.rru_sleep) and the outcome windows of the threshold feedback."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from agents.equipment import CellState
from decisions.feedback import Outcome
from dientine.loop.common import (
    ADAPTED_THRESHOLDS,
    UNSERVED_PENALTY_WH_PER_MBIT,
    PendingWindow,
    jsonable,
)
from dientine.outcomes import SLEEP_STATES, measure_window
from dientine.radio.link import spectral_efficiency_bps_hz
from dientine.sim import SINR_MIN_DB


class EnergyMixin:
    """Methods of :class:`dientine.loop.ClosedLoop` (see the module docstring); the state lives there."""

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
            r.update(solver="rru_sleep", solver_status=status, solver_objective=jsonable(objective),
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
                             "solver_objective": jsonable(objective), "solver_time_s": solve_s})
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
        self._pending.append(PendingWindow(sim.tick, sim.tick + self.window_ticks, names, expected_kwh, ref))

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

    def _profile_level(self) -> float:
        """Largest relative load of the diurnal profile over the coming decision interval."""
        sim = self.sim
        prof = sim.twin.population.profile
        now = sim.wall_clock_s
        return max(prof.at(now + k * sim.tick_s) for k in range(self.ticks_per_epoch))

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
