"""Outdoor-to-indoor penetration loss, TR 38.901 §7.4.3 (Tables 7.4.3-1/-2/-3; REFERENCES.md §1.4).

PL = PL_b + PL_tw + PL_in + N(0, σ_P²); this module gives PL_tw + PL_in (+ the random term when drawn).
"""

from __future__ import annotations

import numpy as np

from .constants import FAMILY_CODE
from .errors import require_choice, require_range

SIGMA_P_DB = {"low": 4.4, "high": 6.5}
"""σ_P of the O2I building-penetration term (TR 38.901 Table 7.4.3-2): low-loss 4.4 dB, high-loss 6.5 dB."""

D2D_IN_MAX_M = {"UMa": 25.0, "UMi": 25.0, "RMa": 10.0}
"""d2D_in is the minimum of two U(0, max) draws: 25 m UMa/UMi, 10 m RMa (Table 7.4.3-2)."""


def through_wall_loss_db(fc_ghz, loss_model: str = "low") -> np.ndarray:
    """PL_tw (dB), TR 38.901 Table 7.4.3-2 with Table 7.4.3-1 materials (fc in GHz).

    low-loss:  5 − 10 log10(0.3·10^(−L_glass/10) + 0.7·10^(−L_concrete/10))
    high-loss: 5 − 10 log10(0.7·10^(−L_IIRglass/10) + 0.3·10^(−L_concrete/10))
    L_glass = 2 + 0.2 fc, L_IIRglass = 23 + 0.3 fc, L_concrete = 5 + 4 fc.
    """
    require_choice("loss_model", loss_model, tuple(SIGMA_P_DB))
    require_range("fc_ghz", fc_ghz, 0.5, 100.0, "TR 38.901 O2I")
    f = np.asarray(fc_ghz, dtype=np.float64)
    l_concrete = 5.0 + 4.0 * f
    if loss_model == "high":
        l_iirglass = 23.0 + 0.3 * f
        return 5.0 - 10.0 * np.log10(0.7 * 10.0 ** (-l_iirglass / 10.0) + 0.3 * 10.0 ** (-l_concrete / 10.0))
    l_glass = 2.0 + 0.2 * f
    return 5.0 - 10.0 * np.log10(0.3 * 10.0 ** (-l_glass / 10.0) + 0.7 * 10.0 ** (-l_concrete / 10.0))


def indoor_loss_db(d2d_in_m) -> np.ndarray:
    """PL_in = 0.5 d2D_in (dB), TR 38.901 Table 7.4.3-2."""
    require_range("d2d_in_m", d2d_in_m, 0.0, None, "indoor distance")
    return 0.5 * np.asarray(d2d_in_m, dtype=np.float64)


def draw_indoor_distance_m(scenario_family: str, size, rng: np.random.Generator) -> np.ndarray:
    """d2D_in = min of two independent U(0, 25 m) draws (UMa, UMi) or U(0, 10 m) (RMa), TR 38.901 §7.4.3."""
    require_choice("scenario_family", scenario_family, tuple(FAMILY_CODE))
    hi = D2D_IN_MAX_M[scenario_family]
    return np.minimum(rng.uniform(0.0, hi, size), rng.uniform(0.0, hi, size))


def o2i_loss_db(fc_ghz, indoor, d2d_in_m=0.0, *, loss_model="low", rng: np.random.Generator | None = None):
    """Per-UE O2I loss (dB): PL_tw + 0.5 d2D_in (+ N(0, σ_P²) if ``rng`` is given) for indoor UEs, 0 outdoors.

    ``loss_model`` is "low" or "high" (scalar or a bool array ``high`` per UE is not supported: call twice).
    The result is what :class:`dientine.radio.network_arrays.PointArrays` takes as ``o2i_loss_db``.
    """
    indoor_b = np.asarray(indoor, dtype=bool)
    pl = through_wall_loss_db(fc_ghz, loss_model) + indoor_loss_db(d2d_in_m)
    pl = np.broadcast_to(pl, indoor_b.shape).astype(np.float64)
    if rng is not None:
        pl = pl + rng.normal(0.0, SIGMA_P_DB[loss_model], indoor_b.shape)
    return np.where(indoor_b, pl, 0.0)
