"""TR 38.901 (v16-v18) Table 7.4.1-1 path-loss formulas for UMa, UMi-Street Canyon and RMa.

Plain vectorised NumPy (arguments broadcast), ``fc`` in GHz in the formulas and in Hz in the breakpoint
distances, c = 3.0e8 m/s (REFERENCES.md §0, §1). These functions do **not** check validity ranges: call
:func:`dientine.radio.path_loss_db`, which applies the package rule (:mod:`dientine.radio.errors`).
"""

from __future__ import annotations

import numpy as np

from .constants import C_M_S

ArrayLike = np.ndarray | float


def d3d_m(d2d_m: ArrayLike, h_bs_m: ArrayLike, h_ut_m: ArrayLike) -> np.ndarray:
    """TR 38.901 §7.4.1: d3D = sqrt(d2D² + (h_BS − h_UT)²)."""
    return np.hypot(d2d_m, np.subtract(h_bs_m, h_ut_m))


def breakpoint_uma_umi_m(h_bs_m: ArrayLike, h_ut_m: ArrayLike, fc_ghz: ArrayLike, h_e_m: ArrayLike = 1.0):
    """TR 38.901 Table 7.4.1-1 note 1: d'BP = 4 h'BS h'UT fc[Hz] / c with h' = h − h_E."""
    return 4.0 * (np.subtract(h_bs_m, h_e_m)) * (np.subtract(h_ut_m, h_e_m)) * np.multiply(fc_ghz, 1e9) / C_M_S


def breakpoint_rma_m(h_bs_m: ArrayLike, h_ut_m: ArrayLike, fc_ghz: ArrayLike) -> np.ndarray:
    """TR 38.901 Table 7.4.1-1 note 5: dBP = 2π h_BS h_UT fc[Hz] / c (no effective height)."""
    return 2.0 * np.pi * np.multiply(h_bs_m, h_ut_m) * np.multiply(fc_ghz, 1e9) / C_M_S


def uma_los_db(d2d_m, h_bs_m, h_ut_m, fc_ghz, h_e_m=1.0) -> np.ndarray:
    """TR 38.901 Table 7.4.1-1, UMa LOS: PL1 = 28.0 + 22 log10(d3D) + 20 log10(fc) up to d'BP,
    PL2 = 28.0 + 40 log10(d3D) + 20 log10(fc) − 9 log10(d'BP² + (h_BS − h_UT)²) beyond (d2D ≤ d'BP uses PL1)."""
    d3 = d3d_m(d2d_m, h_bs_m, h_ut_m)
    dbp = breakpoint_uma_umi_m(h_bs_m, h_ut_m, fc_ghz, h_e_m)
    lf = 20.0 * np.log10(fc_ghz)
    pl1 = 28.0 + 22.0 * np.log10(d3) + lf
    pl2 = 28.0 + 40.0 * np.log10(d3) + lf - 9.0 * np.log10(dbp**2 + np.subtract(h_bs_m, h_ut_m) ** 2)
    return np.where(np.asarray(d2d_m) <= dbp, pl1, pl2)


def uma_nlos_prime_db(d2d_m, h_bs_m, h_ut_m, fc_ghz) -> np.ndarray:
    """TR 38.901 Table 7.4.1-1, UMa PL'_NLOS = 13.54 + 39.08 log10(d3D) + 20 log10(fc) − 0.6 (h_UT − 1.5)."""
    d3 = d3d_m(d2d_m, h_bs_m, h_ut_m)
    return 13.54 + 39.08 * np.log10(d3) + 20.0 * np.log10(fc_ghz) - 0.6 * (np.asarray(h_ut_m) - 1.5)


def uma_nlos_db(d2d_m, h_bs_m, h_ut_m, fc_ghz, h_e_m=1.0) -> np.ndarray:
    """TR 38.901 Table 7.4.1-1, UMa NLOS = max(PL_UMa-LOS, PL'_UMa-NLOS)."""
    return np.maximum(uma_los_db(d2d_m, h_bs_m, h_ut_m, fc_ghz, h_e_m),
                      uma_nlos_prime_db(d2d_m, h_bs_m, h_ut_m, fc_ghz))


