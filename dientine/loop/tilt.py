"""Coverage tilt: ``tilt_optimise`` rows of the ``coverage_tilt`` table -> :mod:`solvers.tilt` -> ``set_tilt``.

For each flagged cell (at most :data:`MAX_TILT_CELLS_PER_EPOCH` per epoch, lowest coverage first) the loop
builds a :class:`solvers.tilt.TiltProblem` from the twin's radio picture on a sample of users:

* cells: the flagged cell and its neighbours (:func:`dientine.outcomes.neighbour_mask`: the cells that
  share best/second-best pixels with it), radiating cells only;
* pixels: up to :data:`TILT_SAMPLE_POINTS` active users served by those cells (seeded sample), at their
  positions and antenna heights (outdoor path gain: the O2I loss of a point is the same for every cell and tilt,
  so it does not change which configuration wins -- only the absolute noise margin);
* ``rx_power_mw[c, k, p]``: transmit power plus the static path gain of
  :func:`dientine.radio.maps.gain_map_dense` with every cell at tilt ``k`` (``dataclasses.replace(cells,
  elec_tilt_deg=...)``, the TR 36.814 tilt-aware pattern, REFERENCES.md §1.5);
* ``noise_mw[p]``: thermal noise plus the load-weighted power of every other radiating cell at its current
  tilt (fixed interference);
* allowed tilts: the flagged cell within :data:`TILT_RANGE_DEG` of its current tilt, its neighbours within
  :data:`NEIGHBOUR_TILT_RANGE_DEG`, on a 1-degree grid; start = the current tilts;
* objective from the table's ``tilt_goal``: ``coverage`` -> ``"coverage"``, ``interference`` / ``capacity`` ->
  ``"sum_log_rate"`` (REFERENCES.md §6.2).

The solution is applied with ``Simulation.set_tilt`` for every cell whose tilt changes; status, objective,
solver time and the tilts are logged on the flagged cell's record.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from dientine.loop.common import jsonable
from dientine.radio.maps import gain_map_dense
from dientine.radio.network_arrays import PointArrays

#: Flagged cells re-tilted per decision epoch (the rest are logged as deferred); a cost assumption.
MAX_TILT_CELLS_PER_EPOCH = 2
#: Users sampled per tilt problem; a cost assumption (enumeration cost grows linearly with it).
TILT_SAMPLE_POINTS = 200
#: Largest tilt change per decision of the flagged cell and of its neighbours [deg]; step-limited adaptation
#: like the thresholds' (assumption: one decision moves a tilt by at most 2 degrees, neighbours by 1).
TILT_RANGE_DEG = 2
NEIGHBOUR_TILT_RANGE_DEG = 1
#: Neighbours re-tilted with the flagged cell (strongest coupling first); bounds the enumeration to
#: 5 x 3^4 = 405 configurations (assumption).
MAX_TILT_NEIGHBOURS = 4
#: Time limit of one tilt solve [s] (a tight budget: enumeration of this size finishes well inside it).
TILT_TIME_LIMIT_S = 0.5

_OBJECTIVE = {"coverage": "coverage", "interference": "sum_log_rate", "capacity": "sum_log_rate"}


class TiltMixin:
    """Methods of :class:`dientine.loop.ClosedLoop` (see the module docstring); the state lives there."""

    def _apply_tilt(self, res, action: np.ndarray, cols: dict[str, Any], recs: list[dict[str, Any]]) -> None:
        flagged = np.flatnonzero(action == "tilt_optimise")
        if flagged.size == 0:
            return
        goal = res.outputs.get("tilt_goal")
        cov = np.asarray(cols["coverage_pct"], float)
        order = flagged[np.argsort(np.nan_to_num(cov[flagged], nan=np.inf), kind="stable")]
        by_row = {r["row"]: r for r in recs}
        for k, c in enumerate(order):
            r = by_row.get(int(c))
            if k >= MAX_TILT_CELLS_PER_EPOCH:
                if r is not None:
                    r.update(solver="tilt", solver_status="deferred (per-epoch limit)")
                continue
            g = str(goal[c]) if goal is not None and goal[c] is not None else "coverage"
            out = self.retilt(int(c), objective=_OBJECTIVE.get(g, "coverage"))
            if r is not None:
                r.update(solver="tilt", solver_status=out["status"], solver_objective=jsonable(out["objective"]),
                         solver_time_s=out["solve_s"], applied=bool(out["changed"]),
                         reason=f"{r['reason']} [tilts {out['tilts']}]".strip())
                if out["changed"]:
                    self.stats.applied += 1

    def tilt_problem(self, cell: int, *, objective: str = "coverage"):
        """The :class:`solvers.tilt.TiltProblem` of ``cell`` and its neighbours (module docstring) and the twin
        indices of its cells: ``(problem, cells)``; None when the cell serves no active user."""
        from solvers.tilt import TiltProblem  # noqa: PLC0415

        sim = self.sim
        tw = sim.twin
        radiates = tw.bs.interfering_mask()
        nb = np.flatnonzero(self._neighbours[cell] & radiates)
        nb = nb[nb != cell]
        if nb.size > MAX_TILT_NEIGHBOURS:  # strongest coupling first: pixels shared as best / second best
            a, b = tw.topk_cell[:, 0], tw.topk_cell[:, 1]
            shared = (np.bincount(b[a == cell], minlength=tw.n_cells)
                      + np.bincount(a[b == cell], minlength=tw.n_cells))
            nb = nb[np.argsort(-shared[nb], kind="stable")[:MAX_TILT_NEIGHBOURS]]
        cells = np.concatenate([[cell], np.sort(nb)]).astype(np.int64)
        u = tw.users
        n = u.n
        srv = u.ho.serving_cell[:n]
        users = np.flatnonzero(u.active[:n] & np.isin(srv, cells))
        if users.size == 0:
            return None
        if users.size > TILT_SAMPLE_POINTS:
            rng = np.random.default_rng([sim.seed_value, int(sim.tick), cell])
            users = np.sort(rng.choice(users, TILT_SAMPLE_POINTS, replace=False))
        pts = PointArrays(u.x_m[users].astype(float), u.y_m[users].astype(float),
                          np.maximum(u.height_m[users].astype(float), 1.5))
        now = np.asarray(tw.cells.elec_tilt_deg, float)
        base = np.rint(now[cells]).astype(int)
        tilts = np.arange(base.min() - TILT_RANGE_DEG, base.max() + TILT_RANGE_DEG + 1, dtype=float)
        tx = np.asarray(tw.cells.tx_power_dbm, float)
        rx = np.empty((cells.size, tilts.size, users.size))
        for k, t in enumerate(tilts):
            cells_k = dataclasses.replace(tw.cells, elec_tilt_deg=np.full(tw.n_cells, t))
            gain = gain_map_dense(cells_k, pts, tw.fields, wrap_offsets_m=tw.wrap_offsets_m, parallel=False)
            rx[:, k, :] = 10.0 ** ((tx[cells][:, None] + gain[:, cells].T.astype(float)) / 10.0)
        gain_now = gain_map_dense(tw.cells, pts, tw.fields, wrap_offsets_m=tw.wrap_offsets_m, parallel=False)
        others = radiates.copy()
        others[cells] = False
        load = np.clip(np.nan_to_num(sim.cell_kpi_table()["load"], nan=0.0), 0.0, 1.0)
        rx_other = 10.0 ** ((tx[others][None, :] + gain_now[:, others].astype(float)) / 10.0)
        noise = tw.noise_mw + rx_other @ load[others]
        span = np.full(cells.size, NEIGHBOUR_TILT_RANGE_DEG)
        span[0] = TILT_RANGE_DEG
        allowed = np.abs(tilts[None, :] - base[:, None]) <= span[:, None]
        problem = TiltProblem(rx_power_mw=rx, noise_mw=np.asarray(noise, float), weight=np.ones(users.size),
                              tilts_deg=tilts, objective=objective, allowed=allowed,
                              initial_tilt_index=np.searchsorted(tilts, base), seed=int(sim.seed_value))
        return problem, cells

    def retilt(self, cell: int, *, objective: str = "coverage") -> dict[str, Any]:
        """Solve the tilt problem of ``cell`` and apply it; returns status, objective, solver time, the tilts
        ({cell: deg}) and whether any tilt changed."""

        t0 = time.perf_counter()
        built = self.tilt_problem(cell, objective=objective)
        if built is None:
            return {"status": "no users", "objective": None, "solve_s": 0.0, "tilts": {}, "changed": False}
        problem, cells = built
        sol, solve_s, status = self._solve(problem, time_limit_s=TILT_TIME_LIMIT_S)
        self.stats.tilt_calls += 1
        idx = getattr(sol, "tilt_index", None)
        changed = False
        tilts: dict[int, float] = {}
        if sol.has_decision and idx is not None:
            now = np.asarray(self.sim.twin.cells.elec_tilt_deg, float)
            for c, k in zip(cells, np.asarray(idx, int), strict=True):
                deg = float(problem.tilts_deg[k])
                tilts[int(c)] = deg
                if abs(deg - now[c]) > 1e-9 and abs(deg - round(now[c])) > 1e-9:
                    self.sim.set_tilt(int(c), deg)
                    changed = True
        else:
            self.stats.solver_failures += 1
        self.stats.apply_s += time.perf_counter() - t0 - solve_s
        return {"status": status, "objective": sol.objective, "solve_s": solve_s, "tilts": tilts,
                "changed": changed}
