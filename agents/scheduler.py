"""Resource scheduler: shares each cell's resources (PRBs x time, as a fraction of the cell) among its users.

Fluid model per tick. User u attached to cell c with spectral efficiency ``se_u`` (bps/Hz) and demand ``d_u``
(Mbps) needs the resource fraction ``r_u = d_u / (se_u B_c)`` to be satisfied; the cell may hand out at most
``A_c`` (its available fraction, 0 for a sleeping/failed cell). Every policy is a weighted water-filling

    x_u = min(r_u, w_u * lambda_c),   lambda_c chosen so that sum_u x_u = A_c (or every user satisfied)

and the user's rate is ``x_u se_u B_c`` (never above ``d_u``). Policies:

* ``equal_share`` (w_u = 1): users with small demand get exactly their demand, the others share the rest
  equally in resource fraction.
* ``proportional_fair`` (w_u = the given per-user weights, default 1): the *equal-time-share closed form* of PF,
  i.e. the maximiser of ``sum_u w_u log(rate_u)`` subject to the resource budget and the demand caps. In a fluid
  model without fast fading this is PF's long-run fixed point (PF averages throughput over a window of TTIs,
  far shorter than a tick of seconds to minutes), so with unit weights it allocates exactly as
  ``equal_share``; the weights give weighted PF (e.g. priority classes). No time-average throughput state is kept.
* ``equal_rate`` (w_u = 1 / se_u): max-min throughput fairness (every unsatisfied user of a cell gets the same
  rate).

Users are grouped by cell with a counting sort (O(n)); the water level of a cell is found by a monotone
fixed-point iteration (O(n_c) per step, a few steps), falling back to a sort by ``r_u / w_u`` (O(n_c log n_c))
after 16 steps. Users with zero spectral efficiency or on a cell with no available resources are counted as
blocked (rate 0) in their cell; users with no serving cell (-1) as unassigned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np

Policy = Literal["equal_share", "proportional_fair", "equal_rate"]
_POLICY_CODE = {"equal_share": 0, "proportional_fair": 1, "equal_rate": 2}


class SchedulerError(ValueError):
    """Bad scheduler input; the message names the argument and the first offending index."""


@dataclass(frozen=True)
class ScheduleResult:
    """Per-user rates and per-cell counters of one scheduling pass.

    ``prb_utilisation[c]`` = sum of resource fractions used in cell c (<= its available fraction);
    ``unsatisfied_mbps[c]`` = demand minus rate summed over c's users (blocked users included);
    ``n_unsatisfied[c]`` users of c with rate < demand (blocked included); ``n_blocked[c]`` users of c with
    demand > 0 and rate 0 because the cell has no resources or their spectral efficiency is 0.
    Users with no serving cell are counted in ``n_unassigned`` / ``unassigned_demand_mbps`` only."""

    rate_mbps: np.ndarray
    prb_utilisation: np.ndarray
    n_users: np.ndarray
    n_active: np.ndarray
    demand_mbps: np.ndarray
    served_mbps: np.ndarray
    unsatisfied_mbps: np.ndarray
    n_unsatisfied: np.ndarray
    n_blocked: np.ndarray
    n_unassigned: int
    unassigned_demand_mbps: float

    @property
    def total_unserved_mbps(self) -> float:
        return float(self.unsatisfied_mbps.sum()) + self.unassigned_demand_mbps


@numba.njit(cache=True)
def _water_level(need, w, key, avail, max_iter):
    """Water level lambda of ``x_k = min(need_k, w_k lambda)`` with ``sum x = avail`` (inf if every user fits).

    Fixed-point iteration ``lambda <- (avail - sum_{key <= lambda} need) / (sum_{key > lambda} w)``, which rises
    monotonically to the exact level (each step saturates at least one more user or stops); after ``max_iter``
    steps it falls back to the sorted sweep (O(m log m))."""
    m = need.shape[0]
    total_need = 0.0
    total_w = 0.0
    for k in range(m):
        total_need += need[k]
        total_w += w[k]
    if total_need <= avail:
        return np.inf
    lam = avail / total_w
    for _ in range(max_iter):
        sat_need = 0.0
        sat_w = 0.0
        for k in range(m):
            if key[k] <= lam:
                sat_need += need[k]
                sat_w += w[k]
        rem_w = total_w - sat_w
        new = (avail - sat_need) / rem_w if rem_w > 0.0 else np.inf
        if new <= lam:
            return lam
        lam = new
    srt = np.argsort(key)
    a_rem = avail
    w_rem = total_w
    for j in range(m):
        k = srt[j]
        lam = a_rem / w_rem
        if key[k] <= lam:
            a_rem -= need[k]
            w_rem -= w[k]
        else:
            return lam
    return np.inf


@numba.njit(cache=True, nogil=True)
def _schedule_kernel(serving, se_bps_hz, demand_mbps, weight, policy, bandwidth_hz, avail, n_cells):
    n = serving.shape[0]
    n_users = np.zeros(n_cells, dtype=np.int64)
    n_active = np.zeros(n_cells, dtype=np.int64)
    dem_c = np.zeros(n_cells)
    served_c = np.zeros(n_cells)
    unsat_c = np.zeros(n_cells)
    n_unsat = np.zeros(n_cells, dtype=np.int64)
    n_block = np.zeros(n_cells, dtype=np.int64)
    util = np.zeros(n_cells)
    rate = np.zeros(n)
    # pass 1: counters; count schedulable users per cell (demand > 0, se > 0, resources available)
    start = np.zeros(n_cells + 1, dtype=np.int64)
    n_unassigned = 0
    unassigned_mbps = 0.0
    for u in range(n):
        c = serving[u]
        d = demand_mbps[u]
        if c < 0:
            n_unassigned += 1
            unassigned_mbps += d
            continue
        n_users[c] += 1
        if d > 0.0:
            n_active[c] += 1
            dem_c[c] += d
            if se_bps_hz[u] > 0.0 and avail[c] > 0.0:
                start[c + 1] += 1
            else:
                n_block[c] += 1
                n_unsat[c] += 1
                unsat_c[c] += d
    for c in range(n_cells):
        start[c + 1] += start[c]
    # pass 2: counting sort of schedulable users into contiguous per-cell arrays (sequential reads)
    m_all = start[n_cells]
    users = np.empty(m_all, dtype=np.int64)
    need = np.empty(m_all)
    fill = start[:n_cells].copy()
    for u in range(n):
        c = serving[u]
        if c < 0 or demand_mbps[u] <= 0.0 or se_bps_hz[u] <= 0.0 or avail[c] <= 0.0:
            continue
        k = fill[c]
        fill[c] += 1
        users[k] = u
        need[k] = demand_mbps[u] * 1e6 / (se_bps_hz[u] * bandwidth_hz[c])
    if policy == 0:  # unit weights: the sort key is the need itself
        w = np.ones(m_all)
        key = need
    else:
        w = np.empty(m_all)
        key = np.empty(m_all)
        for k in range(m_all):
            u = users[k]
            w[k] = 1.0 / se_bps_hz[u] if policy == 2 else weight[u]
            key[k] = need[k] / w[k]
    # pass 3: water-filling per cell
    for c in range(n_cells):
        a, b = start[c], start[c + 1]
        if b == a:
            continue
        lam = _water_level(need[a:b], w[a:b], key[a:b], avail[c], 16)
        used = 0.0
        for k in range(a, b):
            u = users[k]
            d = demand_mbps[u]
            if key[k] <= lam:
                rate[u] = d
                used += need[k]
                served_c[c] += d
            else:
                x = w[k] * lam
                r = min(x / need[k], 1.0) * d
                rate[u] = r
                used += x
                served_c[c] += r
                if r < d:
                    n_unsat[c] += 1
                    unsat_c[c] += d - r
        util[c] = min(used, avail[c])
    return (rate, util, n_users, n_active, dem_c, served_c, unsat_c, n_unsat, n_block, n_unassigned,
            unassigned_mbps)


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


@numba.njit(cache=True)
def _first_negative_or_nonfinite(a):
    """Index of the first value that is NaN, infinite or < 0 (-1: none): one pass, no temporaries."""
    for i in range(a.shape[0]):
        v = a[i]
        if not (v >= 0.0 and v < np.inf):
            return i
    return -1


@numba.njit(cache=True)
def _first_outside(a, lo, hi):
    """Index of the first value outside [lo, hi] (-1: none)."""
    for i in range(a.shape[0]):
        if a[i] < lo or a[i] > hi:
            return i
    return -1


_ONES: dict[int, np.ndarray] = {}


def _ones(n: int) -> np.ndarray:
    """A read-only array of n ones (default weights), kept per size so a tick allocates nothing."""
    w = _ONES.get(n)
    if w is None:
        if len(_ONES) > 16:
            _ONES.clear()
        w = np.ones(n)
        w.flags.writeable = False
        _ONES[n] = w
    return w


def schedule(serving_cell: np.ndarray, se_bps_hz: np.ndarray, demand_mbps: np.ndarray,
             bandwidth_hz: np.ndarray | float, available_fraction: np.ndarray | float = 1.0, *,
             n_cells: int | None = None, policy: Policy = "equal_share",
             weights: np.ndarray | None = None, check: bool = True) -> ScheduleResult:
    """Share every cell's resources among its users (see module docstring).

    serving_cell : int per user, the cell index or -1 for none.
    se_bps_hz : spectral efficiency per user (>= 0).
    demand_mbps : offered demand per user (>= 0).
    bandwidth_hz : per cell (or one value for all cells).
    available_fraction : per cell in [0, 1] (e.g. ``BaseStations.available_fraction()``).
    n_cells : number of cells (default: the length of ``bandwidth_hz`` or ``available_fraction``).
    weights : per-user weights > 0 for ``proportional_fair`` (default 1).
    check : validate the inputs (default). ``False`` is for callers that build the arrays themselves (the
        simulation tick): contiguous float64/int64 arrays of the right shapes, ``bandwidth_hz`` and
        ``available_fraction`` per cell, values in range; nothing is checked or converted.
    """
    if not check:
        w = _ones(serving_cell.shape[0]) if weights is None else weights
        out = _schedule_kernel(serving_cell, se_bps_hz, demand_mbps, w, _POLICY_CODE[policy], bandwidth_hz,
                               available_fraction, int(n_cells))
        return ScheduleResult(*out[:9], n_unassigned=int(out[9]), unassigned_demand_mbps=float(out[10]))
    if policy not in _POLICY_CODE:
        raise SchedulerError(f"policy: expected one of {sorted(_POLICY_CODE)}, found {policy!r}")
    serving = np.ascontiguousarray(serving_cell, dtype=np.int64)
    se = np.ascontiguousarray(se_bps_hz, dtype=np.float64)
    dem = np.ascontiguousarray(demand_mbps, dtype=np.float64)
    n = serving.shape[0]
    for name, arr in (("se_bps_hz", se), ("demand_mbps", dem)):
        if arr.shape != (n,):
            raise SchedulerError(f"{name}: expected shape ({n},) like serving_cell, found {arr.shape}")
        i = _first_negative_or_nonfinite(arr)
        if i >= 0:
            raise SchedulerError(f"{name}[{i}]: expected a finite value >= 0, found {arr[i]!r}")
    if n_cells is None:
        for arr in (bandwidth_hz, available_fraction):
            if np.ndim(arr) == 1:
                n_cells = len(arr)
                break
        else:
            n_cells = int(serving.max()) + 1 if n else 0
    bw = np.ascontiguousarray(np.broadcast_to(np.asarray(bandwidth_hz, dtype=np.float64), (n_cells,)))
    av = np.ascontiguousarray(np.broadcast_to(np.asarray(available_fraction, dtype=np.float64), (n_cells,)))
    bad = ~np.isfinite(bw) | (bw <= 0)
    if bad.any():
        i = _first_bad(bad)
        raise SchedulerError(f"bandwidth_hz[{i}]: expected a finite value > 0, found {bw[i]!r}")
    bad = ~np.isfinite(av) | (av < 0) | (av > 1)
    if bad.any():
        i = _first_bad(bad)
        raise SchedulerError(f"available_fraction[{i}]: expected a value in [0, 1], found {av[i]!r}")
    i = _first_outside(serving, -1, int(n_cells) - 1)
    if i >= 0:
        raise SchedulerError(f"serving_cell[{i}]: expected -1 or a cell index in [0, {n_cells - 1}], "
                             f"found {serving[i]}")
    if weights is None:
        w = _ones(n)
    else:
        w = np.ascontiguousarray(weights, dtype=np.float64)
        if w.shape != (n,):
            raise SchedulerError(f"weights: expected shape ({n},), found {w.shape}")
        bad = ~np.isfinite(w) | (w <= 0)
        if bad.any():
            i = _first_bad(bad)
            raise SchedulerError(f"weights[{i}]: expected a finite value > 0, found {w[i]!r}")
    out = _schedule_kernel(serving, se, dem, w, _POLICY_CODE[policy], bw, av, int(n_cells))
    return ScheduleResult(*out[:9], n_unassigned=int(out[9]), unassigned_demand_mbps=float(out[10]))
