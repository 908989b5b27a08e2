"""Validated entry points around :mod:`.kernels`: static gain maps (dense / top-K), serving, one-call network
evaluation and the cached re-evaluation used every tick ("the grid is the cache", DESIGN.md).

Conventions of the outputs (:class:`ServeResult`): ``serving_cell`` int32 (−1 = no active cell among the point's
candidates), ``rsrp_dbm``/``sinr_db`` float32 (``NO_SERVICE_DB`` = −inf when serving is −1, never NaN),
``rate_mbps`` float32 (spectral efficiency × occupied bandwidth, i.e. the rate with all resources; 0 without
service). Top-K maps ignore the interference of cells outside a point's K strongest (exact for K = C).

Points take the LOS/shadow fields of the ``fields.grid`` pixel that contains them; points outside the grid use the
nearest edge pixel (``Grid.pixel_index`` clamps), so build the fields on a grid covering every point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from . import kernels as kr
from .antenna import ANTENNA_CODE
from .constants import FAMILY_CODE, family_of
from .errors import RadioValidityError
from .link import se_parameters, thermal_noise_dbm
from .network_arrays import CellArrays, PointArrays
from .shadowing import SiteFields

NO_SERVICE_DB = float("-inf")
"""RSRP/SINR of points without an active serving cell (sentinel, not NaN); their rate is 0."""
PARALLEL_MIN_POINTS = 100_000
"""Cached updates touching fewer points run the serial kernel (performance choice: waking the thread pool costs
more than it saves on small updates, badly so on a shared machine)."""
_NO_LINEAR = np.zeros((0, 0), np.float32)
_ALL_POINTS = np.zeros(0, np.int32)
DEFAULT_NOISE_FIGURE_DB = 9.0
"""UE noise figure (TR 38.901 Table 7.8-1 / TR 38.802 calibration, REFERENCES.md §4.4, verify)."""


@dataclass(frozen=True)
class ServeResult:
    """Per point: serving cell (−1 none), RSRP (dBm), SINR (dB), rate (Mbps)."""

    serving_cell: np.ndarray
    rsrp_dbm: np.ndarray
    sinr_db: np.ndarray
    rate_mbps: np.ndarray


def _rotation_rows(cells: CellArrays) -> np.ndarray:
    """Rows of Rᵀ, R = R_Z(α) R_Y(β) (TR 38.901 eq 7.1-4, γ = 0): LCS direction = Rᵀ · GCS direction."""
    a = np.radians(cells.azimuth_deg)
    b = np.radians(cells.mech_tilt_deg)
    ca, sa, cb, sb = np.cos(a), np.sin(a), np.cos(b), np.sin(b)
    z = np.zeros_like(a)
    return np.ascontiguousarray(np.stack([ca * cb, sa * cb, -sb, -sa, ca, z, ca * sb, sa * sb, cb], axis=1))


def _check_inputs(cells: CellArrays, points: PointArrays, fields: SiteFields, wrap_offsets_m):
    points.validate_for(cells.scenario)
    if family_of(fields.scenario) != family_of(cells.scenario):
        raise ValueError(f"fields.scenario: built for {fields.scenario!r}, cells use {cells.scenario!r}")
    if cells.n_sites > fields.n_sites:
        raise ValueError(f"CellArrays.site_index: max {cells.n_sites - 1} but fields hold {fields.n_sites} sites")
    if points.indoor.any() and not fields.has_o2i:
        raise ValueError("fields.sf_o2i: indoor points need fields built with include_o2i=True")
    wrap = np.zeros((1, 2)) if wrap_offsets_m is None else np.ascontiguousarray(wrap_offsets_m, dtype=np.float64)
    if wrap.ndim != 2 or wrap.shape[1] != 2 or wrap.shape[0] < 1 or not np.isfinite(wrap).all():
        raise ValueError(f"wrap_offsets_m: expected a finite (W, 2) array, found shape {wrap.shape}")
    sf_o2i = fields.sf_o2i if fields.has_o2i else np.zeros((1, fields.n_sites), np.float32)
    pix = fields.grid.pixel_index(points.x_m, points.y_m)
    return wrap, sf_o2i, pix


def antenna_groups(cells: CellArrays):
    """Co-located antennas: cells with equal (x, y, height, site) share d2D, LOS state and shadowing, so the
    kernels compute path loss once per group. Returns (gx, gy, gh, gsite, gptr, gcells) with the cells of group
    g in ``gcells[gptr[g]:gptr[g + 1]]``."""
    key = np.stack([cells.x_m, cells.y_m, cells.height_m, cells.site_index.astype(np.float64)], axis=1)
    uniq, inverse = np.unique(key, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    gptr = np.zeros(uniq.shape[0] + 1, np.int64)
    np.cumsum(np.bincount(inverse, minlength=uniq.shape[0]), out=gptr[1:])
    return (np.ascontiguousarray(uniq[:, 0]), np.ascontiguousarray(uniq[:, 1]), np.ascontiguousarray(uniq[:, 2]),
            uniq[:, 3].astype(np.int64), gptr, order.astype(np.int64))


def _kernel_args(cells: CellArrays, points: PointArrays, fields: SiteFields, wrap_offsets_m):
    wrap, sf_o2i, pix = _check_inputs(cells, points, fields, wrap_offsets_m)
    cos_te = np.cos(np.radians(90.0 + cells.elec_tilt_deg))
    return (points.x_m, points.y_m, points.height_m, points.indoor, points.o2i_loss_db, pix,
            *antenna_groups(cells), _rotation_rows(cells), cells.elec_tilt_deg, cos_te,
            FAMILY_CODE[family_of(cells.scenario)], float(cells.fc_ghz),
            float(cells.building_height_m), float(cells.street_width_m), ANTENNA_CODE[cells.antenna_model],
            int(cells.array_rows), float(cells.array_spacing_wavelengths), fields.los_uniform, fields.sf_los,
            fields.sf_nlos, sf_o2i, wrap)


def _raise_if_bad(n_bad: int, cells: CellArrays) -> None:
    if n_bad:
        raise RadioValidityError(
            f"d2d_m: {n_bad} point-cell links exceed the maximum 2-D distance of {cells.scenario} "
            "(TR 38.901 Table 7.4.1-1: UMa/UMi 5 km, RMa LOS 10 km / NLOS 5 km; TR 36.777 Table B-2 aerial "
            "UMa/UMi 4 km, RMa 10 km); shrink the area or use wrap_offsets_m")


def gain_map_dense(cells: CellArrays, points: PointArrays, fields: SiteFields, *, wrap_offsets_m=None,
                   parallel: bool = True) -> np.ndarray:
    """Static path gain (dB, float32 [P, C]) of every point-cell link, transmit power excluded (see
    :mod:`.kernels` for the model). ``wrap_offsets_m``: (W, 2) image translations, e.g.
    :func:`.network_arrays.hex_wraparound_offsets_m`; None = no wrap-around."""
    args = _kernel_args(cells, points, fields, wrap_offsets_m)
    out = np.empty((points.n_points, cells.n_cells), np.float32)
    with numba.parallel_chunksize(1):  # dynamic scheduling of the point chunks (see .kernels)
        n_bad = (kr.gain_dense if parallel else kr.gain_dense_serial)(*args, out)
    _raise_if_bad(n_bad, cells)
    return out


def gain_map_topk(cells: CellArrays, points: PointArrays, fields: SiteFields, k: int, *, wrap_offsets_m=None,
                  rank_offset_db=None, parallel: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Top-K map: (cell index int32 [P, K], gain dB float32 [P, K]) sorted by gain + ``rank_offset_db[c]``
    descending (default 0: by path gain; pass e.g. tx power when powers differ). Memory 8·P·K bytes."""
    if not 1 <= int(k) <= cells.n_cells:
        raise ValueError(f"k: expected 1..{cells.n_cells} (number of cells), found {k!r}")
    rank = np.zeros(cells.n_cells) if rank_offset_db is None else np.ascontiguousarray(
        rank_offset_db, dtype=np.float64)
    if rank.shape != (cells.n_cells,) or not np.isfinite(rank).all():
        raise ValueError(f"rank_offset_db: expected {cells.n_cells} finite values, found shape {rank.shape}")
    args = _kernel_args(cells, points, fields, wrap_offsets_m)
    idx = np.empty((points.n_points, int(k)), np.int32)
    gain = np.empty((points.n_points, int(k)), np.float32)
    with numba.parallel_chunksize(1):
        n_bad = (kr.gain_topk if parallel else kr.gain_topk_serial)(*args, rank, idx, gain)
    _raise_if_bad(n_bad, cells)
    return idx, gain


