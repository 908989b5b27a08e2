"""TR 36.777 V15.0.0 Annex B aerial-UE (drone) models: Table B-1 LOS probability and Table B-2 path loss and
shadow-fading σ, for UMa-AV, UMi-AV, RMa-AV (REFERENCES.md §2). fc in GHz, distances and heights in m.

Unvalidated vectorised NumPy; :func:`dientine.radio.path_loss_db` / ``los_probability`` dispatch here above the
TR 38.901 UE-height ranges and check validity.
"""

from __future__ import annotations

import numpy as np

from .pathloss_38901 import d3d_m


def _fs_term_db(fc_ghz):
    """20 log10(40π fc/3) (fc GHz) as written in Table B-2."""
    return 20.0 * np.log10(40.0 * np.pi * np.asarray(fc_ghz) / 3.0)


def free_space_db(d3d_m_, fc_ghz):
    """Free-space loss 20 log10(4π d f/c) = 32.45 + 20 log10(fc[GHz]) + 20 log10(d) (REFERENCES.md §2, PL_FS)."""
    return 20.0 * np.log10(40.0 * np.pi * np.asarray(d3d_m_) * np.asarray(fc_ghz) / 3.0)


def los_probability_av(family: str, d2d_m, h_ut_m) -> np.ndarray:
    """TR 36.777 Table B-1: P_LOS = 1 for d2D ≤ d1, else d1/d2D + exp(−d2D/p1)(1 − d1/d2D), for aerial heights:
    RMa-AV 10 < h ≤ 40 m p1 = max(15021 log10 h − 16053, 1000), d1 = max(1350.8 log10 h − 1602, 18), h > 40 m
    P_LOS = 1; UMa-AV 22.5 < h ≤ 100 m p1 = 4300 log10 h − 3800, d1 = max(460 log10 h − 700, 18), h > 100 m
    P_LOS = 1; UMi-AV p1 = 233.98 log10 h − 0.95, d1 = max(294.05 log10 h − 432.94, 18)."""
    d = np.asarray(d2d_m, dtype=np.float64)
    h = np.asarray(h_ut_m, dtype=np.float64)
    lh = np.log10(h)
    if family == "RMa":
        p1 = np.maximum(15021.0 * lh - 16053.0, 1000.0)
        d1 = np.maximum(1350.8 * lh - 1602.0, 18.0)
        always = h > 40.0
    elif family == "UMa":
        p1 = 4300.0 * lh - 3800.0
        d1 = np.maximum(460.0 * lh - 700.0, 18.0)
        always = h > 100.0
    elif family == "UMi":
        p1 = 233.98 * lh - 0.95
        d1 = np.maximum(294.05 * lh - 432.94, 18.0)
        always = np.zeros_like(h, dtype=bool)
    else:
        raise ValueError(f"family: unknown value {family!r}; valid names are UMa, UMi, RMa")
    p1 = np.maximum(p1, 1e-9)  # only reached for h outside the table's range (callers validate)
    dd = np.maximum(d, 1e-9)
    p = np.where(d <= d1, 1.0, d1 / dd + np.exp(-d / p1) * (1.0 - d1 / dd))
    return np.where(always, 1.0, p)


def path_loss_av_db(family: str, d2d_m, h_bs_m, h_ut_m, fc_ghz, los) -> np.ndarray:
    """TR 36.777 Table B-2 aerial-UE path loss (dB).

    RMa-AV LOS max(23.9 − 1.8 log10 h, 20) log10 d3D + 20 log10(40π fc/3); NLOS max(PL_LOS, −12 + (35 − 5.3
    log10 h) log10 d3D + 20 log10(40π fc/3)). UMa-AV LOS 28.0 + 22 log10 d3D + 20 log10 fc; NLOS −17.5 + (46 −
    7 log10 h) log10 d3D + 20 log10(40π fc/3). UMi-AV LOS max(PL_FS, 30.9 + (22.25 − 0.5 log10 h) log10 d3D +
    20 log10 fc); NLOS max(PL_LOS, 32.4 + (43.2 − 7.6 log10 h) log10 d3D + 20 log10 fc).
    PL_FS = 20 log10(4π d3D fc/c) (REFERENCES.md §2, not the MATLAB "−27.55" form).
    """
    h = np.asarray(h_ut_m, dtype=np.float64)
    d3 = d3d_m(d2d_m, h_bs_m, h_ut_m)
    ld, lh = np.log10(d3), np.log10(h)
    fs = _fs_term_db(fc_ghz)
    lf = 20.0 * np.log10(fc_ghz)
    if family == "RMa":
        pl_los = np.maximum(23.9 - 1.8 * lh, 20.0) * ld + fs
        pl_nlos = np.maximum(pl_los, -12.0 + (35.0 - 5.3 * lh) * ld + fs)
    elif family == "UMa":
        pl_los = 28.0 + 22.0 * ld + lf
        pl_nlos = -17.5 + (46.0 - 7.0 * lh) * ld + fs
    elif family == "UMi":
        pl_los = np.maximum(free_space_db(d3, fc_ghz), 30.9 + (22.25 - 0.5 * lh) * ld + lf)
        pl_nlos = np.maximum(pl_los, 32.4 + (43.2 - 7.6 * lh) * ld + lf)
    else:
        raise ValueError(f"family: unknown value {family!r}; valid names are UMa, UMi, RMa")
    return np.where(los, pl_los, pl_nlos)


def sigma_sf_av_db(family: str, h_ut_m, los) -> np.ndarray:
    """TR 36.777 Table B-2 shadow-fading σ (dB): RMa-AV LOS 4.2 exp(−0.0046 h), NLOS 6; UMa-AV LOS
    4.64 exp(−0.0066 h), NLOS 6; UMi-AV LOS max(5 exp(−0.01 h), 2), NLOS 8."""
    h = np.asarray(h_ut_m, dtype=np.float64)
    if family == "RMa":
        s_los, s_nlos = 4.2 * np.exp(-0.0046 * h), 6.0
    elif family == "UMa":
        s_los, s_nlos = 4.64 * np.exp(-0.0066 * h), 6.0
    elif family == "UMi":
        s_los, s_nlos = np.maximum(5.0 * np.exp(-0.01 * h), 2.0), 8.0
    else:
        raise ValueError(f"family: unknown value {family!r}; valid names are UMa, UMi, RMa")
    return np.where(los, s_los, s_nlos)
