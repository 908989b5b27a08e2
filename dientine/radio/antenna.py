"""Base-station antenna patterns with mechanical and electrical tilt (REFERENCES.md §1.5).

Angles at the boundary are degrees. GCS: azimuth φ counter-clockwise from +x (east), zenith θ from +z
(90° = horizon, >90° below it). The direction is from the antenna towards the UE.

Patterns (``ANTENNA_MODELS``):

* ``"tr38901-element"``: TR 38.901 Table 7.3-1 single element, θ3dB = φ3dB = 65°, A_max = SLA_V = 30 dB,
  G_E,max = 8 dBi. Mechanical tilt only (an element cannot be electrically tilted).
* ``"tr38901-array"``: the element in a vertical column of M elements spaced d_V wavelengths with electrical-tilt
  weights w_m = exp(−j 2π (m−1) d_V cos θ_etilt)/√M (TR 36.897 / ITU-R M.2101 form); defaults M = 10,
  d_V = 0.8 λ (TR 38.901 Table 7.8-1 calibration, REFERENCES.md: verify).
* ``"tr36814-sector"``: TR 36.814 Table A.2.1.1-2 3-sector pattern, A_H = −min(12(φ/70°)², 25 dB),
  A_V = −min(12((θ_below − θ_etilt)/10°)², 20 dB), A = −min(−(A_H + A_V), 25 dB), 14 dBi incl. feeder loss.

Mechanical tilt rotates the panel: GCS → LCS by TR 38.901 eqs 7.1-7/7.1-8 with bearing α = boresight azimuth,
downtilt β = mechanical tilt (> 0 down), slant γ = 0. Electrical tilt is applied in the panel's LCS.
"""

from __future__ import annotations

import numpy as np

from .errors import require_choice, require_range

ANTENNA_MODELS = ("tr36814-sector", "tr38901-element", "tr38901-array")
ANTENNA_CODE = {name: i for i, name in enumerate(ANTENNA_MODELS)}

ELEMENT_38901 = {"theta_3db_deg": 65.0, "phi_3db_deg": 65.0, "a_max_db": 30.0, "sla_v_db": 30.0,
                 "g_max_dbi": 8.0}
"""TR 38.901 Table 7.3-1 element parameters."""
SECTOR_36814 = {"phi_3db_deg": 70.0, "theta_3db_deg": 10.0, "a_m_db": 25.0, "sla_v_db": 20.0, "g_max_dbi": 14.0}
"""TR 36.814 Table A.2.1.1-2 3-sector parameters (REFERENCES.md §1.5; verify constants)."""
ARRAY_DEFAULT_ROWS = 10
ARRAY_DEFAULT_SPACING_WAVELENGTHS = 0.8


def gcs_to_lcs_deg(zenith_deg, azimuth_deg, bearing_deg=0.0, downtilt_deg=0.0, slant_deg=0.0):
    """TR 38.901 eqs 7.1-7 / 7.1-8: (θ', φ') in the antenna LCS for rotation (α, β, γ). Returns degrees,
    θ' in [0, 180], φ' in (−180, 180]."""
    t, p = np.radians(zenith_deg), np.radians(azimuth_deg)
    a, b, g = np.radians(bearing_deg), np.radians(downtilt_deg), np.radians(slant_deg)
    ct = (np.cos(b) * np.cos(g) * np.cos(t)
          + (np.sin(b) * np.cos(g) * np.cos(p - a) - np.sin(g) * np.sin(p - a)) * np.sin(t))
    re_ = np.cos(b) * np.sin(t) * np.cos(p - a) - np.sin(b) * np.cos(t)
    im_ = (np.cos(b) * np.sin(g) * np.cos(t)
           + (np.sin(b) * np.sin(g) * np.cos(p - a) + np.cos(g) * np.sin(p - a)) * np.sin(t))
    return np.degrees(np.arccos(np.clip(ct, -1.0, 1.0))), np.degrees(np.arctan2(im_, re_))


def element_attenuation_38901_db(zenith_lcs_deg, azimuth_lcs_deg) -> np.ndarray:
    """TR 38.901 Table 7.3-1: A(θ'', φ'') = −min{−(A_V + A_H), A_max} (dB, ≤ 0),
    A_V = −min{12((θ'' − 90°)/θ3dB)², SLA_V}, A_H = −min{12(φ''/φ3dB)², A_max}."""
    e = ELEMENT_38901
    phi = (np.asarray(azimuth_lcs_deg, dtype=np.float64) + 180.0) % 360.0 - 180.0
    a_v = -np.minimum(12.0 * ((np.asarray(zenith_lcs_deg) - 90.0) / e["theta_3db_deg"]) ** 2, e["sla_v_db"])
    a_h = -np.minimum(12.0 * (phi / e["phi_3db_deg"]) ** 2, e["a_max_db"])
    return -np.minimum(-(a_v + a_h), e["a_max_db"])


