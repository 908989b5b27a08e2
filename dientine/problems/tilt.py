"""Build a realistic :class:`solvers.tilt.TiltProblem` from the default hexagonal layout.

Layout (REFERENCES.md §0): 19 sites x 3 sectors (boresights 30/150/270°) of :func:`dientine.layout.hex_layout`,
ISD 500 m, wrap-around (each pixel-cell link uses the nearest of the 7 images of the cell,
:func:`dientine.layout.hex_wrap_offsets_m`); geometry and link budget in :mod:`dientine.problems._common`.
Link budget: TR 38.901 UMa path loss at 3.5 GHz with a seeded LOS draw per link (Table 7.4.2-1), h_BS 25 m,
h_UT 1.5 m (REFERENCES.md §1.6), no shadow fading (a documented simplification); the TR 36.814 Table A.2.1.1-2
3-sector pattern with electrical tilt (REFERENCES.md §1.5 -- never the bare element, whose 65° beam hardly
reacts to tilt). Transmit power 20 W = 43 dBm (EARTH macro P_max, REFERENCES.md §3.1) over 10 MHz (EARTH's
bandwidth), noise -174 dBm/Hz + 10 log10(B) + 9 dB NF (REFERENCES.md §4.4). Pixels: ``n_pixels`` points
uniform over the site hexagons (seeded), equal traffic weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dientine.problems._common import (
    EARTH_BANDWIDTH_MHZ,
    EARTH_MACRO_P_MAX_DBM,
    H_BS_M,
    H_UT_M,
    NOISE_FIGURE_UE_DB,
    hex_links,
    link_budget_dbm,
    rings_for_sites,
    sample_points_m,
    ue_noise_dbm,
)
from solvers.tilt import TiltProblem

# link_budget_dbm, sample_points_m, rings_for_sites and the constants live in dientine.problems._common;
# re-exported here, where they were first defined
__all__ = ["TiltInstance", "build_tilt_problem", "link_budget_dbm", "sample_points_m", "rings_for_sites",
           "EARTH_MACRO_P_MAX_DBM", "EARTH_BANDWIDTH_MHZ", "NOISE_FIGURE_UE_DB"]


@dataclass(frozen=True)
class TiltInstance:
    problem: TiltProblem
    cell_xy_m: np.ndarray
    cell_azimuth_deg: np.ndarray
    pixel_xy_m: np.ndarray


def build_tilt_problem(*, n_sites: int = 19, isd_m: float = 500.0, n_pixels: int = 5000,
                       tilts_deg: np.ndarray | None = None, fc_ghz: float = 3.5, h_bs_m: float = H_BS_M,
                       h_ut_m: float = H_UT_M, tx_power_dbm: float = EARTH_MACRO_P_MAX_DBM,
                       bandwidth_mhz: float = EARTH_BANDWIDTH_MHZ, objective: str = "coverage",
                       sinr_min_db: float | None = None, initial_tilt_deg: float | None = None,
                       wraparound: bool = True, seed: int = 0) -> TiltInstance:
    """A tilt problem on the default layout: tilts 0..15° (1° steps) unless given; ``initial_tilt_deg`` sets
    every cell's current tilt (must be one of ``tilts_deg``)."""
    rng = np.random.default_rng(seed)
    tilts = np.arange(16.0) if tilts_deg is None else np.asarray(tilts_deg, dtype=float)
    links = hex_links(n_sites=n_sites, isd_m=isd_m, n_points=n_pixels, tilts_deg=tilts, fc_ghz=fc_ghz,
                      h_bs_m=h_bs_m, h_ut_m=h_ut_m, tx_power_dbm=tx_power_dbm, wraparound=wraparound, rng=rng)
    noise_dbm = ue_noise_dbm(bandwidth_mhz)
    kwargs = {} if sinr_min_db is None else {"sinr_min_db": sinr_min_db}
    init = None
    if initial_tilt_deg is not None:
        hit = np.flatnonzero(np.isclose(tilts, initial_tilt_deg))
        if not hit.size:
            raise ValueError(f"initial_tilt_deg: expected one of {tilts.tolist()}, found {initial_tilt_deg}")
        init = np.full(links.cells.n_cells, int(hit[0]))
    problem = TiltProblem(rx_power_mw=10.0 ** (links.rx_dbm / 10.0),
                          noise_mw=np.full(n_pixels, 10.0 ** (noise_dbm / 10)),
                          weight=np.ones(n_pixels), tilts_deg=tilts, objective=objective,
                          initial_tilt_index=init, seed=seed, **kwargs)
    return TiltInstance(problem, links.cell_xy_m, links.cells.azimuth_deg, links.point_xy_m)
