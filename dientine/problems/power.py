"""Build a realistic :class:`solvers.power.PowerProblem` from the default hexagonal layout.

Same geometry and link budget as :mod:`dientine.problems.tilt` (19 sites x 3 sectors, ISD 500 m, wrap-around,
TR 38.901 UMa at 3.5 GHz with a seeded LOS draw, TR 36.814 sector pattern), every cell at the TR 36.814 case-1
electrical tilt of 15° (REFERENCES.md §1.5). Receivers: ``n_points`` uniform points, each served by its strongest
cell at equal power (fixed association). Targets: SINR >= -10 dB, the TR 36.942 Annex A.1 SINR_MIN below which
the rate is zero (REFERENCES.md §4.1). Power cap 20 W per cell (EARTH macro P_max, §3.1); objective EARTH input
power with the macro parameters per sector-cell (N_TRX 6 per site shared by 3 sectors, P0 130 W, Delta_p 4.7).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dientine.problems.rru_sleep import hex_cells
from dientine.problems.tilt import (
    EARTH_BANDWIDTH_MHZ,
    NOISE_FIGURE_UE_DB,
    link_budget_dbm,
    rings_for_sites,
    sample_points_m,
)
from dientine.radio import thermal_noise_dbm
from solvers.power import PowerProblem

__all__ = ["PowerInstance", "build_power_problem"]

CASE1_ETILT_DEG = 15.0
"""TR 36.814 case 1 (ISD 500 m) electrical tilt (REFERENCES.md §1.5)."""
EARTH_MACRO_P_MAX_W = 20.0
EARTH_MACRO_PER_SECTOR = {"n_trx": 6.0 / 3.0, "p0_w": 130.0, "delta_p": 4.7}
"""EARTH macro (Auer et al. 2011 Table 2, REFERENCES.md §3.1), the site's 6 TRX shared by its 3 sectors."""
SINR_MIN_DB = -10.0
"""TR 36.942 Annex A.1 DL SINR_MIN (REFERENCES.md §4.1)."""


@dataclass(frozen=True)
class PowerInstance:
    problem: PowerProblem
    cell_xy_m: np.ndarray
    point_xy_m: np.ndarray


def build_power_problem(*, n_sites: int = 19, isd_m: float = 500.0, n_points: int = 5000, fc_ghz: float = 3.5,
                        h_bs_m: float = 25.0, h_ut_m: float = 1.5, elec_tilt_deg: float = CASE1_ETILT_DEG,
                        sinr_target_db: float = SINR_MIN_DB, mode: str = "min_power",
                        objective: str = "earth_w", bandwidth_mhz: float = EARTH_BANDWIDTH_MHZ,
                        seed: int = 0) -> PowerInstance:
    rng = np.random.default_rng(seed)
    sites, cell_xy, az = hex_cells(n_sites, isd_m)
    rings = rings_for_sites(n_sites)
    full = 1 + 3 * rings * (rings + 1) == n_sites
    pts = sample_points_m(sites, isd_m, n_points, rng)
    # gain = received power at 0 dBm transmit power, as a linear ratio (dB -> linear)
    g_db = link_budget_dbm(cell_xy, az, pts, np.array([elec_tilt_deg]), isd_m=isd_m,
                           rings=rings if full else None, fc_ghz=fc_ghz, h_bs_m=h_bs_m, h_ut_m=h_ut_m,
                           tx_power_dbm=0.0, rng=rng)[:, 0, :].T  # (points, cells)
    gain = 10.0 ** (g_db / 10.0)
    serving = np.argmax(gain, axis=1)
    noise_w = 10.0 ** ((float(thermal_noise_dbm(bandwidth_mhz * 1e6, NOISE_FIGURE_UE_DB)) - 30.0) / 10.0)
    n_c = cell_xy.shape[0]
    problem = PowerProblem(
        gain=gain, serving_cell=serving, noise_w=np.full(n_points, noise_w),
        sinr_target_db=None if mode == "max_min_sinr" else np.full(n_points, sinr_target_db),
        p_max_w=np.full(n_c, EARTH_MACRO_P_MAX_W), mode=mode, objective=objective,
        earth_n_trx=np.full(n_c, EARTH_MACRO_PER_SECTOR["n_trx"]),
        earth_p0_w=np.full(n_c, EARTH_MACRO_PER_SECTOR["p0_w"]),
        earth_delta_p=np.full(n_c, EARTH_MACRO_PER_SECTOR["delta_p"]))
    return PowerInstance(problem, cell_xy, pts)
