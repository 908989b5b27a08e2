"""dientine.radio: 3GPP large-scale radio models and the Numba grid kernels.

Stable public functions (vectorised over NumPy arrays with broadcasting):

* :func:`path_loss_db` (TR 38.901 Table 7.4.1-1, TR 36.777 Table B-2), :func:`los_probability` (Table 7.4.2-1,
  TR 36.777 Table B-1), :func:`shadow_sigma_db`; scenarios ``SCENARIOS``.
* :func:`antenna_gain_dbi` (TR 38.901 element / column array, TR 36.814 sector, with tilt).
* :func:`thermal_noise_dbm`, :func:`spectral_efficiency_bps_hz` (TR 36.942 A.1, TS 38.214 CQI tables),
  :func:`peak_rate_mbps` (TS 38.306).
* shadow fields: :func:`build_site_fields`, :func:`correlated_gaussian_fields`; O2I: :func:`o2i_loss_db`,
  :func:`through_wall_loss_db`, :func:`draw_indoor_distance_m`.
* network evaluation: :class:`CellArrays`, :class:`PointArrays`, :func:`gain_map_dense`, :func:`gain_map_topk`,
  :func:`serve`, :func:`evaluate_network`, :class:`CachedServing`, :func:`hex_wraparound_offsets_m`.

Validity rule: :mod:`dientine.radio.errors` (``RadioValidityError``; the only clamp is d2D ≥ 10 m).
"""

from .antenna import ANTENNA_MODELS, antenna_gain_dbi, gcs_to_lcs_deg
from .constants import SCENARIOS
from .errors import RadioValidityError
from .link import (
    SE_MODELS,
    cqi_efficiency,
    cqi_from_sinr,
    peak_rate_mbps,
    shannon_bound_thresholds_db,
    spectral_efficiency_bps_hz,
    thermal_noise_dbm,
)
from .los import los_probability
from .maps import (
    NO_SERVICE_DB,
    CachedServing,
    ServeResult,
    evaluate_network,
    gain_map_dense,
    gain_map_topk,
    serve,
)
from .network_arrays import CellArrays, PointArrays, hex_wraparound_offsets_m
from .o2i import draw_indoor_distance_m, o2i_loss_db, through_wall_loss_db
from .pathloss import path_loss_db, shadow_sigma_db
from .shadowing import SiteFields, build_site_fields, correlated_gaussian_fields

__all__ = [
    "ANTENNA_MODELS", "NO_SERVICE_DB", "SCENARIOS", "SE_MODELS", "CachedServing", "CellArrays", "PointArrays",
    "RadioValidityError", "ServeResult", "SiteFields", "antenna_gain_dbi", "build_site_fields",
    "correlated_gaussian_fields", "cqi_efficiency", "cqi_from_sinr", "draw_indoor_distance_m",
    "evaluate_network", "gain_map_dense", "gain_map_topk", "gcs_to_lcs_deg", "hex_wraparound_offsets_m",
    "los_probability", "o2i_loss_db", "path_loss_db", "peak_rate_mbps", "serve", "shadow_sigma_db",
    "shannon_bound_thresholds_db", "spectral_efficiency_bps_hz", "thermal_noise_dbm", "through_wall_loss_db",
]