def uma_nlos_optional_db(d2d_m, h_bs_m, h_ut_m, fc_ghz) -> np.ndarray:
    """TR 38.901 Table 7.4.1-1, UMa NLOS optional: 32.4 + 20 log10(fc) + 30 log10(d3D) (σ_SF 7.8 dB)."""
    return 32.4 + 20.0 * np.log10(fc_ghz) + 30.0 * np.log10(d3d_m(d2d_m, h_bs_m, h_ut_m))


def umi_los_db(d2d_m, h_bs_m, h_ut_m, fc_ghz) -> np.ndarray:
    """TR 38.901 Table 7.4.1-1, UMi-Street Canyon LOS (h_E = 1 m): PL1 = 32.4 + 21 log10(d3D) + 20 log10(fc),
    PL2 = 32.4 + 40 log10(d3D) + 20 log10(fc) − 9.5 log10(d'BP² + (h_BS − h_UT)²)."""
    d3 = d3d_m(d2d_m, h_bs_m, h_ut_m)
    dbp = breakpoint_uma_umi_m(h_bs_m, h_ut_m, fc_ghz, 1.0)
    lf = 20.0 * np.log10(fc_ghz)
    pl1 = 32.4 + 21.0 * np.log10(d3) + lf
    pl2 = 32.4 + 40.0 * np.log10(d3) + lf - 9.5 * np.log10(dbp**2 + np.subtract(h_bs_m, h_ut_m) ** 2)
    return np.where(np.asarray(d2d_m) <= dbp, pl1, pl2)


def umi_nlos_db(d2d_m, h_bs_m, h_ut_m, fc_ghz) -> np.ndarray:
    """TR 38.901 Table 7.4.1-1, UMi-SC NLOS = max(PL_LOS, PL'), PL' = 35.3 log10(d3D) + 22.4 + 21.3 log10(fc)
    − 0.3 (h_UT − 1.5)."""
    d3 = d3d_m(d2d_m, h_bs_m, h_ut_m)
    prime = 35.3 * np.log10(d3) + 22.4 + 21.3 * np.log10(fc_ghz) - 0.3 * (np.asarray(h_ut_m) - 1.5)
    return np.maximum(umi_los_db(d2d_m, h_bs_m, h_ut_m, fc_ghz), prime)


def umi_nlos_optional_db(d2d_m, h_bs_m, h_ut_m, fc_ghz) -> np.ndarray:
    """TR 38.901 Table 7.4.1-1, UMi-SC NLOS optional: 32.4 + 20 log10(fc) + 31.9 log10(d3D) (σ_SF 8.2 dB)."""
    return 32.4 + 20.0 * np.log10(fc_ghz) + 31.9 * np.log10(d3d_m(d2d_m, h_bs_m, h_ut_m))


def _rma_pl1_db(d_m, fc_ghz, h_bld_m):
    return (20.0 * np.log10(40.0 * np.pi * d_m * fc_ghz / 3.0)
            + np.minimum(0.03 * h_bld_m**1.72, 10.0) * np.log10(d_m)
            - np.minimum(0.044 * h_bld_m**1.72, 14.77)
            + 0.002 * np.log10(h_bld_m) * d_m)


def rma_los_db(d2d_m, h_bs_m, h_ut_m, fc_ghz, building_height_m=5.0) -> np.ndarray:
    """TR 38.901 Table 7.4.1-1, RMa LOS: PL1 = 20 log10(40π d3D fc/3) + min(0.03 h^1.72, 10) log10(d3D)
    − min(0.044 h^1.72, 14.77) + 0.002 log10(h) d3D up to dBP; PL2 = PL1(dBP) + 40 log10(d3D/dBP) beyond
    (PL1(dBP): PL1 with d3D := dBP, REFERENCES.md §1.2). h = average building height."""
    d3 = d3d_m(d2d_m, h_bs_m, h_ut_m)
    dbp = breakpoint_rma_m(h_bs_m, h_ut_m, fc_ghz)
    pl1 = _rma_pl1_db(d3, fc_ghz, building_height_m)
    pl2 = _rma_pl1_db(dbp, fc_ghz, building_height_m) + 40.0 * np.log10(d3 / dbp)
    return np.where(np.asarray(d2d_m) <= dbp, pl1, pl2)


