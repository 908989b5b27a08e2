"""Public, validated path-loss dispatch over the six scenarios (deterministic mean PL, no shadow fading).

Sources: TR 38.901 Table 7.4.1-1 (:mod:`.pathloss_38901`), TR 36.777 Table B-2 (:mod:`.aerial_36777`).
Validity handling follows the package rule in :mod:`dientine.radio.errors`.
"""

from __future__ import annotations

import numpy as np

from . import pathloss_38901 as p38
from .aerial_36777 import path_loss_av_db, sigma_sf_av_db
from .constants import (
    D2D_MAX_38901_M,
    D2D_MAX_AV_M,
    FC_RANGE_GHZ,
    H_BS_RANGE_M,
    H_UT_MAX_AV_M,
    H_UT_MAX_AV_NLOS_M,
    H_UT_RANGE_38901_M,
    SCENARIOS,
    SIGMA_SF_DB,
    family_of,
)
from .errors import D2D_FLOOR_M, require_choice, require_range

NLOS_MODELS = ("standard", "optional")


def _uma_mean_over_h_e(fn, d2d, h_bs, h_ut, fc):
    """E[fn(h_E)] over the UMa h_E distribution (TR 38.901 Table 7.4.1-1 note 1)."""
    w = p38.uma_h_e_weights(d2d, h_ut)
    out = 0.0
    for k, h_e in enumerate(p38.UMA_H_E_VALUES_M):
        wk = w[..., k]
        if np.any(wk > 0):
            # h_E values above h_UT − 1.5 have weight 0; evaluate them at h_E = 1 to stay finite.
            h_e_eff = np.where(wk > 0, h_e, 1.0)
            out = out + wk * fn(d2d, h_bs, h_ut, fc, h_e_eff)
    return out


def _path_loss_38901(fam, d2d, h_bs, h_ut, fc, los, nlos_model, h_e_m, rng, h_bld, w_street):
    if fam == "UMa":
        if h_e_m is None and rng is not None:
            h_e_m = p38.draw_uma_h_e_m(d2d, h_ut, rng)
        if h_e_m is not None:
            h_e = np.broadcast_to(np.asarray(h_e_m, dtype=np.float64), d2d.shape)
            require_range("h_e_m", h_e, 1.0, None, "UMa effective environment height")
            require_range("h_e_m", np.where(h_e > 1.0, h_e - (h_ut - 1.5), 0.0), None, 0.0,
                          "h_E - (h_UT - 1.5 m): h_E must be 1 m or at most h_UT - 1.5 m")
            pl_los = p38.uma_los_db(d2d, h_bs, h_ut, fc, h_e)
            pl_nlos = p38.uma_nlos_db(d2d, h_bs, h_ut, fc, h_e)
        else:  # deterministic: expectation over the h_E distribution (exact h_E = 1 m for h_UT < 13 m)
            pl_los = _uma_mean_over_h_e(p38.uma_los_db, d2d, h_bs, h_ut, fc)
            pl_nlos = _uma_mean_over_h_e(p38.uma_nlos_db, d2d, h_bs, h_ut, fc)
        if nlos_model == "optional":
            pl_nlos = p38.uma_nlos_optional_db(d2d, h_bs, h_ut, fc)
    elif fam == "UMi":
        pl_los = p38.umi_los_db(d2d, h_bs, h_ut, fc)
        pl_nlos = (p38.umi_nlos_optional_db(d2d, h_bs, h_ut, fc) if nlos_model == "optional"
                   else p38.umi_nlos_db(d2d, h_bs, h_ut, fc))
    else:
        if nlos_model == "optional":
            raise ValueError("nlos_model: 'optional' is defined for UMa and UMi only (TR 38.901 Table 7.4.1-1); "
                             "valid names for RMa are standard")
        pl_los = p38.rma_los_db(d2d, h_bs, h_ut, fc, h_bld)
        pl_nlos = p38.rma_nlos_db(d2d, h_bs, h_ut, fc, h_bld, w_street)
    return np.where(los, pl_los, pl_nlos)


