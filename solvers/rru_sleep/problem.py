"""Typed problem and solution of the RRU/cell sleep plan (REFERENCES.md section 6.1).

Facility-location MILP over cells i, demand points j and periods t (hours by default):

    min  sum_t dt [ sum_i N_i (P0_i x_it + dp_i Pmax_i rho_it) + sum_i sum_k Psleep_ik w_itk ]
         + c_sw sum_it (u_it + v_it) + sum_itk E_ik q_itk + M sum_jt d_jt z_jt dt
    s.t. sum_i y_ijt + z_jt = 1                          (demand: every point served, or counted as lost)
         y_ijt <= x_it        (i a candidate server of j) (assignment)
         rho_it = sum_j d_jt y_ijt / (s_ij B_i) <= rho_max x_it   (capacity)
         sum_{i covers j} x_it >= 1   where d_jt > 0    (coverage: a cell above the RSRP floor)
         x_it + sum_k w_itk = 1                         (each cell active or in one sleep level)
         x_it - x_i,t-1 = u_it - v_it                   (switching)
         q_itk >= w_itk - w_i,t-1,k                     (entries into sleep level k)
         sum_{tau=t-U+1..t} u_i,tau <= x_it ; sum_{tau=t-D+1..t} v_i,tau <= 1 - x_it   (min on/off dwell)
         x_it = 1 for i in must_stay_on ;  sum_j d_jt z_jt <= eps sum_j d_jt   (QoS budget)

Power model: EARTH linear model (Auer et al., IEEE Wireless Commun. 18(5), 2011, Table 2; REFERENCES.md 3.1):
an active cell draws ``N_TRX (P0 + dp * rho * Pmax)``, a sleeping cell ``N_TRX * P_sleep`` (one sleep level) or
the power of its sleep level (several levels, e.g. TR 38.864 relative powers scaled by the caller; REFERENCES 3.2,
"verify" values are inputs here, never defaults). Energies are in Wh (power in W times ``period_h``).

The spectral efficiencies ``s_ij`` are plain inputs; the builder in ``dientine.problems.rru_sleep`` derives them
from REFERENCES 1 + 4 (its docstring says whether interference is ignored, the best case).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from solvers.base import (
    BoolArray,
    FloatArray,
    IntArray,
    Problem,
    ProblemDataError,
    Solution,
    array_type,
    check_shape,
)

__all__ = ["RruSleepProblem", "RruSleepSolution", "CONSTRAINT_FAMILIES"]

#: Constraint families named by the infeasibility diagnosis.
CONSTRAINT_FAMILIES = ("coverage", "capacity", "demand", "min_dwell", "must_stay_on")

_NonNeg2D = array_type(float, 2, min_value=0.0)
_NonNeg1D = array_type(float, 1, min_value=0.0)
_Pos1D = array_type(float, 1, min_value=1e-12)
_Rsrp2D = array_type(float, 2, finite=False)


class RruSleepProblem(Problem):
    """Which cells (or RRUs) sleep in each period. Shapes: I cells, J demand points, T periods, K sleep levels.

    ``rsrp_dbm[i, j]`` may be ``-inf`` (no signal); ``spectral_efficiency_bps_hz[i, j] == 0`` means cell i cannot
    serve point j. Cell i is a *candidate server* of point j when ``rsrp_dbm[i, j] >= rsrp_floor_dbm`` and
    ``spectral_efficiency_bps_hz[i, j] > 0`` (restricted to the ``max_candidates`` strongest if set); it *covers*
    j when ``rsrp_dbm[i, j] >= rsrp_floor_dbm``.
    """

    kind: ClassVar[str] = "rru_sleep"

    demand_mbps: _NonNeg2D = Field(description="offered traffic of each demand point per period, (J, T) [Mbit/s]")
    spectral_efficiency_bps_hz: _NonNeg2D = Field(description="s_ij if cell i serves point j, (I, J)")
    rsrp_dbm: _Rsrp2D = Field(description="RSRP of cell i at point j, (I, J) [dBm]")
    rsrp_floor_dbm: float = Field(description="coverage floor: a point is covered by cells at or above it")
    bandwidth_mhz: _Pos1D = Field(description="occupied bandwidth B_i per cell, (I,) [MHz]")
    rho_max: float = Field(1.0, gt=0.0, le=1.0, description="maximum utilisation of an active cell")
    period_h: float = Field(1.0, gt=0.0, description="length of one period [h]")

    n_trx: _Pos1D = Field(description="EARTH N_TRX per cell, (I,)")
    p0_w: _NonNeg1D = Field(description="EARTH P0 per TRX, (I,) [W]")
    delta_p: _NonNeg1D = Field(description="EARTH load slope dp, (I,) [W/W]")
    p_max_w: _NonNeg1D = Field(description="EARTH P_max per TRX, (I,) [W]")
    p_sleep_w: _NonNeg1D = Field(description="EARTH P_sleep per TRX, (I,) [W] (used when no sleep levels)")
    sleep_level_power_w: _NonNeg2D | None = Field(
        None, description="optional: total power of cell i in sleep level k, (I, K) [W]; replaces N_TRX*P_sleep")
    sleep_level_entry_wh: _NonNeg2D | None = Field(
        None, description="optional: energy to enter sleep level k (incl. wake-up), (I, K) [Wh]")

    switch_cost_wh: float = Field(0.0, ge=0.0, description="c_sw: cost of each on or off switch [Wh-equivalent]")
    min_on_periods: int = Field(1, ge=1, description="U: minimum consecutive active periods after switching on")
    min_off_periods: int = Field(1, ge=1, description="D: minimum consecutive sleep periods after switching off")
    must_stay_on: list[int] = Field(default_factory=list, description="cells that never sleep (always-on set A)")
    initial_on: BoolArray | None = Field(None, description="state before period 0, (I,); None: no history")
    cyclic: bool = Field(False, description="period T-1 precedes period 0 (a plan repeated every day)")

    max_unserved_fraction: float | None = Field(
        0.0, ge=0.0, le=1.0,
        description="QoS budget eps per period: lost traffic <= eps * offered; None: no budget (soft, penalised)")
    unserved_penalty_wh_per_mbit: float = Field(
        0.0, ge=0.0, description="M: objective cost of each lost Mbit/s during one hour [Wh-equivalent]")
    mip_rel_gap: float = Field(1e-4, gt=0.0, lt=1.0,
                               description="relative gap at which a plan counts as optimal (solver tolerance)")
    max_candidates: int | None = Field(
        None, ge=1, description="keep only the k strongest (RSRP) candidate servers of each point")

    @property
    def n_cells(self) -> int:
        return int(self.spectral_efficiency_bps_hz.shape[0])

    @property
    def n_points(self) -> int:
        return int(self.demand_mbps.shape[0])

    @property
    def n_periods(self) -> int:
        return int(self.demand_mbps.shape[1])

    @property
    def n_sleep_levels(self) -> int:
        return 1 if self.sleep_level_power_w is None else int(self.sleep_level_power_w.shape[1])

    def check(self) -> None:
        n_i, n_j = self.spectral_efficiency_bps_hz.shape
        if n_i < 1 or n_j < 1:
            raise ProblemDataError("spectral_efficiency_bps_hz", f"expected at least one cell and one point, "
                                                                 f"found shape {(n_i, n_j)}")
        if self.demand_mbps.shape[1] < 1:
            raise ProblemDataError("demand_mbps", "expected at least one period")
        check_shape("demand_mbps", self.demand_mbps, (n_j, self.demand_mbps.shape[1]))
        check_shape("rsrp_dbm", self.rsrp_dbm, (n_i, n_j))
        if np.isposinf(self.rsrp_dbm).any():
            bad = tuple(int(k) for k in np.argwhere(np.isposinf(self.rsrp_dbm))[0])
            raise ProblemDataError(f"rsrp_dbm[{bad[0]},{bad[1]}]", "expected a finite number or -inf, found +inf")
        if not np.isfinite(self.rsrp_floor_dbm):
            raise ProblemDataError("rsrp_floor_dbm", f"expected a finite number, found {self.rsrp_floor_dbm}")
        for name in ("bandwidth_mhz", "n_trx", "p0_w", "delta_p", "p_max_w", "p_sleep_w"):
            check_shape(name, getattr(self, name), (n_i,))
        check_shape("initial_on", self.initial_on, (n_i,))
        if self.sleep_level_power_w is not None:
            check_shape("sleep_level_power_w", self.sleep_level_power_w, (n_i, self.sleep_level_power_w.shape[1]))
            if self.sleep_level_power_w.shape[1] < 1:
                raise ProblemDataError("sleep_level_power_w", "expected at least one sleep level")
        if self.sleep_level_entry_wh is not None:
            k = self.n_sleep_levels
            check_shape("sleep_level_entry_wh", self.sleep_level_entry_wh, (n_i, k))
        for pos, cell in enumerate(self.must_stay_on):
            if not 0 <= cell < n_i:
                raise ProblemDataError(f"must_stay_on[{pos}]", f"expected a cell index in [0, {n_i}), found {cell}")

    # ------------------------------------------------------------------ derived data
    def sleep_power_w(self) -> np.ndarray:
        """Total power of each cell in each sleep level, (I, K) [W]."""
        if self.sleep_level_power_w is not None:
            return self.sleep_level_power_w
        return (self.n_trx * self.p_sleep_w)[:, None]

    def sleep_entry_wh(self) -> np.ndarray:
        """Energy to enter each sleep level, (I, K) [Wh]."""
        if self.sleep_level_entry_wh is not None:
            return self.sleep_level_entry_wh
        return np.zeros((self.n_cells, self.n_sleep_levels))

    def covers(self) -> np.ndarray:
        """a_ij: cell i is at or above the RSRP floor at point j, (I, J) bool."""
        return self.rsrp_dbm >= self.rsrp_floor_dbm

    def candidates(self) -> np.ndarray:
        """Candidate servers, (I, J) bool: covering with s_ij > 0, and among the ``max_candidates`` strongest."""
        cand = self.covers() & (self.spectral_efficiency_bps_hz > 0)
        if self.max_candidates is not None and self.max_candidates < self.n_cells:
            rsrp = np.where(cand, self.rsrp_dbm, -np.inf)
            order = np.argsort(-rsrp, axis=0, kind="stable")[: self.max_candidates]  # (k, J)
            keep = np.zeros_like(cand)
            np.put_along_axis(keep, order, True, axis=0)
            cand &= keep
        return cand

    def has_coupling(self) -> bool:
        """True when periods interact (switching costs, sleep-entry energies or dwell times > 1)."""
        return bool(self.switch_cost_wh > 0 or self.sleep_entry_wh().any()
                    or self.min_on_periods > 1 or self.min_off_periods > 1)


class RruSleepSolution(Solution):
    """A sleep plan. Energies in Wh; ``objective`` = energy_wh + switching_cost_wh + lost-traffic penalty.
    ``energy_all_on_wh`` prices the same demand with every cell active (optimal assignment, no switches)."""

    kind: str = "rru_sleep"
    on: BoolArray | None = Field(None, description="x_it: cell active, (I, T)")
    sleep_level: IntArray | None = Field(None, description="sleep level k of each cell, -1 when active, (I, T)")
    utilisation: FloatArray | None = Field(None, description="rho_it, (I, T)")
    serving_cell: IntArray | None = Field(None, description="cell carrying the largest share of j, -1 lost, (J, T)")
    unserved_mbps: FloatArray | None = Field(None, description="lost traffic per period, (T,) [Mbit/s]")
    energy_wh: float | None = Field(
        None, description="energy of the plan [Wh]: active, loaded and sleeping cells plus sleep-entry energies")
    energy_all_on_wh: float | None = Field(None, description="energy with every cell active, same demand [Wh]")
    energy_saving_fraction: float | None = Field(None, description="1 - energy_wh / energy_all_on_wh")
    switch_count: int | None = Field(None, description="number of on and off switches in the plan")
    switching_cost_wh: float | None = Field(None, description="c_sw x switch_count [Wh-equivalent]")
