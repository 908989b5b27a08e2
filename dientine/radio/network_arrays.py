"""Plain-array views of a network and of the points where it is evaluated (inputs of :mod:`.kernels`).

Frozen dataclasses holding NumPy arrays (structure of arrays); ``__post_init__`` converts dtypes and validates
shapes and ranges, raising ``ValueError``/``RadioValidityError`` that names the field. Use
``dataclasses.replace(cells, tx_power_dbm=...)`` for a changed network.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..grid import Grid
from .antenna import ANTENNA_MODELS, ARRAY_DEFAULT_ROWS, ARRAY_DEFAULT_SPACING_WAVELENGTHS
from .constants import FC_RANGE_GHZ, H_BS_RANGE_M, H_UT_MAX_AV_M, H_UT_RANGE_38901_M, SCENARIOS, family_of
from .errors import require_choice, require_range

_CELL_FLOAT_FIELDS = ("x_m", "y_m", "height_m", "azimuth_deg", "mech_tilt_deg", "elec_tilt_deg",
                      "tx_power_dbm", "load", "offset_db")


def _set(obj, name, value):
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class CellArrays:
    """C cells of one carrier.

    Per cell (length C): ``x_m, y_m`` position (m, local east/north), ``height_m`` antenna height,
    ``azimuth_deg`` boresight (counter-clockwise from +x), ``mech_tilt_deg``/``elec_tilt_deg`` downtilts (> 0
    down), ``tx_power_dbm`` total transmit power, ``active`` (False: sleeping or failed: neither serves nor
    interferes), ``load`` in [0, 1] (weights the interference the cell causes), ``offset_db`` cell individual
    offset added to the cell-selection metric (CIO), ``site_index`` (cells of a site share shadow/LOS fields).

    Carrier: ``fc_ghz``, ``bandwidth_hz`` (channel bandwidth; thermal noise), ``scenario`` (one of
    ``SCENARIOS``; the kernels always use the TR 36.777 extension for aerial points, so "UMa" and "UMa-AV" are
    equivalent there), ``antenna_model`` (one of ``ANTENNA_MODELS``), ``n_prb`` (optional: if given, rates use
    the occupied bandwidth 12 · n_prb · scs and RSRP is per resource element, −10 log10(12 n_prb); if None,
    rates use ``bandwidth_hz`` and "RSRP" is the wideband received power), ``subcarrier_spacing_khz``,
    ``array_rows``/``array_spacing_wavelengths`` ("tr38901-array"), RMa ``building_height_m``/``street_width_m``.
    """

    x_m: np.ndarray
    y_m: np.ndarray
    height_m: np.ndarray
    azimuth_deg: np.ndarray
    mech_tilt_deg: np.ndarray
    elec_tilt_deg: np.ndarray
    tx_power_dbm: np.ndarray
    active: np.ndarray
    load: np.ndarray
    offset_db: np.ndarray
    site_index: np.ndarray
    fc_ghz: float = 3.5
    bandwidth_hz: float = 100e6
    scenario: str = "UMa"
    antenna_model: str = "tr36814-sector"
    n_prb: int | None = None
    subcarrier_spacing_khz: float = 30.0
    array_rows: int = ARRAY_DEFAULT_ROWS
    array_spacing_wavelengths: float = ARRAY_DEFAULT_SPACING_WAVELENGTHS
    building_height_m: float = 5.0
    street_width_m: float = 20.0

    def __post_init__(self) -> None:
        n = np.asarray(self.x_m).shape[0] if np.ndim(self.x_m) == 1 else -1
        if n < 1:
            raise ValueError(f"CellArrays.x_m: expected a non-empty 1-D array, found shape {np.shape(self.x_m)}")
        for name in _CELL_FLOAT_FIELDS:
            a = np.ascontiguousarray(getattr(self, name), dtype=np.float64)
            if a.shape != (n,):
                raise ValueError(f"CellArrays.{name}: expected shape ({n},), found {a.shape}")
            require_range(f"CellArrays.{name}", a, None, None)
            _set(self, name, a)
        act = np.ascontiguousarray(self.active, dtype=np.bool_)
        site = np.asarray(self.site_index)
        if act.shape != (n,) or site.shape != (n,):
            raise ValueError(f"CellArrays.active/site_index: expected shape ({n},), found {act.shape}, {site.shape}")
        if not np.issubdtype(site.dtype, np.integer) or (site < 0).any():
            raise ValueError("CellArrays.site_index: expected non-negative integers")
        _set(self, "active", act)
        _set(self, "site_index", np.ascontiguousarray(site, dtype=np.int64))
        require_choice("CellArrays.scenario", self.scenario, SCENARIOS)
        require_choice("CellArrays.antenna_model", self.antenna_model, ANTENNA_MODELS)
        fam = family_of(self.scenario)
        require_range("CellArrays.load", self.load, 0.0, 1.0)
        require_range("CellArrays.height_m", self.height_m, *H_BS_RANGE_M[fam], context=self.scenario)
        require_range("CellArrays.fc_ghz", self.fc_ghz, *FC_RANGE_GHZ[fam], context=self.scenario)
        require_range("CellArrays.bandwidth_hz", self.bandwidth_hz, 1.0, None)
        require_range("CellArrays.mech_tilt_deg", self.mech_tilt_deg, -90.0, 90.0)
        require_range("CellArrays.elec_tilt_deg", self.elec_tilt_deg, -90.0, 90.0)
        if self.antenna_model == "tr38901-element":
            require_range("CellArrays.elec_tilt_deg", self.elec_tilt_deg, 0.0, 0.0,
                          "a single TR 38.901 element has no electrical tilt; use tr38901-array")
        if self.n_prb is not None and not (1 <= int(self.n_prb) <= 275):
            raise ValueError(f"CellArrays.n_prb: expected 1..275 (TS 38.211 N_RB max), found {self.n_prb!r}")
        require_range("CellArrays.subcarrier_spacing_khz", self.subcarrier_spacing_khz, 15.0, 960.0)
        if int(self.array_rows) < 1:
            raise ValueError(f"CellArrays.array_rows: expected a positive integer, found {self.array_rows!r}")
        require_range("CellArrays.array_spacing_wavelengths", self.array_spacing_wavelengths, 1e-6, None)
        if fam == "RMa":
            require_range("CellArrays.building_height_m", self.building_height_m, 5.0, 50.0, "RMa")
            require_range("CellArrays.street_width_m", self.street_width_m, 5.0, 50.0, "RMa")

    @property
    def n_cells(self) -> int:
        return int(self.x_m.shape[0])

    @property
    def n_sites(self) -> int:
        return int(self.site_index.max()) + 1

    @property
    def occupied_bandwidth_hz(self) -> float:
        """12 · n_prb · scs if ``n_prb`` is set, else ``bandwidth_hz`` (rate = efficiency × this)."""
        if self.n_prb is None:
            return float(self.bandwidth_hz)
        return 12.0 * int(self.n_prb) * self.subcarrier_spacing_khz * 1e3

    @property
    def rsrp_offset_db(self) -> float:
        """−10 log10(12 n_prb) (per-RE RSRP, TS 38.215 with equal power per RE), 0 without ``n_prb``."""
        return 0.0 if self.n_prb is None else -10.0 * float(np.log10(12.0 * int(self.n_prb)))


@dataclass(frozen=True)
class PointArrays:
    """P evaluation points (pixel centres or UEs): ``x_m, y_m`` (m), ``height_m`` (UE antenna height),
    ``indoor`` (bool), ``o2i_loss_db`` (O2I loss added for indoor points, PL_tw + PL_in (+ σ_P draw), see
    :func:`dientine.radio.o2i.o2i_loss_db`; defaults to 0 and is required when any point is indoor).

    Indoor points use d2D to the point for both P_LOS and PL (the d2D_in split, ≤ 25 m, is not modelled).
    """

    x_m: np.ndarray
    y_m: np.ndarray
    height_m: np.ndarray
    indoor: np.ndarray | None = None
    o2i_loss_db: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        x = np.ascontiguousarray(self.x_m, dtype=np.float64)
        if x.ndim != 1:
            raise ValueError(f"PointArrays.x_m: expected a 1-D array, found shape {x.shape}")
        n = x.shape[0]
        _set(self, "x_m", x)
        for name in ("y_m", "height_m"):
            a = np.ascontiguousarray(np.broadcast_to(getattr(self, name), (n,)), dtype=np.float64)
            require_range(f"PointArrays.{name}", a, None, None)
            _set(self, name, a)
        require_range("PointArrays.x_m", x, None, None)
        ind = np.zeros(n, np.bool_) if self.indoor is None else np.ascontiguousarray(
            np.broadcast_to(self.indoor, (n,)), dtype=np.bool_)
        _set(self, "indoor", ind)
        if self.o2i_loss_db is None:
            if ind.any():
                raise ValueError("PointArrays.o2i_loss_db: required when any point is indoor "
                                 "(use dientine.radio.o2i_loss_db)")
            o2i = np.zeros(n)
        else:
            o2i = np.ascontiguousarray(np.broadcast_to(self.o2i_loss_db, (n,)), dtype=np.float64)
            require_range("PointArrays.o2i_loss_db", o2i, 0.0, None)
        _set(self, "o2i_loss_db", np.where(ind, o2i, 0.0))

    @property
    def n_points(self) -> int:
        return int(self.x_m.shape[0])

    @classmethod
    def from_grid(cls, grid: Grid, height_m: float = 1.5) -> PointArrays:
        """Every pixel centre of ``grid`` (row-major), outdoor, at ``height_m`` (default 1.5 m,
        TR 38.901 outdoor h_UT)."""
        x, y = grid.pixel_centres_m()
        return cls(x, y, np.full(x.shape, float(height_m)))

    def validate_for(self, scenario: str) -> None:
        """Heights within [38.901 minimum, 300 m] (aerial points use TR 36.777); indoor points not aerial."""
        fam = family_of(scenario)
        lo, hi = H_UT_RANGE_38901_M[fam]
        require_range("PointArrays.height_m", self.height_m, lo, H_UT_MAX_AV_M[fam], scenario)
        require_range("PointArrays.height_m", np.where(self.indoor, self.height_m, lo), None, hi,
                      f"{scenario} indoor points must be within the TR 38.901 UE-height range")


def hex_wraparound_offsets_m(isd_m: float, rings: int = 2) -> np.ndarray:
    """Translations (7, 2) of the centre cluster and its six wrap-around images for a hexagonal layout of
    ``rings`` rings (1 + 3n(n+1) sites) with sites at x = D(q + r/2), y = D(√3/2) r (REFERENCES.md §0).

    The images sit at axial (2n+1, −n) and its five 60° rotations ((q, r) → (−r, q + r)); for 19 sites they are
    √19·D away. Pass to the kernels as ``wrap_offsets_m``: each point-cell link then uses the nearest of the 7
    images of the cell (wrap-around, TR 38.901 §7.8 calibration / ITU-R M.2412).
    """
    require_range("isd_m", isd_m, 1e-9, None)
    n = int(rings)
    if n < 0:
        raise ValueError(f"rings: expected a non-negative integer, found {rings!r}")
    q, r = 2 * n + 1, -n
    out = [(0.0, 0.0)]
    for _ in range(6):
        out.append((isd_m * (q + r / 2.0), isd_m * np.sqrt(3.0) / 2.0 * r))
        q, r = -r, q + r
    return np.array(out)
