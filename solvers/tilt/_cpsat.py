"""CP-SAT model of the coverage tilt problem on a pruned, pre-linearised, *relaxed* integer model.

REFERENCES.md §6.2 coverage formulation, with the big-M SINR rows written as implications. For a candidate
(pixel p, cell c, tilt k) the SINR condition ``R_pck >= gamma (sum_{c'!=c} R_pc'k' z_c'k' + N_p)`` divided by
``R_pck`` reads ``sum a_c'k' z_c'k' <= 1 - gamma N_p / R_pck`` with ``a = gamma R_pc'k' / R_pck``. Because each
other cell has exactly one tilt, the per-cell minimum ``m_c' = min_k' a_c'k'`` is paid anyway: the row becomes
``sum (a_c'k' - m_c') z_c'k' <= slack``, ``slack = 1 - gamma N_p/R_pck - sum m_c'``.

Pruning: a candidate with ``slack < 0`` (no tilt of the others lets it reach the floor) or ``R_pck < RSRP_min``
is dropped; a pixel without candidates cannot be covered by any configuration.

Integer scaling: coefficients become ``floor(S (a - m)/slack)`` with right-hand side ``S`` (S = 10**6) --
rounding DOWN, so every truly feasible configuration stays feasible: the integer model is a relaxation and its
proven bound is a valid upper bound on the true optimum. A coefficient above ``S`` means "incompatible" and is
written as a binary implication. Weights become ``ceil(w K)`` (K = 1 when all weights are integers), which again
can only raise the bound. The configuration CP-SAT returns is re-evaluated exactly by the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from solvers._common import cpsat_solver

SCALE = 10**6
"""Integer resolution of the relaxed SINR rows (assumption: 1e-6 of the candidate's slack)."""


@dataclass
class CpSatResult:
    t: np.ndarray | None
    bound: float | None
    status: str
    n_candidates: int
    n_terms: int


def candidates(rx: np.ndarray, allowed: np.ndarray, noise: np.ndarray, w: np.ndarray, gamma: float,
               rsrp_min: float) -> list[tuple[int, int, int, float]]:
    """(pixel, cell, tilt, slack) of every candidate that survives pruning."""
    n_cells, _, n_pix = rx.shape
    big = np.where(allowed[:, :, None], rx, np.inf)
    min_r = big.min(axis=1)  # (C, P) weakest allowed power of each cell
    tot_min = min_r.sum(axis=0)
    out: list[tuple[int, int, int, float]] = []
    for p in np.flatnonzero(w > 0):
        for c in range(n_cells):
            others_min = tot_min[p] - min_r[c, p]
            for k in np.flatnonzero(allowed[c]):
                r = rx[c, k, p]
                if r <= 0.0 or r < rsrp_min:
                    continue
                slack = 1.0 - gamma * (noise[p] + others_min) / r
                if slack >= 0.0:
                    out.append((int(p), int(c), int(k), float(slack)))
    return out


def solve_cpsat(rx: np.ndarray, allowed: np.ndarray, noise: np.ndarray, w: np.ndarray, gamma: float,
                rsrp_min: float, time_limit_s: float, hint: np.ndarray | None, seed: int,
                workers: int = 2) -> CpSatResult:
    n_cells, n_tilts, _ = rx.shape
    cands = candidates(rx, allowed, noise, w, gamma, rsrp_min)
    model = cp_model.CpModel()
    z = [[model.NewBoolVar(f"z_{c}_{k}") if allowed[c, k] else None for k in range(n_tilts)]
         for c in range(n_cells)]
    for c in range(n_cells):
        model.AddExactlyOne([v for v in z[c] if v is not None])
    integral = bool(np.all(w == np.round(w)))
    wscale = 1.0 if integral else SCALE / max(float(w.max()), 1e-300)
    w_int = w.astype(np.int64) if integral else np.ceil(w * wscale).astype(np.int64)
    by_pixel: dict[int, list] = {}
    n_terms = 0
    for p, c, k, slack in cands:
        x = model.NewBoolVar(f"w_{p}_{c}_{k}")
        model.AddImplication(x, z[c][k])
        by_pixel.setdefault(p, []).append(x)
        r = rx[c, k, p]
        coefs: list[int] = []
        vars_: list = []
        for c2 in range(n_cells):
            if c2 == c:
                continue
            ks = np.flatnonzero(allowed[c2])
            a = gamma * rx[c2, ks, p] / r
            a = a - a.min()
            for k2, a_k in zip(ks, a, strict=True):
                if a_k <= 0.0:
                    continue
                if slack <= 0.0 or a_k > slack:
                    model.AddImplication(x, z[c2][k2].Not())
                    continue
                q = math.floor(SCALE * a_k / slack)
                if q > 0:
                    coefs.append(q)
                    vars_.append(z[c2][k2])
        if vars_:
            n_terms += len(vars_)
            model.Add(cp_model.LinearExpr.WeightedSum(vars_, coefs) <= SCALE).OnlyEnforceIf(x)
    obj = []
    for p, xs in by_pixel.items():
        model.AddAtMostOne(xs)
        for x in xs:
            obj.append((int(w_int[p]), x))
    model.Maximize(cp_model.LinearExpr.WeightedSum([x for _, x in obj], [q for q, _ in obj]))
    if hint is not None:
        for c in range(n_cells):
            for k in range(n_tilts):
                if z[c][k] is not None:
                    model.AddHint(z[c][k], int(hint[c] == k))
    solver = cpsat_solver(time_limit_s, workers=workers, seed=seed)
    st = solver.Solve(model)
    name = solver.StatusName(st)
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return CpSatResult(None, None, name, len(cands), n_terms)
    t = np.array([next(k for k in range(n_tilts) if z[c][k] is not None and solver.Value(z[c][k]))
                  for c in range(n_cells)], dtype=np.int64)
    bound = float(solver.BestObjectiveBound()) / wscale
    return CpSatResult(t, bound, name, len(cands), n_terms)
