"""Build a realistic :class:`solvers.rru_sleep.RruSleepProblem` from the default hexagonal scenario.

Layout (REFERENCES.md §0, §1.6; TR 38.901 Table 7.8-1 / ITU-R M.2412 Urban Macro calibration): 19 sites x 3
sectors (57 cells), ISD 500 m, axial site coordinates ``x = D (q + r/2)``, ``y = D (sqrt(3)/2) r``, boresights
30/150/270 deg, h_BS 25 m (TR 38.901 Table 7.4.1-1 UMa), outdoor UEs at h_UT 1.5 m, UMa at 3.5 GHz, 100 MHz.
Bigger layouts take the ``n_sites`` sites nearest the centre of a larger hexagon.

Radio (``dientine.radio``): path loss TR 38.901 Table 7.4.1-1 UMa with LOS drawn per link from Table 7.4.2-1
(seeded); antenna TR 36.814 Table A.2.1.1-2 3-sector pattern, 14 dBi, electrical downtilt 15 deg (case 1,
ISD 500 m; REFERENCES §1.5); transmit power 43 dBm per cell = EARTH macro P_max 20 W per TRX (Auer et al. 2011
Table 2); thermal noise -174 dBm/Hz + 10 log10(B) + NF 9 dB (REFERENCES §4.4). Spectral efficiency: TR 36.942
Annex A.1 attenuated Shannon (DL: alpha 0.6, SINR_MIN -10 dB, 4.4 bps/Hz), REFERENCES §4.1.

``interference="none"`` (default) is the **best case of REFERENCES 6.1: interferers' state ignored** (SNR):
optimistic, because a plan that wakes more cells would see more interference. ``interference="all_on"`` is the
conservative worst case: every other cell transmits at full power (a sleeping cell only removes interference,
so any plan feasible with these efficiencies stays feasible in reality).

RSRP is per resource element: transmit power spread over 273 PRB x 12 subcarriers (100 MHz at 30 kHz, TS 38.101-1
Table 5.3.2-1; REFERENCES §4.1). The default coverage floor is the RSRP at which a cell's SNR per subcarrier
reaches TR 36.942's SINR_MIN (-10 dB): below it the cell delivers no throughput, above it a point is covered.

Power (EARTH, Auer et al. 2011 Table 2, Macro; REFERENCES §3.1): N_TRX 6, P_max 20 W, P0 130 W, dp 4.7,
P_sleep 75 W per *site* of 3 sectors (2x2 MIMO), i.e. N_TRX = 2 per sector-cell, as in the agents catalog.

Demand: ``n_points`` points drawn uniformly over the layout's site hexagons (seeded), each with the same share of
the traffic; the hourly traffic follows a 24-value diurnal profile (default: ``agents.traffic`` EARTH D2.3
profile, sourced in ``dientine/data/README.md``), scaled so that in the busiest hour the all-on network with
best-server assignment has mean utilisation ``busy_hour_load`` -- an **assumption** (energy studies sweep the
load: REFERENCES §5.4), named and reported, not a measured value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dientine.layout import hex_site_positions_m
from dientine.problems._common import rings_for_sites, sample_points_m
from dientine.radio.antenna import antenna_gain_dbi
from dientine.radio.link import spectral_efficiency_bps_hz, thermal_noise_dbm
from dientine.radio.los import los_probability
from dientine.radio.pathloss import path_loss_db
from solvers.rru_sleep import RruSleepProblem

__all__ = ["EARTH_MACRO_PER_SECTOR", "RruSleepInstance", "hex_cells", "build_rru_sleep_problem"]

#: EARTH macro (Auer et al., IEEE Wireless Commun. 18(5), 2011, Table 2; REFERENCES.md §3.1), per sector-cell:
#: the site's N_TRX 6 over its 3 sectors.
EARTH_MACRO_PER_SECTOR = {"n_trx": 6.0 / 3.0, "p_max_w": 20.0, "p0_w": 130.0, "delta_p": 4.7, "p_sleep_w": 75.0}
_BORESIGHTS_DEG = (30.0, 150.0, 270.0)  # REFERENCES §0
_N_SUBCARRIERS_100MHZ_30KHZ = 273 * 12  # TS 38.101-1 Table 5.3.2-1 (REFERENCES §4.1)
_SCS_HZ = 30e3
_SINR_MIN_DB = -10.0  # TR 36.942 Annex A.1 DL (REFERENCES §4.1)
_UMA_MAX_D2D_M = 5000.0  # TR 38.901 Table 7.4.1-1 UMa validity (d2D <= 5 km)


@dataclass(frozen=True)
class RruSleepInstance:
    """A built problem with the geometry and provenance the benchmark reports."""

    problem: RruSleepProblem
    cell_xy_m: np.ndarray  # (I, 2)
    point_xy_m: np.ndarray  # (J, 2)
    profile: np.ndarray  # (T,)
    profile_source: str
    busy_hour_load: float
    interference: str


def hex_cells(n_sites: int = 19, isd_m: float = 500.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(site_xy (S, 2), cell_xy (3S, 2), cell_azimuth_deg (3S,)) for the ``n_sites`` sites nearest the centre
    of a hexagonal grid (19 = two full rings)."""
    sites = hex_site_positions_m(rings_for_sites(n_sites), isd_m)
    order = np.lexsort((np.arctan2(sites[:, 1], sites[:, 0]), np.round(np.hypot(sites[:, 0], sites[:, 1]), 6)))
    sites = sites[order[:n_sites]]
    cell_xy = np.repeat(sites, 3, axis=0)
    az = np.tile(np.asarray(_BORESIGHTS_DEG), len(sites))
    return sites, cell_xy, az