def _serve_args(cells: CellArrays, noise_dbm: float, se_model: str, cqi_thresholds_db):
    kind, alpha, smin, tmax, thr, eff = se_parameters(se_model, cqi_thresholds_db)
    if not np.isfinite(noise_dbm):
        raise ValueError(f"noise_dbm: expected a finite value, found {noise_dbm!r}")
    return (cells.tx_power_dbm, 10.0 ** (cells.tx_power_dbm / 10.0), cells.active, cells.load, cells.offset_db,
            10.0 ** (float(noise_dbm) / 10.0), cells.rsrp_offset_db, kind, alpha, smin, tmax, thr, eff,
            cells.occupied_bandwidth_hz)


def _empty_result(n: int) -> ServeResult:
    return ServeResult(np.empty(n, np.int32), np.empty(n, np.float32), np.empty(n, np.float32),
                       np.empty(n, np.float32))


def default_noise_dbm(cells: CellArrays, noise_figure_db: float = DEFAULT_NOISE_FIGURE_DB) -> float:
    """Thermal noise over the carrier's ``bandwidth_hz`` with the UE noise figure."""
    return float(thermal_noise_dbm(cells.bandwidth_hz, noise_figure_db))


def serve(gain_db: np.ndarray, cell_index: np.ndarray | None, cells: CellArrays, *, noise_dbm: float | None = None,
          se_model: str = "shannon-36942", cqi_thresholds_db=None, parallel: bool = True) -> ServeResult:
    """Best server, RSRP, SINR and rate from a gain map and the cells' current power/state/load/offset.

    ``gain_db``: dense [P, C] (``cell_index`` None) or top-K [P, K] with ``cell_index`` [P, K].
    ``noise_dbm``: default :func:`default_noise_dbm`. ``se_model``: see
    :func:`dientine.radio.spectral_efficiency_bps_hz`.
    """
    gain_db = np.ascontiguousarray(gain_db, dtype=np.float32)
    if cell_index is None:
        if gain_db.ndim != 2 or gain_db.shape[1] != cells.n_cells:
            raise ValueError(f"gain_db: expected [P, {cells.n_cells}] for a dense map, found {gain_db.shape}")
        ci = np.arange(cells.n_cells, dtype=np.int32)[None, :]
    else:
        ci = np.ascontiguousarray(cell_index, dtype=np.int32)
        if ci.shape != gain_db.shape:
            raise ValueError(f"cell_index: expected shape {gain_db.shape} (as gain_db), found {ci.shape}")
        if ci.size and (ci.max() >= cells.n_cells or ci.min() < -1):
            raise ValueError(f"cell_index: expected values in [-1, {cells.n_cells - 1}]")
    nd = default_noise_dbm(cells) if noise_dbm is None else noise_dbm
    res = _empty_result(gain_db.shape[0])
    with numba.parallel_chunksize(1):
        (kr.serve_points if parallel else kr.serve_points_serial)(
            _ALL_POINTS, ci, gain_db, _NO_LINEAR, *_serve_args(cells, nd, se_model, cqi_thresholds_db),
            res.serving_cell, res.rsrp_dbm, res.sinr_db, res.rate_mbps)
    return res


