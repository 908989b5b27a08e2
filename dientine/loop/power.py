"""Power adjustment: power_up / power_down rows through solvers.power."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from dientine.loop.common import (
    jsonable,
)
from dientine.sim import SINR_MIN_DB


class PowerMixin:
    """Methods of :class:`dientine.loop.ClosedLoop` (see the module docstring); the state lives there."""

    def _apply_power(self, action: np.ndarray, recs: list[dict[str, Any]]) -> None:
        """``power_up`` / ``power_down`` rows -> one :mod:`solvers.power` min-power LP (see module docstring)."""
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
        sol, solve_s, status = self._solve(problem)
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
            r.update(solver="power", solver_status=status, solver_objective=jsonable(sol.objective),
                     solver_time_s=solve_s)
            if new_dbm is not None and abs(new_dbm[k] - tw.cells.tx_power_dbm[c]) > 1e-3:
                sim.set_tx_power(int(c), float(new_dbm[k]))
                r["applied"] = True
                self.stats.applied += 1
        self.stats.apply_s += time.perf_counter() - t0 - solve_s
