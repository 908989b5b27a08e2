"""Geometry and link-budget pieces shared by the tilt, power and spectrum builders.

* Cells: the ``n_sites`` sites nearest the centre of :func:`dientine.layout.hex_layout` (REFERENCES.md §0; 3
  sectors, boresights 30/150/270°), in that function's order (centre first, then by ring and angle).
* Points: uniform over the union of the site hexagons (apothem ISD/2), seeded.
* Link budget: TR 38.901 UMa path loss with a seeded LOS draw per link (Table 7.4.2-1), the TR 36.814 Table
  A.2.1.1-2 3-sector pattern with electrical tilt (REFERENCES.md §1.5), wrap-around through the nearest of the 7
  cluster images (:func:`dientine.layout.hex_wrap_offsets_m`); no shadow fading (a documented simplification).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from dientine.layout import CellTable, hex_layout, hex_wrap_offsets_m
from dientine.radio import antenna_gain_dbi, los_probability, path_loss_db, thermal_noise_dbm

__all__ = ["EARTH_MACRO_P_MAX_W", "EARTH_MACRO_P_MAX_DBM", "EARTH_BANDWIDTH_MHZ", "NOISE_FIGURE_UE_DB",
           "CASE1_ETILT_DEG", "H_BS_M", "H_UT_M", "MIN_D2D_M", "sites_in_rings", "rings_for_sites",
           "hex_sector_cells", "cell_xy_m", "sample_points_m", "sector_gain_dbi", "link_budget_dbm",
           "ue_noise_dbm", "HexLinks", "hex_links"]

EARTH_MACRO_P_MAX_W = 20.0
"""EARTH macro P_max (Auer et al. 2011 Table 2, REFERENCES.md §3.1)."""
EARTH_MACRO_P_MAX_DBM = 10.0 * np.log10(EARTH_MACRO_P_MAX_W * 1e3)
"""The same 20 W in dBm."""
EARTH_BANDWIDTH_MHZ = 10.0
"""EARTH's reference bandwidth (REFERENCES.md §3.1)."""
NOISE_FIGURE_UE_DB = 9.0
"""UE noise figure (REFERENCES.md §4.4, TR 38.901 Table 7.8-1)."""
CASE1_ETILT_DEG = 15.0
"""TR 36.814 case 1 (ISD 500 m) electrical tilt (REFERENCES.md §1.5)."""
H_BS_M = 25.0
H_UT_M = 1.5
"""UMa base-station and UE heights (REFERENCES.md §1.6, TR 38.901 Table 7.4.1-1)."""
MIN_D2D_M = 10.0
"""TR 38.901 Table 7.4.1-1 validity starts at 10 m (the radio clamp)."""


def sites_in_rings(rings: int) -> int:
    """``1 + 3 n (n + 1)`` sites in a hexagonal layout of ``n`` rings (REFERENCES.md §0)."""
    return 1 + 3 * rings * (rings + 1)


def rings_for_sites(n_sites: int) -> int:
    """The fewest rings holding ``n_sites`` sites."""
    rings = 0
    while sites_in_rings(rings) < n_sites:
        rings += 1
    return rings


def hex_sector_cells(n_sites: int, isd_m: float, *, height_m: float, tx_power_dbm: float,
                     elec_tilt_deg: float = 0.0) -> CellTable:
    """The 3-sector cells of the ``n_sites`` sites of :func:`dientine.layout.hex_layout` nearest the centre."""
    if n_sites < 1:
        raise ValueError(f"n_sites: expected >= 1, found {n_sites}")
    table = hex_layout(rings_for_sites(n_sites), isd_m, sectors=3, height_m=height_m, tx_power_dbm=tx_power_dbm,
                       elec_tilt_deg=elec_tilt_deg)
    keep = table.site_id < n_sites
    return dataclasses.replace(table, **{f.name: getattr(table, f.name)[keep] for f in dataclasses.fields(table)
                                         if f.name != "wrap_offsets_m"})


def cell_xy_m(table: CellTable) -> np.ndarray:
    """(n_cells, 2) cell positions."""
    return np.column_stack((table.x_m, table.y_m))


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


