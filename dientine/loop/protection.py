"""Incumbent protection: aggregate interference at protection points, solvers.spectrum, power back-off."""

from __future__ import annotations

import math
import time

import numpy as np

from agents.equipment import CellState
from dientine.loop.common import (
    jsonable,
)
from dientine.radio.maps import gain_map_dense
from dientine.radio.network_arrays import PointArrays
from dientine.scenario import parse_clock_time_s


class ProtectionMixin:
    """Methods of :class:`dientine.loop.ClosedLoop` (see the module docstring); the state lives there."""

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
            sol, solve_s, status = self._solve(problem)
            keep = (np.asarray(sol.assignment)[:, 0].astype(bool) if sol.has_decision and sol.assignment is not None
                    else np.zeros(cells.size, bool))
            if not sol.has_decision:
                self.stats.solver_failures += 1
            for j, c in enumerate(cells):
                if not keep[j]:
                    self._switch_off(int(c))
            for r in recs:
                if r["action"] == "reassign_channel":
                    r.update(solver="spectrum", solver_status=status, solver_objective=jsonable(sol.objective),
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
