"""Link abstraction: thermal noise, SINR → spectral efficiency, NR peak rate (REFERENCES.md §4).

* Thermal noise N = −174 dBm/Hz + 10 log10(B) + NF (REFERENCES.md §4.4).
* TR 36.942 Annex A.1 attenuated, truncated Shannon: α log2(1 + SINR) between SINR_MIN and SINR_MAX,
  0 below, Thr_MAX above; DL α 0.6, SINR_MIN −10 dB, Thr_MAX 4.4 bps/Hz; UL 0.4, −10 dB, 2.0 bps/Hz.
* TS 38.214 Tables 5.2.2.1-2 (CQI table 1) and 5.2.2.1-3 (table 2): efficiency Q_m · R/1024 per CQI.
  SINR → CQI thresholds are not standardised (TS 38.214 §5.2.2.1, 10 % BLER target): they are a configurable
  table. The default is the **Shannon lower bound** 10 log10(2^eff_k − 1) dB (derivable; optimistic, a UE at
  capacity). The widely copied AWGN set is available as :data:`CQI1_AWGN_THRESHOLDS_DB_UNSOURCED` for explicit
  use only (REFERENCES.md §4.3 marks it unsourced).
* TS 38.306 §4.1.2 approximate peak data rate.
"""

from __future__ import annotations

import numpy as np

from .errors import require_choice, require_range

THERMAL_NOISE_DBM_HZ = -174.0
"""kT at 290 K in dBm/Hz (REFERENCES.md §4.4)."""

SHANNON_36942 = {"dl": (0.6, -10.0, 4.4), "ul": (0.4, -10.0, 2.0)}
"""TR 36.942 Annex A.1 (α, SINR_MIN dB, Thr_MAX bps/Hz) for DL and UL (REFERENCES.md §4.1, verify)."""

_QM = {"QPSK": 2, "16QAM": 4, "64QAM": 6, "256QAM": 8}
CQI_TABLE1 = (("QPSK", 78), ("QPSK", 120), ("QPSK", 193), ("QPSK", 308), ("QPSK", 449), ("QPSK", 602),
              ("16QAM", 378), ("16QAM", 490), ("16QAM", 616), ("64QAM", 466), ("64QAM", 567), ("64QAM", 666),
              ("64QAM", 772), ("64QAM", 873), ("64QAM", 948))
"""TS 38.214 Table 5.2.2.1-2 (= TS 36.213 Table 7.2.3-1), CQI 1..15: (modulation, code rate × 1024)."""
CQI_TABLE2 = (("QPSK", 78), ("QPSK", 193), ("QPSK", 449), ("16QAM", 378), ("16QAM", 490), ("16QAM", 616),
              ("64QAM", 466), ("64QAM", 567), ("64QAM", 666), ("64QAM", 772), ("64QAM", 873), ("256QAM", 711),
              ("256QAM", 797), ("256QAM", 885), ("256QAM", 948))
"""TS 38.214 Table 5.2.2.1-3, CQI 1..15 (REFERENCES.md §4.2, verify)."""

CQI1_AWGN_THRESHOLDS_DB_UNSOURCED = np.array(
    [-6.7, -4.7, -2.3, 0.2, 2.4, 4.3, 5.9, 8.1, 10.3, 11.7, 14.1, 16.3, 18.7, 21.0, 22.7])
"""UNSOURCED (REFERENCES.md §4.3): widely copied AWGN SINR thresholds for CQI table 1, CQI 1..15. Not a default;
pass explicitly as ``cqi_thresholds_db`` if you accept it."""

SE_MODELS = ("shannon-36942", "shannon-36942-ul", "cqi-table1", "cqi-table2")


def cqi_efficiency(table: int) -> np.ndarray:
    """Spectral efficiency Q_m · R/1024 (bits/RE) of CQI 1..15 of TS 38.214 CQI table 1 or 2."""
    if table not in (1, 2):
        raise ValueError(f"table: unknown value {table!r}; valid values are 1, 2")
    rows = CQI_TABLE1 if table == 1 else CQI_TABLE2
    return np.array([_QM[m] * r / 1024.0 for m, r in rows])


def shannon_bound_thresholds_db(table: int) -> np.ndarray:
    """Shannon lower bound on the SINR of CQI k: 10 log10(2^eff_k − 1) dB (REFERENCES.md §4.3)."""
    return 10.0 * np.log10(2.0 ** cqi_efficiency(table) - 1.0)


def thermal_noise_dbm(bandwidth_hz, noise_figure_db=9.0) -> np.ndarray:
    """N = −174 dBm/Hz + 10 log10(B) + NF (dBm). NF 9 dB UE (TR 38.901 Table 7.8-1 / TR 38.802, verify)."""
    require_range("bandwidth_hz", bandwidth_hz, 1e-300, None)
    require_range("noise_figure_db", noise_figure_db, 0.0, None)
    return THERMAL_NOISE_DBM_HZ + 10.0 * np.log10(bandwidth_hz) + np.asarray(noise_figure_db, dtype=np.float64)