def column_array_factor_db(zenith_lcs_deg, etilt_deg, n_rows=ARRAY_DEFAULT_ROWS,
                           spacing_wavelengths=ARRAY_DEFAULT_SPACING_WAVELENGTHS) -> np.ndarray:
    """10 log10 |Σ_m w_m exp(j 2π (m−1) d_V cos θ)|² with w_m = exp(−j 2π (m−1) d_V cos θ_etilt)/√M,
    θ_etilt = 90° + etilt (zenith); peak 10 log10 M. Floored at −300 dB in exact nulls (finite, never −inf)."""
    th = np.radians(zenith_lcs_deg)
    te = np.radians(90.0 + np.asarray(etilt_deg, dtype=np.float64))
    psi = 2.0 * np.pi * spacing_wavelengths * (np.cos(th) - np.cos(te))
    m = np.arange(n_rows).reshape((-1,) + (1,) * np.ndim(psi))
    s = np.exp(1j * m * psi).sum(axis=0) / np.sqrt(n_rows)
    return 10.0 * np.log10(np.maximum(np.abs(s) ** 2, 1e-30))


def sector_36814_attenuation_db(zenith_lcs_deg, azimuth_lcs_deg, etilt_deg) -> np.ndarray:
    """TR 36.814 Table A.2.1.1-2 (dB, ≤ 0); θ_below = θ' − 90° is the angle below the panel horizon."""
    s = SECTOR_36814
    phi = (np.asarray(azimuth_lcs_deg, dtype=np.float64) + 180.0) % 360.0 - 180.0
    below = np.asarray(zenith_lcs_deg, dtype=np.float64) - 90.0
    a_h = -np.minimum(12.0 * (phi / s["phi_3db_deg"]) ** 2, s["a_m_db"])
    a_v = -np.minimum(12.0 * ((below - etilt_deg) / s["theta_3db_deg"]) ** 2, s["sla_v_db"])
    return -np.minimum(-(a_h + a_v), s["a_m_db"])


def antenna_gain_dbi(model: str, azimuth_deg, zenith_deg, *, bearing_deg=0.0, mech_tilt_deg=0.0,
                     elec_tilt_deg=0.0, n_rows: int = ARRAY_DEFAULT_ROWS,
                     spacing_wavelengths: float = ARRAY_DEFAULT_SPACING_WAVELENGTHS) -> np.ndarray:
    """Antenna gain (dBi) towards GCS direction (``azimuth_deg`` φ, ``zenith_deg`` θ); arrays broadcast.

    ``model`` in ``ANTENNA_MODELS``; ``bearing_deg`` = boresight azimuth α; ``mech_tilt_deg`` = downtilt β
    (panel rotation, eqs 7.1-7/7.1-8); ``elec_tilt_deg`` = electrical downtilt below the panel horizon
    ("tr38901-array": beam steered to zenith 90° + tilt; "tr36814-sector": θ_etilt; "tr38901-element": must be
    0). ``n_rows``/``spacing_wavelengths``: column array M and d_V ("tr38901-array" only).
    Tilts must lie in [−90°, 90°], zenith in [0°, 180°] (else ``RadioValidityError``).
    """
    require_choice("model", model, ANTENNA_MODELS)
    require_range("zenith_deg", zenith_deg, 0.0, 180.0, "GCS zenith angle")
    require_range("azimuth_deg", azimuth_deg, None, None)
    require_range("mech_tilt_deg", mech_tilt_deg, -90.0, 90.0)
    require_range("elec_tilt_deg", elec_tilt_deg, -90.0, 90.0)
    if model == "tr38901-element":
        require_range("elec_tilt_deg", elec_tilt_deg, 0.0, 0.0, "a single element has no electrical tilt")
    th_l, ph_l = gcs_to_lcs_deg(zenith_deg, azimuth_deg, bearing_deg, mech_tilt_deg)
    if model == "tr36814-sector":
        return SECTOR_36814["g_max_dbi"] + sector_36814_attenuation_db(th_l, ph_l, elec_tilt_deg)
    g = ELEMENT_38901["g_max_dbi"] + element_attenuation_38901_db(th_l, ph_l)
    if model == "tr38901-array":
        if int(n_rows) < 1:
            raise ValueError(f"n_rows: expected a positive integer, found {n_rows!r}")
        require_range("spacing_wavelengths", spacing_wavelengths, 1e-6, None)
        g = g + column_array_factor_db(th_l, elec_tilt_deg, int(n_rows), spacing_wavelengths)
    return g
