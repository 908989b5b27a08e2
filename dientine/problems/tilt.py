"""Build a realistic :class:`solvers.tilt.TiltProblem` from the default hexagonal layout.

Layout (REFERENCES.md §0): 19 sites x 3 sectors (boresights 30/150/270°), ISD 500 m, wrap-around (each
pixel-cell link uses the nearest of the 7 images of the cell, :func:`dientine.radio.hex_wraparound_offsets_m`).
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

from dientine.problems.rru_sleep import hex_cells
from dientine.radio import (
    antenna_gain_dbi,
    hex_wraparound_offsets_m,
    los_probability,
    path_loss_db,
    thermal_noise_dbm,
)
from solvers.tilt import TiltProblem

__all__ = ["TiltInstance", "build_tilt_problem", "link_budget_dbm", "sample_points_m", "rings_for_sites"]

EARTH_MACRO_P_MAX_DBM = 10.0 * np.log10(20.0e3)
"""20 W (EARTH macro P_max, Auer et al. 2011 Table 2, REFERENCES.md §3.1) in dBm."""
EARTH_BANDWIDTH_MHZ = 10.0
"""EARTH's reference bandwidth (REFERENCES.md §3.1)."""
NOISE_FIGURE_UE_DB = 9.0
"""UE noise figure (REFERENCES.md §4.4, TR 38.901 Table 7.8-1)."""


@dataclass(frozen=True)
class TiltInstance:
    problem: TiltProblem
    cell_xy_m: np.ndarray
    cell_azimuth_deg: np.ndarray
    pixel_xy_m: np.ndarray


def rings_for_sites(n_sites: int) -> int:
    rings = 0
    while 1 + 3 * rings * (rings + 1) < n_sites:
        rings += 1
    return rings


def sample_points_m(sites: np.ndarray, isd_m: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniform over the union of the site hexagons (apothem ISD/2)."""
    lo, hi = sites.min(axis=0) - isd_m, sites.max(axis=0) + isd_m
    ang = np.deg2rad(np.arange(6) * 60.0)
    normals = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    out: list[np.ndarray] = []
    count = 0
    while count < n:
        cand = rng.uniform(lo, hi, size=(4 * n, 2))
        rel = cand[:, None, :] - sites[None, :, :]
        inside = ((rel @ normals.T) <= isd_m / 2.0).all(axis=2).any(axis=1)
        out.append(cand[inside])
        count += int(inside.sum())
    return np.concatenate(out)[:n]


def link_budget_dbm(cell_xy: np.ndarray, az_deg: np.ndarray, pts: np.ndarray, tilts_deg: np.ndarray, *,
                    isd_m: float, rings: int | None, fc_ghz: float, h_bs_m: float, h_ut_m: float,
                    tx_power_dbm: float, rng: np.random.Generator) -> np.ndarray:
    """Received power (dBm), shape (n_cells, n_tilts, n_points); wrap-around when ``rings`` is given."""
    dx = pts[None, :, 0] - cell_xy[:, None, 0]
    dy = pts[None, :, 1] - cell_xy[:, None, 1]
    if rings is not None:
        offs = hex_wraparound_offsets_m(isd_m, rings)  # (7, 2)
        ddx = dx[None] - offs[:, 0, None, None]
        ddy = dy[None] - offs[:, 1, None, None]
        best = np.argmin(np.hypot(ddx, ddy), axis=0)
        dx = np.take_along_axis(ddx, best[None], 0)[0]
        dy = np.take_along_axis(ddy, best[None], 0)[0]
    d2d = np.maximum(np.hypot(dx, dy), 10.0)  # TR 38.901 validity starts at 10 m (the radio clamp)
    los = rng.random(d2d.shape) < los_probability("UMa", d2d, h_ut_m)
    pl = path_loss_db("UMa", d2d, h_bs_m, h_ut_m, fc_ghz, los)
    azimuth = np.rad2deg(np.arctan2(dy, dx))
    zenith = 90.0 + np.rad2deg(np.arctan2(h_bs_m - h_ut_m, d2d))
    out = np.empty((cell_xy.shape[0], tilts_deg.size, pts.shape[0]))
    for k, tilt in enumerate(tilts_deg):
        gain = antenna_gain_dbi("tr36814-sector", azimuth, zenith, bearing_deg=az_deg[:, None],
                                elec_tilt_deg=float(tilt))
        out[:, k, :] = tx_power_dbm + gain - pl
    return out


def build_tilt_problem(*, n_sites: int = 19, isd_m: float = 500.0, n_pixels: int = 5000,
                       tilts_deg: np.ndarray | None = None, fc_ghz: float = 3.5, h_bs_m: float = 25.0,
                       h_ut_m: float = 1.5, tx_power_dbm: float = EARTH_MACRO_P_MAX_DBM,
                       bandwidth_mhz: float = EARTH_BANDWIDTH_MHZ, objective: str = "coverage",
                       sinr_min_db: float | None = None, initial_tilt_deg: float | None = None,
                       wraparound: bool = True, seed: int = 0) -> TiltInstance:
    """A tilt problem on the default layout: tilts 0..15° (1° steps) unless given; ``initial_tilt_deg`` sets
    every cell's current tilt (must be one of ``tilts_deg``)."""
    rng = np.random.default_rng(seed)
    tilts = np.arange(16.0) if tilts_deg is None else np.asarray(tilts_deg, dtype=float)
    sites, cell_xy, az = hex_cells(n_sites, isd_m)
    rings = rings_for_sites(n_sites)
    full = 1 + 3 * rings * (rings + 1) == n_sites
    pts = sample_points_m(sites, isd_m, n_pixels, rng)
    rx_dbm = link_budget_dbm(cell_xy, az, pts, tilts, isd_m=isd_m, rings=rings if (wraparound and full) else None,
                             fc_ghz=fc_ghz, h_bs_m=h_bs_m, h_ut_m=h_ut_m, tx_power_dbm=tx_power_dbm, rng=rng)
    noise_dbm = float(thermal_noise_dbm(bandwidth_mhz * 1e6, NOISE_FIGURE_UE_DB))
    kwargs = {} if sinr_min_db is None else {"sinr_min_db": sinr_min_db}
    init = None
    if initial_tilt_deg is not None:
        hit = np.flatnonzero(np.isclose(tilts, initial_tilt_deg))
        if not hit.size:
            raise ValueError(f"initial_tilt_deg: expected one of {tilts.tolist()}, found {initial_tilt_deg}")
        init = np.full(cell_xy.shape[0], int(hit[0]))
    problem = TiltProblem(rx_power_mw=10.0 ** (rx_dbm / 10.0), noise_mw=np.full(n_pixels, 10.0 ** (noise_dbm / 10)),
                          weight=np.ones(n_pixels), tilts_deg=tilts, objective=objective,
                          initial_tilt_index=init, seed=seed, **kwargs)
    return TiltInstance(problem, cell_xy, az, pts)
