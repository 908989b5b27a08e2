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

from dientine.problems._common import (
    CASE1_ETILT_DEG,
    EARTH_BANDWIDTH_MHZ,
    EARTH_MACRO_P_MAX_W,
    H_BS_M,
    H_UT_M,
    hex_links,
    ue_noise_dbm,
)
from solvers.power import SINR_MIN_DB_TR36942, PowerProblem

__all__ = ["PowerInstance", "build_power_problem"]

EARTH_MACRO_PER_SECTOR = {"n_trx": 6.0 / 3.0, "p0_w": 130.0, "delta_p": 4.7}
"""EARTH macro (Auer et al. 2011 Table 2, REFERENCES.md §3.1), the site's 6 TRX shared by its 3 sectors."""


@dataclass(frozen=True)
class PowerInstance:
    problem: PowerProblem
    cell_xy_m: np.ndarray
    point_xy_m: np.ndarray


def build_power_problem(*, n_sites: int = 19, isd_m: float = 500.0, n_points: int = 5000, fc_ghz: float = 3.5,
                        h_bs_m: float = H_BS_M, h_ut_m: float = H_UT_M, elec_tilt_deg: float = CASE1_ETILT_DEG,
                        sinr_target_db: float = SINR_MIN_DB_TR36942, mode: str = "min_power",
                        objective: str = "earth_w", bandwidth_mhz: float = EARTH_BANDWIDTH_MHZ,
                        seed: int = 0) -> PowerInstance:
    rng = np.random.default_rng(seed)
    # gain = received power at 0 dBm transmit power, as a linear ratio (dB -> linear)
    links = hex_links(n_sites=n_sites, isd_m=isd_m, n_points=n_points, tilts_deg=np.array([elec_tilt_deg]),
                      fc_ghz=fc_ghz, h_bs_m=h_bs_m, h_ut_m=h_ut_m, tx_power_dbm=0.0, wraparound=True, rng=rng)
    gain = 10.0 ** (links.rx_dbm[:, 0, :].T / 10.0)  # (points, cells)
    serving = np.argmax(gain, axis=1)
    noise_w = 10.0 ** ((ue_noise_dbm(bandwidth_mhz) - 30.0) / 10.0)
    n_c = links.cells.n_cells
    problem = PowerProblem(
        gain=gain, serving_cell=serving, noise_w=np.full(n_points, noise_w),
        sinr_target_db=None if mode == "max_min_sinr" else np.full(n_points, sinr_target_db),
        p_max_w=np.full(n_c, EARTH_MACRO_P_MAX_W), mode=mode, objective=objective,
        earth_n_trx=np.full(n_c, EARTH_MACRO_PER_SECTOR["n_trx"]),
        earth_p0_w=np.full(n_c, EARTH_MACRO_PER_SECTOR["p0_w"]),
        earth_delta_p=np.full(n_c, EARTH_MACRO_PER_SECTOR["delta_p"]))
    return PowerInstance(problem, links.cell_xy_m, links.point_xy_m)
