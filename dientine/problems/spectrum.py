"""Build a realistic :class:`solvers.spectrum.SpectrumProblem`: several operators' CBRS cells on the default
hexagonal geometry, a conflict graph and incumbent protection points.

* Cells: ``n_operators`` operators, each a hexagonal layout (ISD 500 m, 3 sectors per site, REFERENCES.md §0) of
  the sites nearest the centre, shifted per operator by (ISD/3, ISD/5)·o (assumption: operators do not share
  sites), truncated to ``n_cells`` in total. Requested channels per cell uniform on 1..4 (seeded; assumption).
* Channels: CBRS 3550-3700 MHz in 10 MHz channels -> 15 (REFERENCES.md §6.4); channel c spans 3550+10c MHz.
* Conflicts (assumption, GAA coexistence between operators; an operator coordinates its own cells): cells of
  different operators within ``conflict_radius_m`` (300 m) may not share a channel (separation 1), within
  ``adjacent_radius_m`` (100 m) not even adjacent channels (separation 2).
* Protection points at 2-4.5 km from the centre (UMa path loss validity 5 km), kinds cycling FSS, ESC, PPA, FSS,
  DPA, ... with the WInnForum thresholds and 1 dB margin (REFERENCES.md §5.3). Protected channels: FSS 3600-3700 MHz
  (co-channel), DPA 3550-3650 MHz, ESC and PPA all. Interference in the point's reference bandwidth: EIRP 47 dBm/10 MHz
  (Cat B maximum, REFERENCES.md §5.3) scaled to the reference bandwidth, TR 36.814 sector attenuation (e-tilt 15°)
  towards the point, TR 38.901 UMa NLOS path loss at 3.625 GHz (mid-band), 0 dBi receive antenna (assumption).
* Exclusion: cells within ``dpa_exclusion_radius_m`` (1 km, assumption) of a DPA point may not use its channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dientine.problems._common import (
    CASE1_ETILT_DEG,
    H_BS_M,
    H_UT_M,
    MIN_D2D_M,
    cell_xy_m,
    hex_sector_cells,
    sector_gain_dbi,
)
from dientine.radio import path_loss_db
from solvers.spectrum import CBRS_REF_BANDWIDTH_MHZ, ProtectionPoint, SpectrumProblem

__all__ = ["SpectrumInstance", "build_spectrum_problem"]

CBRS_LOW_MHZ = 3550.0
CBRS_CHANNEL_MHZ = 10.0
CAT_B_EIRP_DBM_10MHZ = 47.0
"""Maximum Cat B EIRP (REFERENCES.md §5.3, ``ppa/ppa.py``)."""
_KINDS = ("FSS", "ESC", "PPA", "FSS", "DPA")
_UMA_MAX_D2D_M = 5000.0


@dataclass(frozen=True)
class SpectrumInstance:
    problem: SpectrumProblem
    cell_xy_m: np.ndarray
    point_xy_m: np.ndarray


def _channels_in(lo_mhz: float, hi_mhz: float, n_channels: int) -> list[int]:
    lo = CBRS_LOW_MHZ + CBRS_CHANNEL_MHZ * np.arange(n_channels)
    return [int(c) for c in np.flatnonzero((lo >= lo_mhz - 1e-9) & (lo + CBRS_CHANNEL_MHZ <= hi_mhz + 1e-9))]


def build_spectrum_problem(*, n_cells: int = 200, n_operators: int = 3, n_channels: int = 15,
                           n_points: int = 10, isd_m: float = 500.0, conflict_radius_m: float = 300.0,
                           adjacent_radius_m: float = 100.0, dpa_exclusion_radius_m: float = 1000.0,
                           fairness: str = "max_min", seed: int = 0) -> SpectrumInstance:
    rng = np.random.default_rng(seed)
    per_op = -(-n_cells // n_operators)
    xy, az, op = [], [], []
    for o in range(n_operators):
        cells = hex_sector_cells(-(-per_op // 3), isd_m, height_m=H_BS_M, tx_power_dbm=CAT_B_EIRP_DBM_10MHZ,
                                 elec_tilt_deg=CASE1_ETILT_DEG)
        cxy, caz = cell_xy_m(cells), cells.azimuth_deg
        shift = np.array([isd_m / 3.0, isd_m / 5.0]) * o
        xy.append(cxy[:per_op] + shift)
        az.append(caz[:per_op])
        op.append(np.full(min(per_op, len(cxy)), o))
    cell_xy = np.concatenate(xy)[:n_cells]
    cell_az = np.concatenate(az)[:n_cells]
    operator = np.concatenate(op)[:n_cells]
    n = cell_xy.shape[0]
    d = np.hypot(*(cell_xy[:, None, :] - cell_xy[None, :, :]).transpose(2, 0, 1))
    iu, ju = np.triu_indices(n, 1)
    inter = operator[iu] != operator[ju]
    close = inter & (d[iu, ju] < conflict_radius_m)
    pairs = np.stack([iu[close], ju[close]], axis=1)
    sep = np.where(d[iu, ju][close] < adjacent_radius_m, 2, 1)
    # protection points on a ring around the layout
    ang = rng.uniform(0, 2 * np.pi, n_points)
    rad = rng.uniform(2000.0, 4500.0, n_points)
    pts = np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1)
    points, cols = [], []
    dx = pts[None, :, 0] - cell_xy[:, None, 0]
    dy = pts[None, :, 1] - cell_xy[:, None, 1]
    d2d = np.clip(np.hypot(dx, dy), MIN_D2D_M, _UMA_MAX_D2D_M)
    pl = path_loss_db("UMa", d2d, H_BS_M, H_UT_M, 3.625, np.zeros(d2d.shape, dtype=bool))
    g = sector_gain_dbi(dx, dy, d2d, cell_az[:, None], elec_tilt_deg=CASE1_ETILT_DEG, h_bs_m=H_BS_M,
                        h_ut_m=H_UT_M) - 14.0  # attenuation only: EIRP includes the peak gain
    excluded = np.zeros((n, n_channels), dtype=bool)
    for e in range(n_points):
        kind = _KINDS[e % len(_KINDS)]
        if kind == "FSS":
            chans = _channels_in(3600.0, 3700.0, n_channels)
        elif kind == "DPA":
            chans = _channels_in(3550.0, 3650.0, n_channels)
        else:
            chans = None
        points.append(ProtectionPoint(name=f"{kind}-{e}", kind=kind, channels=chans))
        eirp_ref = CAT_B_EIRP_DBM_10MHZ + 10.0 * np.log10(CBRS_REF_BANDWIDTH_MHZ[kind] / CBRS_CHANNEL_MHZ)
        cols.append(eirp_ref + g[:, e] - pl[:, e])
        if kind == "DPA" and chans:
            near = np.hypot(dx[:, e], dy[:, e]) < dpa_exclusion_radius_m
            excluded[np.ix_(near, chans)] = True
    problem = SpectrumProblem(
        n_channels=n_channels, channel_bandwidth_mhz=CBRS_CHANNEL_MHZ, operator=operator,
        channels_max=rng.integers(1, 5, n), conflict_pairs=pairs if len(pairs) else None,
        separation=sep if len(pairs) else None, points=points, interference_dbm=np.stack(cols, axis=1),
        excluded=excluded, fairness=fairness)
    return SpectrumInstance(problem, cell_xy, pts)
