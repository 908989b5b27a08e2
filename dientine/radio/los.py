"""LOS probability: TR 38.901 Table 7.4.2-1 (UMa, UMi-Street Canyon, RMa) and TR 36.777 Table B-1 (aerial).

d = d2D_out (m). The boundary is inclusive: P_LOS = 1 for d ≤ 18 m (UMa, UMi) and d ≤ 10 m (RMa)
(REFERENCES.md §0, §1.3).
"""

from __future__ import annotations

import numpy as np

from .aerial_36777 import los_probability_av
from .constants import H_UT_MAX_AV_M, H_UT_RANGE_38901_M, SCENARIOS, family_of
from .errors import require_choice, require_range


def los_probability_rma(d2d_m) -> np.ndarray:
    """TR 38.901 Table 7.4.2-1, RMa: 1 for d ≤ 10 m, else exp(−(d − 10)/1000)."""
    d = np.asarray(d2d_m, dtype=np.float64)
    return np.where(d <= 10.0, 1.0, np.exp(-(d - 10.0) / 1000.0))


def los_probability_umi(d2d_m) -> np.ndarray:
    """TR 38.901 Table 7.4.2-1, UMi-Street Canyon: 1 for d ≤ 18 m, else 18/d + exp(−d/36)(1 − 18/d)."""
    d = np.asarray(d2d_m, dtype=np.float64)
    dd = np.maximum(d, 18.0)
    return np.where(d <= 18.0, 1.0, 18.0 / dd + np.exp(-dd / 36.0) * (1.0 - 18.0 / dd))


def los_probability_uma(d2d_m, h_ut_m) -> np.ndarray:
    """TR 38.901 Table 7.4.2-1, UMa: 1 for d ≤ 18 m, else [18/d + exp(−d/63)(1 − 18/d)]
    · [1 + C'(h_UT)(5/4)(d/100)³ exp(−d/150)], C' = 0 for h_UT ≤ 13 m, ((h_UT − 13)/10)^1.5 for 13 < h_UT ≤ 23 m."""
    d = np.asarray(d2d_m, dtype=np.float64)
    h = np.asarray(h_ut_m, dtype=np.float64)
    dd = np.maximum(d, 18.0)
    c = np.where(h <= 13.0, 0.0, np.clip((h - 13.0) / 10.0, 0.0, None) ** 1.5)
    p = (18.0 / dd + np.exp(-dd / 63.0) * (1.0 - 18.0 / dd)) * (1.0 + c * 1.25 * (dd / 100.0) ** 3
                                                                 * np.exp(-dd / 150.0))
    return np.where(d <= 18.0, 1.0, p)


def _los_38901(family: str, d, h) -> np.ndarray:
    if family == "UMa":
        return los_probability_uma(d, h)
    if family == "UMi":
        return los_probability_umi(d) + 0.0 * h
    return los_probability_rma(d) + 0.0 * h


def los_probability(scenario: str, d2d_m, h_ut_m) -> np.ndarray:
    """P_LOS for ``scenario`` in ``SCENARIOS``; arrays broadcast, returns float64 in [0, 1].

    "UMa"/"UMi"/"RMa": TR 38.901 Table 7.4.2-1, h_UT within the 38.901 range (UMa/UMi 1.5-22.5 m, RMa 1-10 m).
    "-AV": TR 36.777 Table B-1 for h_UT above that range (up to 300 m), TR 38.901 below it (REFERENCES.md §2).
    Out-of-range heights or negative/non-finite distances raise ``RadioValidityError``.
    """
    require_choice("scenario", scenario, SCENARIOS)
    fam = family_of(scenario)
    aerial_ok = scenario.endswith("-AV")
    lo, hi = H_UT_RANGE_38901_M[fam]
    require_range("h_ut_m", h_ut_m, lo, H_UT_MAX_AV_M[fam] if aerial_ok else hi, f"{scenario}")
    require_range("d2d_m", d2d_m, 0.0, None, f"{scenario}")
    d = np.asarray(d2d_m, dtype=np.float64)
    h = np.asarray(h_ut_m, dtype=np.float64)
    d, h = np.broadcast_arrays(d, h)
    p = _los_38901(fam, d, np.minimum(h, hi))
    if aerial_ok:
        aerial = h > hi
        if aerial.any():
            p = np.where(aerial, los_probability_av(fam, d, np.maximum(h, hi + 1e-9)), p)
    return p