def _link_budget(cell_xy: np.ndarray, az_deg: np.ndarray, pts: np.ndarray, *, fc_ghz: float, h_bs_m: float,
                 h_ut_m: float, elec_tilt_deg: float, tx_power_dbm: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Received power over the whole carrier, (I, J) [dBm]."""
    dx = pts[None, :, 0] - cell_xy[:, None, 0]
    dy = pts[None, :, 1] - cell_xy[:, None, 1]
    d2d = np.maximum(np.hypot(dx, dy), 10.0)  # TR 38.901 Table 7.4.1-1 validity starts at 10 m
    p_los = los_probability("UMa", d2d, h_ut_m)
    los = rng.random(d2d.shape) < p_los
    far = d2d > _UMA_MAX_D2D_M  # beyond the table's range: no link (-inf), never extrapolated
    pl = path_loss_db("UMa", np.where(far, _UMA_MAX_D2D_M, d2d), h_bs_m, h_ut_m, fc_ghz, los)
    pl = np.where(far, np.inf, pl)
    azimuth = np.rad2deg(np.arctan2(dy, dx))
    zenith = 90.0 + np.rad2deg(np.arctan2(h_bs_m - h_ut_m, d2d))
    gain = antenna_gain_dbi("tr36814-sector", azimuth, zenith, bearing_deg=az_deg[:, None],
                            elec_tilt_deg=elec_tilt_deg)
    return tx_power_dbm + gain - pl


def build_rru_sleep_problem(
    *,
    n_sites: int = 19,
    n_points: int = 500,
    hours: Sequence[int] | None = None,
    profile: Sequence[float] | None = None,
    profile_source: str | None = None,
    busy_hour_load: float = 0.5,
    interference: str = "none",
    isd_m: float = 500.0,
    fc_ghz: float = 3.5,
    bandwidth_mhz: float = 100.0,
    tx_power_dbm: float = 43.0,
    h_bs_m: float = 25.0,
    h_ut_m: float = 1.5,
    elec_tilt_deg: float = 15.0,
    noise_figure_db: float = 9.0,
    rsrp_floor_dbm: float | None = None,
    max_candidates: int | None = 5,
    rho_max: float = 1.0,
    switch_cost_wh: float = 0.0,
    min_on_periods: int = 1,
    min_off_periods: int = 1,
    cyclic: bool = False,
    must_stay_on: Sequence[int] = (),
    sleep_level_power_w: np.ndarray | None = None,
    sleep_level_entry_wh: np.ndarray | None = None,
    max_unserved_fraction: float | None = 0.0,
    unserved_penalty_wh_per_mbit: float = 0.0,
    mip_rel_gap: float = 1e-4,
    seed: int = 0,
) -> RruSleepInstance:
    """The sleep-plan problem of the default scenario (see the module docstring for every source).

    ``profile``: 24 hourly relative loads (default: ``agents.traffic.load_diurnal_profile()``; pass
    ``profile_source`` with your own). ``hours``: which hours to plan (default all 24, in order).
    ``busy_hour_load``: assumption, mean best-server utilisation of the all-on network in the busiest hour.
    ``max_candidates``: candidate servers per point (REFERENCES 6.1 sizes the model with the 5 best servers).
    """
    if interference not in ("none", "all_on"):
        raise ValueError(f"interference: expected 'none' or 'all_on', found {interference!r}")
    if not 0.0 < busy_hour_load <= 1.0:
        raise ValueError(f"busy_hour_load: expected a value in (0, 1], found {busy_hour_load!r}")
    if profile is None:
        from agents.traffic import load_diurnal_profile

        prof = load_diurnal_profile()
        profile_arr, source = prof.array, prof.source
    else:
        profile_arr = np.asarray(profile, dtype=np.float64)
        if profile_arr.shape != (24,) or not np.isfinite(profile_arr).all() or (profile_arr < 0).any():
            raise ValueError(f"profile: expected 24 finite non-negative values, found {profile_arr!r}")
        if not profile_source:
            raise ValueError("profile_source: a source is required for a supplied profile (no invented profiles)")
        profile_arr = profile_arr / profile_arr.max()
        source = profile_source
    hours_arr = np.arange(24) if hours is None else np.asarray(list(hours), dtype=np.int64)
    rng = np.random.default_rng(seed)
    sites, cell_xy, az = hex_cells(n_sites, isd_m)
    pts = sample_points_m(sites, isd_m, n_points, rng)
    rx_dbm = _link_budget(cell_xy, az, pts, fc_ghz=fc_ghz, h_bs_m=h_bs_m, h_ut_m=h_ut_m,
                          elec_tilt_deg=elec_tilt_deg, tx_power_dbm=tx_power_dbm, rng=rng)
    noise_dbm = float(thermal_noise_dbm(bandwidth_mhz * 1e6, noise_figure_db))
    rsrp_dbm = rx_dbm - 10.0 * np.log10(_N_SUBCARRIERS_100MHZ_30KHZ)
    if rsrp_floor_dbm is None:
        noise_re_dbm = float(thermal_noise_dbm(_SCS_HZ, noise_figure_db))
        rsrp_floor_dbm = noise_re_dbm + _SINR_MIN_DB
    if interference == "none":
        sinr_db = rx_dbm - noise_dbm
    else:
        rx_mw = 10.0 ** (rx_dbm / 10.0)
        interf_mw = rx_mw.sum(axis=0, keepdims=True) - rx_mw
        sinr_db = rx_dbm - 10.0 * np.log10(10.0 ** (noise_dbm / 10.0) + interf_mw)
    se = spectral_efficiency_bps_hz(sinr_db, "shannon-36942")
    se = np.where(rsrp_dbm >= rsrp_floor_dbm, se, 0.0)
    best_se = se.max(axis=0)
    if (best_se <= 0).any():
        keep = best_se > 0  # points no cell can serve are outside the network's reach: dropped
        pts, rsrp_dbm, se, best_se = pts[keep], rsrp_dbm[:, keep], se[:, keep], best_se[keep]
    n_cells = len(cell_xy)
    per_point_busy_mbps = busy_hour_load * n_cells / float(np.sum(1.0 / (best_se * bandwidth_mhz)))
    demand = per_point_busy_mbps * np.outer(np.ones(len(pts)), profile_arr[hours_arr])
    eq = EARTH_MACRO_PER_SECTOR
    problem = RruSleepProblem(
        demand_mbps=demand, spectral_efficiency_bps_hz=se, rsrp_dbm=rsrp_dbm, rsrp_floor_dbm=rsrp_floor_dbm,
        bandwidth_mhz=np.full(n_cells, bandwidth_mhz), rho_max=rho_max, period_h=1.0,
        n_trx=np.full(n_cells, eq["n_trx"]), p0_w=np.full(n_cells, eq["p0_w"]),
        delta_p=np.full(n_cells, eq["delta_p"]), p_max_w=np.full(n_cells, eq["p_max_w"]),
        p_sleep_w=np.full(n_cells, eq["p_sleep_w"]), sleep_level_power_w=sleep_level_power_w,
        sleep_level_entry_wh=sleep_level_entry_wh, switch_cost_wh=switch_cost_wh,
        min_on_periods=min_on_periods, min_off_periods=min_off_periods, must_stay_on=list(must_stay_on),
        cyclic=cyclic, max_unserved_fraction=max_unserved_fraction,
        unserved_penalty_wh_per_mbit=unserved_penalty_wh_per_mbit, max_candidates=max_candidates,
        mip_rel_gap=mip_rel_gap,
    )
    return RruSleepInstance(problem, cell_xy, pts, profile_arr[hours_arr], source, busy_hour_load, interference)
