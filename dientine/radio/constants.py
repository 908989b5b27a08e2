"""Constants shared by the radio models, each with its source."""

from __future__ import annotations

C_M_S = 3.0e8
"""Speed of light as written in TR 38.901 Table 7.4.1-1 notes 1 and 5 (REFERENCES.md §0; test vectors use it)."""

SCENARIOS = ("UMa", "UMi", "RMa", "UMa-AV", "UMi-AV", "RMa-AV")
"""Propagation scenarios: TR 38.901 Table 7.4.1-1 (UMi = UMi-Street Canyon) and their TR 36.777 Annex B
aerial-UE extensions ("-AV": 36.777 above the 38.901 UE-height range, 38.901 below it, REFERENCES.md §2)."""

FAMILY_CODE = {"UMa": 0, "UMi": 1, "RMa": 2}
"""Integer codes of the scenario families used inside the Numba kernels."""


def family_of(scenario: str) -> str:
    """'UMa-AV' -> 'UMa'."""
    return scenario.split("-")[0]


# UE-height validity of TR 38.901 Table 7.4.1-1 (m); above the maximum the -AV scenarios switch to TR 36.777.
H_UT_RANGE_38901_M = {"UMa": (1.5, 22.5), "UMi": (1.5, 22.5), "RMa": (1.0, 10.0)}
# TR 36.777 Table B-2 aerial-UE height ranges (m): LOS upper bound, NLOS upper bound (above it P_LOS = 1).
H_UT_MAX_AV_M = {"UMa": 300.0, "UMi": 300.0, "RMa": 300.0}
H_UT_MAX_AV_NLOS_M = {"UMa": 100.0, "UMi": 300.0, "RMa": 40.0}
# d2D upper bounds (m): TR 38.901 Table 7.4.1-1 (LOS, NLOS) and TR 36.777 Table B-2 (aerial; the table states
# the LOS bound, the project applies it to NLOS too).
D2D_MAX_38901_M = {"UMa": (5000.0, 5000.0), "UMi": (5000.0, 5000.0), "RMa": (10000.0, 5000.0)}
D2D_MAX_AV_M = {"UMa": 4000.0, "UMi": 4000.0, "RMa": 10000.0}
# Carrier frequency (GHz): TR 38.901 §7.4.1 UMa/UMi 0.5-100 GHz, RMa to 30 GHz (REFERENCES.md §1.2).
FC_RANGE_GHZ = {"UMa": (0.5, 100.0), "UMi": (0.5, 100.0), "RMa": (0.5, 30.0)}
# BS height (m): RMa 10-150 m (Table 7.4.1-1). UMa/UMi state one nominal height (25 m / 10 m); as Sionna, the
# project accepts any h_BS above the effective environment height h_E = 1 m and up to RMa's 150 m (assumption).
H_BS_RANGE_M = {"UMa": (1.0 + 1e-9, 150.0), "UMi": (1.0 + 1e-9, 150.0), "RMa": (10.0, 150.0)}

# Shadow-fading standard deviations (dB), TR 38.901 Table 7.4.1-1 / Table 7.5-6 (REFERENCES.md §1.2).
SIGMA_SF_DB = {
    "UMa": {"los": 4.0, "nlos": 6.0, "nlos_optional": 7.8, "o2i": 7.0},
    "UMi": {"los": 4.0, "nlos": 7.82, "nlos_optional": 8.2, "o2i": 7.0},
    # RMa LOS: 4 dB before the breakpoint (PL1), 6 dB after (PL2); O2I 8 dB (Table 7.5-6, as in Sionna
    # models/v19_2/RMa_O2I.json "sigmaSF": 8.0).
    "RMa": {"los": 4.0, "los_pl2": 6.0, "nlos": 8.0, "o2i": 8.0},
}
# Shadow-fading decorrelation distances (m), TR 38.901 Table 7.5-6, LOS / NLOS / O2I (REFERENCES.md §1.2).
SF_CORR_DISTANCE_M = {
    "UMa": {"los": 37.0, "nlos": 50.0, "o2i": 7.0},
    "UMi": {"los": 10.0, "nlos": 13.0, "o2i": 7.0},
    "RMa": {"los": 37.0, "nlos": 120.0, "o2i": 120.0},
}