def path_loss_db(scenario: str, d2d_m, h_bs_m, h_ut_m, fc_ghz, los, *, nlos_model: str = "standard",
                 h_e_m=None, rng: np.random.Generator | None = None, building_height_m: float = 5.0,
                 street_width_m: float = 20.0) -> np.ndarray:
    """Mean path loss (dB, float64), no shadow fading; all array arguments broadcast.

    Parameters
    ----------
    scenario: one of ``SCENARIOS``. "UMa", "UMi" (UMi-Street Canyon), "RMa": TR 38.901 Table 7.4.1-1.
        "UMa-AV", "UMi-AV", "RMa-AV": TR 36.777 Table B-2 for UE heights above the 38.901 range (UMa/UMi 22.5 m,
        RMa 10 m), TR 38.901 at or below it.
    d2d_m, h_bs_m, h_ut_m: 2-D distance and antenna heights (m). d2D below 10 m is evaluated at 10 m (the one
        documented clamp, :mod:`.errors`).
    fc_ghz: carrier frequency in GHz (formulas); breakpoints use Hz and c = 3.0e8 m/s.
    los: bool array, True for LOS. NLOS is max(PL_LOS, PL') as the table says.
    nlos_model: "standard" or "optional" (TR 38.901 optional NLOS forms, UMa and UMi only, σ_SF 7.8/8.2 dB).
    h_e_m, rng: UMa effective environment height. For h_UT < 13 m h_E = 1 m exactly. For 13 ≤ h_UT ≤ 22.5 m the
        TR draws h_E at random per link: pass ``h_e_m`` (1 or a value in {12, 15, …, h_UT − 1.5}) or ``rng``
        (one draw per element); with neither, the function returns the **expectation of PL over the h_E
        distribution** (a deterministic mean, :func:`.pathloss_38901.uma_h_e_weights`).
    building_height_m, street_width_m: RMa h and W (defaults 5 m and 20 m; valid 5-50 m, Table 7.4.1-1).

    Raises ``RadioValidityError`` for inputs outside the table's ranges (h_UT, h_BS, fc, d2D above the maximum,
    NLOS for aerial UEs where TR 36.777 defines none: UMa-AV above 100 m, RMa-AV above 40 m).
    """
    require_choice("scenario", scenario, SCENARIOS)
    require_choice("nlos_model", nlos_model, NLOS_MODELS)
    fam = family_of(scenario)
    aerial_ok = scenario.endswith("-AV")
    lo_h, hi_h = H_UT_RANGE_38901_M[fam]
    require_range("h_ut_m", h_ut_m, lo_h, H_UT_MAX_AV_M[fam] if aerial_ok else hi_h, scenario)
    require_range("h_bs_m", h_bs_m, *H_BS_RANGE_M[fam], context=scenario)
    require_range("fc_ghz", fc_ghz, *FC_RANGE_GHZ[fam], context=scenario)
    require_range("d2d_m", d2d_m, 0.0, None, scenario)
    if fam == "RMa":
        require_range("building_height_m", building_height_m, 5.0, 50.0, "RMa")
        require_range("street_width_m", street_width_m, 5.0, 50.0, "RMa")
    d2d, h_bs, h_ut, fc, los_b = np.broadcast_arrays(
        np.maximum(np.asarray(d2d_m, dtype=np.float64), D2D_FLOOR_M), np.asarray(h_bs_m, dtype=np.float64),
        np.asarray(h_ut_m, dtype=np.float64), np.asarray(fc_ghz, dtype=np.float64), np.asarray(los, dtype=bool))
    aerial = h_ut > hi_h
    ground = ~aerial
    d_max_los, d_max_nlos = D2D_MAX_38901_M[fam]
    require_range("d2d_m", np.where(ground & los_b, d2d, 0.0), None, d_max_los, f"{scenario} LOS")
    require_range("d2d_m", np.where(ground & ~los_b, d2d, 0.0), None, d_max_nlos, f"{scenario} NLOS")
    out = _path_loss_38901(fam, d2d, h_bs, np.minimum(h_ut, hi_h), fc, los_b, nlos_model, h_e_m, rng,
                           building_height_m, street_width_m)
    if aerial.any():
        require_range("d2d_m", np.where(aerial, d2d, 0.0), None, D2D_MAX_AV_M[fam], f"{scenario} aerial UE")
        require_range("h_ut_m", np.where(aerial & ~los_b, h_ut, hi_h), None, H_UT_MAX_AV_NLOS_M[fam],
                      f"{scenario} NLOS (TR 36.777 Table B-2 defines no NLOS above this height: P_LOS = 1)")
        av = path_loss_av_db(fam, d2d, h_bs, np.maximum(h_ut, hi_h + 1e-9), fc, los_b)
        out = np.where(aerial, av, out)
    return out


def shadow_sigma_db(scenario: str, d2d_m, h_bs_m, h_ut_m, fc_ghz, los, *, indoor=False,
                    nlos_model: str = "standard") -> np.ndarray:
    """Shadow-fading standard deviation (dB) per link.

    TR 38.901 Table 7.4.1-1: UMa LOS 4 / NLOS 6 (optional 7.8); UMi LOS 4 / NLOS 7.82 (optional 8.2); RMa LOS 4
    up to dBP and 6 beyond, NLOS 8. Indoor (O2I) UEs: 7 dB UMa/UMi, 8 dB RMa (Table 7.5-6). Aerial UEs in "-AV"
    scenarios: TR 36.777 Table B-2 (height dependent). Ranges are not re-validated here.
    """
    require_choice("scenario", scenario, SCENARIOS)
    fam = family_of(scenario)
    s = SIGMA_SF_DB[fam]
    d2d, h_bs, h_ut, fc, los_b, ind = np.broadcast_arrays(
        np.maximum(np.asarray(d2d_m, dtype=np.float64), D2D_FLOOR_M), np.asarray(h_bs_m, dtype=np.float64),
        np.asarray(h_ut_m, dtype=np.float64), np.asarray(fc_ghz, dtype=np.float64), np.asarray(los, dtype=bool),
        np.asarray(indoor, dtype=bool))
    nlos_sigma = s["nlos_optional"] if nlos_model == "optional" else s["nlos"]
    if fam == "RMa":
        dbp = p38.breakpoint_rma_m(h_bs, h_ut, fc)
        los_sigma = np.where(d2d <= dbp, s["los"], s["los_pl2"])
    else:
        los_sigma = np.full(d2d.shape, s["los"])
    out = np.where(los_b, los_sigma, nlos_sigma)
    out = np.where(ind, s["o2i"], out)
    hi_h = H_UT_RANGE_38901_M[fam][1]
    if scenario.endswith("-AV"):
        aerial = h_ut > hi_h
        if aerial.any():
            out = np.where(aerial, sigma_sf_av_db(fam, np.maximum(h_ut, hi_h), los_b), out)
    return out