def shannon_36942_bps_hz(sinr_db, link: str = "dl") -> np.ndarray:
    """TR 36.942 Annex A.1 attenuated, truncated Shannon (bps/Hz); −inf SINR gives 0."""
    require_choice("link", link, tuple(SHANNON_36942))
    alpha, smin, tmax = SHANNON_36942[link]
    s = np.asarray(sinr_db, dtype=np.float64)
    if np.isnan(s).any():
        raise ValueError("sinr_db: NaN found; expected finite values or -inf (no service)")
    with np.errstate(over="ignore"):
        thr = np.minimum(alpha * np.log2(1.0 + 10.0 ** (np.minimum(s, 300.0) / 10.0)), tmax)
    return np.where(s < smin, 0.0, thr)


def cqi_from_sinr(sinr_db, thresholds_db) -> np.ndarray:
    """CQI index 0..15: the highest k with SINR ≥ threshold_k (0 = out of range). Thresholds must increase."""
    thr = np.asarray(thresholds_db, dtype=np.float64)
    if thr.shape != (15,) or np.any(np.diff(thr) <= 0) or not np.isfinite(thr).all():
        raise ValueError(f"cqi_thresholds_db: expected 15 finite increasing values, found {thr!r}")
    s = np.asarray(sinr_db, dtype=np.float64)
    if np.isnan(s).any():
        raise ValueError("sinr_db: NaN found; expected finite values or -inf (no service)")
    return np.searchsorted(thr, s, side="right")


def se_parameters(model: str, cqi_thresholds_db=None) -> tuple[int, float, float, float, np.ndarray, np.ndarray]:
    """(kind, α, SINR_MIN, Thr_MAX, thresholds[15], efficiencies[15]) for the Numba kernels.
    kind 0 = attenuated Shannon, 1 = CQI table lookup."""
    require_choice("model", model, SE_MODELS)
    if model.startswith("shannon"):
        a, smin, tmax = SHANNON_36942["ul" if model.endswith("-ul") else "dl"]
        return 0, a, smin, tmax, np.zeros(15), np.zeros(15)
    table = 1 if model == "cqi-table1" else 2
    thr = shannon_bound_thresholds_db(table) if cqi_thresholds_db is None else np.asarray(
        cqi_thresholds_db, dtype=np.float64)
    cqi_from_sinr(np.zeros(1), thr)  # validates the thresholds
    return 1, 0.0, 0.0, 0.0, thr.astype(np.float64), cqi_efficiency(table)


def spectral_efficiency_bps_hz(sinr_db, model: str = "shannon-36942", *, cqi_thresholds_db=None) -> np.ndarray:
    """Spectral efficiency (bps/Hz) for SINR (dB); ``model`` in ``SE_MODELS``.

    "shannon-36942" / "shannon-36942-ul": TR 36.942 A.1 DL / UL parameters. "cqi-table1" / "cqi-table2":
    efficiency of the CQI selected by ``cqi_thresholds_db`` (15 increasing dB values; default the Shannon
    lower bound of that table), 0 below CQI 1. −inf (no service) gives 0; NaN raises ``ValueError``.
    """
    require_choice("model", model, SE_MODELS)
    if model.startswith("shannon"):
        return shannon_36942_bps_hz(sinr_db, "ul" if model.endswith("-ul") else "dl")
    kind, _, _, _, thr, eff = se_parameters(model, cqi_thresholds_db)
    cqi = cqi_from_sinr(sinr_db, thr)
    return np.concatenate([[0.0], eff])[cqi]


def peak_rate_mbps(layers: int, modulation_order: int, n_prb: int, numerology: int, overhead: float,
                   scaling_factor: float = 1.0, r_max: float = 948.0 / 1024.0) -> float:
    """TS 38.306 §4.1.2: 1e-6 · v · Q_m · f · R_max · N_PRB · 12 / T_s^μ · (1 − OH), T_s^μ = 1e-3/(14 · 2^μ).
    OH 0.14 FR1 DL, 0.18 FR2 DL, 0.08 FR1 UL, 0.10 FR2 UL (REFERENCES.md §4.4)."""
    for name, val, lo, hi in (("layers", layers, 1, 8), ("modulation_order", modulation_order, 1, 10),
                              ("n_prb", n_prb, 1, 275), ("numerology", numerology, 0, 6),
                              ("overhead", overhead, 0.0, 0.99), ("scaling_factor", scaling_factor, 0.0, 1.0)):
        require_range(name, val, lo, hi, "TS 38.306 §4.1.2")
    ts = 1e-3 / (14 * 2**numerology)
    return 1e-6 * layers * modulation_order * scaling_factor * r_max * n_prb * 12 / ts * (1 - overhead)