def rma_nlos_db(d2d_m, h_bs_m, h_ut_m, fc_ghz, building_height_m=5.0, street_width_m=20.0) -> np.ndarray:
    """TR 38.901 Table 7.4.1-1, RMa NLOS = max(PL_LOS, PL'), PL' = 161.04 − 7.1 log10(W) + 7.5 log10(h)
    − (24.37 − 3.7 (h/h_BS)²) log10(h_BS) + (43.42 − 3.1 log10(h_BS)) (log10(d3D) − 3) + 20 log10(fc)
    − (3.2 (log10(11.75 h_UT))² − 4.97)."""
    d3 = d3d_m(d2d_m, h_bs_m, h_ut_m)
    h, w, hb = building_height_m, street_width_m, np.asarray(h_bs_m, dtype=np.float64)
    prime = (161.04 - 7.1 * np.log10(w) + 7.5 * np.log10(h)
             - (24.37 - 3.7 * (h / hb) ** 2) * np.log10(hb)
             + (43.42 - 3.1 * np.log10(hb)) * (np.log10(d3) - 3.0)
             + 20.0 * np.log10(fc_ghz)
             - (3.2 * np.log10(11.75 * np.asarray(h_ut_m)) ** 2 - 4.97))
    return np.maximum(rma_los_db(d2d_m, h_bs_m, h_ut_m, fc_ghz, building_height_m), prime)


UMA_H_E_VALUES_M = np.array([1.0, 12.0, 15.0, 18.0, 21.0])
"""Support of the UMa effective environment height h_E (TR 38.901 Table 7.4.1-1 note 1): 1 m, or uniform on
{12, 15, …, h_UT − 1.5}; with h_UT ≤ 22.5 m the set is at most {12, 15, 18, 21}."""


def uma_h_e_weights(d2d_m, h_ut_m) -> np.ndarray:
    """Probabilities of the UMa h_E values :data:`UMA_H_E_VALUES_M`, shape ``broadcast(d2d, h_ut) + (5,)``.

    TR 38.901 Table 7.4.1-1 note 1: h_E = 1 m with probability 1/(1 + C(d2D, h_UT)), otherwise uniform on
    {12, 15, …, h_UT − 1.5}; C = 0 for h_UT < 13 m, ((h_UT − 13)/10)^1.5 g(d2D) for 13 ≤ h_UT ≤ 23 m;
    g = 0 for d2D ≤ 18 m, else (5/4)(d2D/100)³ exp(−d2D/150). If the discrete set is empty (13 ≤ h_UT < 13.5)
    h_E = 1 m (the only value the note leaves).
    """
    d = np.asarray(d2d_m, dtype=np.float64)
    h = np.asarray(h_ut_m, dtype=np.float64)
    d, h = np.broadcast_arrays(d, h)
    g = np.where(d <= 18.0, 0.0, 1.25 * (d / 100.0) ** 3 * np.exp(-d / 150.0))
    c = np.where(h < 13.0, 0.0, np.clip((h - 13.0) / 10.0, 0.0, None) ** 1.5 * g)
    allowed = UMA_H_E_VALUES_M[1:] <= (h[..., None] - 1.5)
    n = allowed.sum(axis=-1)
    p1 = np.where(n > 0, 1.0 / (1.0 + c), 1.0)
    w_rest = np.where(n[..., None] > 0, (1.0 - p1)[..., None] / np.maximum(n, 1)[..., None], 0.0) * allowed
    return np.concatenate([p1[..., None], w_rest], axis=-1)


def draw_uma_h_e_m(d2d_m, h_ut_m, rng: np.random.Generator) -> np.ndarray:
    """One random h_E per link from :func:`uma_h_e_weights` (TR 38.901 Table 7.4.1-1 note 1)."""
    w = uma_h_e_weights(d2d_m, h_ut_m)
    cdf = np.cumsum(w, axis=-1)
    u = rng.random(w.shape[:-1])
    k = (u[..., None] >= cdf[..., :-1]).sum(axis=-1)
    return UMA_H_E_VALUES_M[k]