def evaluate_network(cells: CellArrays, points: PointArrays, fields: SiteFields, *, k: int | None = None,
                     wrap_offsets_m=None, noise_dbm: float | None = None, se_model: str = "shannon-36942",
                     cqi_thresholds_db=None, parallel: bool = True) -> ServeResult:
    """One call: gains (dense if ``k`` is None, else top-K by path gain) then :func:`serve`."""
    if k is None:
        g = gain_map_dense(cells, points, fields, wrap_offsets_m=wrap_offsets_m, parallel=parallel)
        return serve(g, None, cells, noise_dbm=noise_dbm, se_model=se_model, cqi_thresholds_db=cqi_thresholds_db,
                     parallel=parallel)
    idx, g = gain_map_topk(cells, points, fields, k, wrap_offsets_m=wrap_offsets_m, parallel=parallel)
    return serve(g, idx, cells, noise_dbm=noise_dbm, se_model=se_model, cqi_thresholds_db=cqi_thresholds_db,
                 parallel=parallel)


class CachedServing:
    """Serving state over a fixed top-K map, re-evaluated incrementally when cells change.

    Holds the map, a linear (mW-ratio) float32 copy of its gains, its inverted index (points per cell) and the
    current :class:`ServeResult`. ``update`` takes the new cells (only power, ``active``, ``load`` and
    ``offset_db`` may differ: geometry, tilt and carrier are baked into the gains, rebuild the map for those) and
    the ids of the cells that changed, and recomputes only the points whose top-K contains a changed cell
    (:func:`.kernels.serve_cached`: per-cell linear powers are precomputed once per update, so a link costs a
    multiply-add and only the final SINR/rate take a log). When the only change is the load of one active cell,
    the points that cell serves are skipped too (their serving cell, RSRP and interference do not depend on it).
    The result equals :func:`serve` on the whole map (serving cell and RSRP exactly; SINR/rate to float32
    rounding of the linear gains, < 1e-5 dB).
    """

    def __init__(self, cell_index: np.ndarray, gain_db: np.ndarray, cells: CellArrays, *,
                 noise_dbm: float | None = None, se_model: str = "shannon-36942", cqi_thresholds_db=None,
                 parallel: bool = True):
        self.cell_index = np.ascontiguousarray(cell_index, dtype=np.int32)
        self.gain_db = np.ascontiguousarray(gain_db, dtype=np.float32)
        if self.cell_index.shape != self.gain_db.shape or self.gain_db.ndim != 2:
            raise ValueError(f"cell_index/gain_db: expected equal [P, K] shapes, found {self.cell_index.shape} "
                             f"and {self.gain_db.shape}")
        if self.cell_index.size and (self.cell_index.max() >= cells.n_cells or self.cell_index.min() < -1):
            raise ValueError(f"cell_index: expected values in [-1, {cells.n_cells - 1}]")
        self.gain_lin = np.empty_like(self.gain_db)
        kr.db_to_linear_f32(self.gain_db, self.gain_lin)
        self.noise_dbm = default_noise_dbm(cells) if noise_dbm is None else float(noise_dbm)
        self.se_model = se_model
        self.cqi_thresholds_db = cqi_thresholds_db
        self.parallel = parallel
        # update-invariant serving parameters (validated once)
        kind, alpha, smin, tmax, thr, eff = se_parameters(se_model, cqi_thresholds_db)
        if not np.isfinite(self.noise_dbm):
            raise ValueError(f"noise_dbm: expected a finite value, found {self.noise_dbm!r}")
        self._noise_mw = 10.0 ** (self.noise_dbm / 10.0)
        self._se = (kind, alpha, smin, tmax, thr, eff)
        self.cells = cells
        self.result = _empty_result(self.gain_db.shape[0])
        self._run(np.arange(self.gain_db.shape[0], dtype=np.int32), cells)
        self.ptr, self.points = kr.inverted_topk_index(self.cell_index, cells.n_cells)

    def nbytes(self) -> int:
        """Memory of the map, its linear copy, the inverted index and the result arrays."""
        r = self.result
        return sum(a.nbytes for a in (self.cell_index, self.gain_db, self.gain_lin, self.ptr, self.points,
                                      r.serving_cell, r.rsrp_dbm, r.sinr_db, r.rate_mbps))

    def points_of(self, cell: int) -> np.ndarray:
        """Point ids whose top-K contains ``cell``."""
        return self.points[self.ptr[cell]:self.ptr[cell + 1]]

    def _run(self, pts: np.ndarray, cells: CellArrays, skip_cell: int = -1) -> int:
        """Re-serve ``pts`` (int32 point ids) with the per-cell rows of ``cells``; returns the points done."""
        r = self.result
        n_c = cells.n_cells
        # per-cell rows, length C + 1: the last slot is what cell index -1 wraps to (never serves, no power)
        tx = np.zeros(n_c + 1)
        tx[:n_c] = cells.tx_power_dbm
        off_act = np.full(n_c + 1, -np.inf)
        off_act[:n_c] = np.where(cells.active, cells.offset_db, -np.inf)
        s_lin = np.zeros(n_c + 1)
        s_lin[:n_c] = np.where(cells.active, 10.0 ** (cells.tx_power_dbm / 10.0), 0.0)
        w_lin = s_lin * np.append(cells.load, 0.0)
        args = (pts, self.cell_index, self.gain_db, self.gain_lin, tx, off_act, s_lin, w_lin, self._noise_mw,
                cells.rsrp_offset_db, *self._se, cells.occupied_bandwidth_hz, skip_cell, r.serving_cell, r.rsrp_dbm,
                r.sinr_db, r.rate_mbps)
        if not (self.parallel and pts.shape[0] >= PARALLEL_MIN_POINTS):
            return kr.serve_cached_serial(*args)
        with numba.parallel_chunksize(1):
            return kr.serve_cached(*args)

    def update(self, cells: CellArrays, changed_cells) -> int:
        """Apply new per-cell power/state/load/offset; returns the number of points recomputed."""
        changed = np.unique(np.asarray(changed_cells, dtype=np.int64).ravel())
        if changed.size and (changed[0] < 0 or changed[-1] >= cells.n_cells):
            raise ValueError(f"changed_cells: expected ids in [0, {cells.n_cells - 1}], found {changed}")
        old = self.cells
        if cells.n_cells != old.n_cells:
            raise ValueError("cells: the number of cells changed; rebuild the gain map")
        for name in ("x_m", "y_m", "height_m", "azimuth_deg", "mech_tilt_deg", "elec_tilt_deg", "site_index"):
            a, b = getattr(old, name), getattr(cells, name)
            if a is not b and not np.array_equal(a, b):
                raise ValueError(f"cells.{name}: changed; geometry and tilt are baked into the gains, rebuild the map")
        d_tx = old.tx_power_dbm != cells.tx_power_dbm
        d_act = old.active != cells.active
        d_off = old.offset_db != cells.offset_db
        d_load = old.load != cells.load
        listed = np.zeros(cells.n_cells, bool)
        listed[changed] = True
        missing = np.flatnonzero((d_tx | d_act | d_off | d_load) & ~listed)
        if missing.size:
            raise ValueError(f"changed_cells: cells {missing.tolist()} changed but are not listed")
        self.cells = cells
        if changed.size == 0:
            return 0
        skip = -1
        if changed.size == 1:
            c = int(changed[0])
            if not (d_tx[c] or d_act[c] or d_off[c]):  # load only (or nothing) changed
                if not cells.active[c]:
                    return 0  # an inactive cell neither serves nor interferes: nothing can change
                skip = c
            pts = self.points_of(c)
        else:
            pts = np.unique(np.concatenate([self.points_of(int(c)) for c in changed]))
        return int(self._run(pts, cells, skip))