def sector_gain_dbi(dx: np.ndarray, dy: np.ndarray, d2d: np.ndarray, bearing_deg: np.ndarray, *,
                    elec_tilt_deg: float, h_bs_m: float, h_ut_m: float) -> np.ndarray:
    """TR 36.814 3-sector antenna gain (dBi) of cells with boresight ``bearing_deg`` towards points at offset
    (``dx``, ``dy``) and horizontal distance ``d2d`` from them."""
    azimuth = np.rad2deg(np.arctan2(dy, dx))
    zenith = 90.0 + np.rad2deg(np.arctan2(h_bs_m - h_ut_m, d2d))
    return antenna_gain_dbi("tr36814-sector", azimuth, zenith, bearing_deg=bearing_deg, elec_tilt_deg=elec_tilt_deg)


def link_budget_dbm(cell_xy: np.ndarray, az_deg: np.ndarray, pts: np.ndarray, tilts_deg: np.ndarray, *,
                    isd_m: float, rings: int | None, fc_ghz: float, h_bs_m: float, h_ut_m: float,
                    tx_power_dbm: float, rng: np.random.Generator) -> np.ndarray:
    """Received power (dBm), shape (n_cells, n_tilts, n_points); wrap-around when ``rings`` is given."""
    dx = pts[None, :, 0] - cell_xy[:, None, 0]
    dy = pts[None, :, 1] - cell_xy[:, None, 1]
    if rings is not None:
        offs = hex_wrap_offsets_m(rings, isd_m)  # (7, 2)
        ddx = dx[None] - offs[:, 0, None, None]
        ddy = dy[None] - offs[:, 1, None, None]
        best = np.argmin(np.hypot(ddx, ddy), axis=0)
        dx = np.take_along_axis(ddx, best[None], 0)[0]
        dy = np.take_along_axis(ddy, best[None], 0)[0]
    d2d = np.maximum(np.hypot(dx, dy), MIN_D2D_M)
    los = rng.random(d2d.shape) < los_probability("UMa", d2d, h_ut_m)
    pl = path_loss_db("UMa", d2d, h_bs_m, h_ut_m, fc_ghz, los)
    out = np.empty((cell_xy.shape[0], tilts_deg.size, pts.shape[0]))
    for k, tilt in enumerate(tilts_deg):
        gain = sector_gain_dbi(dx, dy, d2d, az_deg[:, None], elec_tilt_deg=float(tilt), h_bs_m=h_bs_m,
                               h_ut_m=h_ut_m)
        out[:, k, :] = tx_power_dbm + gain - pl
    return out


@dataclass(frozen=True)
class HexLinks:
    """Cells, points and received powers of :func:`hex_links`."""

    cells: CellTable
    cell_xy_m: np.ndarray
    point_xy_m: np.ndarray
    rx_dbm: np.ndarray
    """(n_cells, n_tilts, n_points) received power (dBm)."""


def hex_links(*, n_sites: int, isd_m: float, n_points: int, tilts_deg: np.ndarray, fc_ghz: float, h_bs_m: float,
              h_ut_m: float, tx_power_dbm: float, wraparound: bool, rng: np.random.Generator) -> HexLinks:
    """:func:`hex_sector_cells`, ``n_points`` :func:`sample_points_m` over their sites and the
    :func:`link_budget_dbm` at each of ``tilts_deg``; wrap-around when asked and ``n_sites`` fills whole rings."""
    cells = hex_sector_cells(n_sites, isd_m, height_m=h_bs_m, tx_power_dbm=tx_power_dbm)
    cell_xy = cell_xy_m(cells)
    rings = rings_for_sites(n_sites)
    wrap = wraparound and sites_in_rings(rings) == n_sites
    pts = sample_points_m(cells.site_positions_m(), isd_m, n_points, rng)
    rx_dbm = link_budget_dbm(cell_xy, cells.azimuth_deg, pts, np.asarray(tilts_deg, dtype=float), isd_m=isd_m,
                             rings=rings if wrap else None, fc_ghz=fc_ghz, h_bs_m=h_bs_m, h_ut_m=h_ut_m,
                             tx_power_dbm=tx_power_dbm, rng=rng)
    return HexLinks(cells, cell_xy, pts, rx_dbm)


def ue_noise_dbm(bandwidth_mhz: float) -> float:
    """Thermal noise -174 dBm/Hz + 10 log10(B) plus the UE noise figure (REFERENCES.md §4.4)."""
    return float(thermal_noise_dbm(bandwidth_mhz * 1e6, NOISE_FIGURE_UE_DB))
