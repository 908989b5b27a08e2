"""Plain vectorised NumPy reference of the kernels (test oracle and benchmark baseline).

Built only from the public, separately tested model functions (:func:`.pathloss.path_loss_db`,
:func:`.los.los_probability`, :func:`.pathloss.shadow_sigma_db`, :func:`.antenna.antenna_gain_dbi`,
:func:`.link.spectral_efficiency_bps_hz`) evaluated on [points, cells] arrays, in chunks of points.
"""

from __future__ import annotations

import numpy as np

from .antenna import antenna_gain_dbi
from .constants import family_of
from .link import spectral_efficiency_bps_hz
from .los import los_probability
from .maps import ServeResult, _check_inputs, default_noise_dbm
from .network_arrays import CellArrays, PointArrays
from .pathloss import path_loss_db, shadow_sigma_db
from .shadowing import SiteFields


def gain_map_dense_numpy(cells: CellArrays, points: PointArrays, fields: SiteFields, *, wrap_offsets_m=None,
                         chunk: int = 16384) -> np.ndarray:
    """Same quantity as :func:`dientine.radio.maps.gain_map_dense` (float32 [P, C])."""
    wrap, sf_o2i, pix_all = _check_inputs(cells, points, fields, wrap_offsets_m)
    scen = family_of(cells.scenario) + "-AV"
    out = np.empty((points.n_points, cells.n_cells), np.float32)
    site = cells.site_index
    for s in range(0, points.n_points, chunk):
        sl = slice(s, min(s + chunk, points.n_points))
        ex = points.x_m[sl, None, None] - (cells.x_m[None, :, None] + wrap[None, None, :, 0])
        ey = points.y_m[sl, None, None] - (cells.y_m[None, :, None] + wrap[None, None, :, 1])
        w = np.argmin(ex * ex + ey * ey, axis=2)[..., None]
        dx = np.take_along_axis(ex, w, 2)[..., 0]
        dy = np.take_along_axis(ey, w, 2)[..., 0]
        d2d = np.hypot(dx, dy)
        h_ut = points.height_m[sl, None]
        pix = pix_all[sl]
        los = fields.los_uniform[pix][:, site] < los_probability(scen, d2d, h_ut)
        pl = path_loss_db(scen, d2d, cells.height_m[None, :], h_ut, cells.fc_ghz, los,
                          building_height_m=cells.building_height_m, street_width_m=cells.street_width_m)
        indoor = points.indoor[sl, None]
        sigma = shadow_sigma_db(scen, d2d, cells.height_m[None, :], h_ut, cells.fc_ghz, los, indoor=indoor)
        z = np.where(los, fields.sf_los[pix][:, site], fields.sf_nlos[pix][:, site])
        if fields.has_o2i:
            z = np.where(indoor, sf_o2i[pix][:, site], z)
        dz = h_ut - cells.height_m[None, :]
        g = antenna_gain_dbi(cells.antenna_model, np.degrees(np.arctan2(dy, dx)),
                             np.degrees(np.arctan2(d2d, dz)), bearing_deg=cells.azimuth_deg,
                             mech_tilt_deg=cells.mech_tilt_deg, elec_tilt_deg=cells.elec_tilt_deg,
                             n_rows=cells.array_rows, spacing_wavelengths=cells.array_spacing_wavelengths)
        out[sl] = g - pl - sigma * z - points.o2i_loss_db[sl, None]
    return out


def serve_numpy(gain_db: np.ndarray, cell_index: np.ndarray | None, cells: CellArrays, *,
                noise_dbm: float | None = None, se_model: str = "shannon-36942",
                cqi_thresholds_db=None, gain_lin: np.ndarray | None = None,
                chunk: int | None = None) -> ServeResult:
    """Same result as :func:`dientine.radio.maps.serve` (dense or top-K), vectorised over [P, K]; with
    ``gain_lin`` (linear copy of the gains) received powers are 10^(tx/10) · gain_lin, as in the cached path.
    ``chunk``: process that many points at a time (bounds the float64 temporaries), None = all at once."""
    if chunk is not None and gain_db.shape[0] > chunk:
        parts = [serve_numpy(gain_db[s:s + chunk], None if cell_index is None else cell_index[s:s + chunk], cells,
                             noise_dbm=noise_dbm, se_model=se_model, cqi_thresholds_db=cqi_thresholds_db,
                             gain_lin=None if gain_lin is None else gain_lin[s:s + chunk])
                 for s in range(0, gain_db.shape[0], chunk)]
        return ServeResult(*(np.concatenate([getattr(r, f) for r in parts])
                             for f in ("serving_cell", "rsrp_dbm", "sinr_db", "rate_mbps")))
    g = np.asarray(gain_db, dtype=np.float64)
    ci = (np.broadcast_to(np.arange(cells.n_cells), g.shape) if cell_index is None
          else np.asarray(cell_index, dtype=np.int64))
    valid = ci >= 0
    cc = np.where(valid, ci, 0)
    act = valid & cells.active[cc]
    rx = cells.tx_power_dbm[cc] + g
    metric = np.where(act, rx + cells.offset_db[cc], -np.inf)
    k = np.argmax(metric, axis=1)
    has = act.any(axis=1)
    rows = np.arange(g.shape[0])
    serving = np.where(has, cc[rows, k], -1)
    rx_s = rx[rows, k]
    if gain_lin is None:
        lin = np.where(act, 10.0 ** (rx / 10.0), 0.0)
    else:
        lin = np.where(act, 10.0 ** (cells.tx_power_dbm / 10.0)[cc] * gain_lin, 0.0)
    s_mw = lin[rows, k]
    interf = np.maximum((cells.load[cc] * lin).sum(axis=1) - cells.load[cc[rows, k]] * s_mw, 0.0)
    nd = default_noise_dbm(cells) if noise_dbm is None else noise_dbm
    sinr = np.where(has, 10.0 * np.log10(s_mw / (interf + 10.0 ** (nd / 10.0))), -np.inf)
    rsrp = np.where(has, rx_s + cells.rsrp_offset_db, -np.inf)
    rate = spectral_efficiency_bps_hz(sinr, se_model, cqi_thresholds_db=cqi_thresholds_db) * \
        cells.occupied_bandwidth_hz * 1e-6
    return ServeResult(serving.astype(np.int32), rsrp.astype(np.float32), sinr.astype(np.float32),
                       rate.astype(np.float32))


def serve_subset_numpy(points: np.ndarray, cell_index: np.ndarray, gain_db: np.ndarray, cells: CellArrays,
                       result: ServeResult, *, noise_dbm: float | None = None,
                       se_model: str = "shannon-36942", gain_lin: np.ndarray | None = None) -> None:
    """In-place NumPy equivalent of the cached update: recompute ``result`` at ``points`` only."""
    r = serve_numpy(gain_db[points], cell_index[points], cells, noise_dbm=noise_dbm, se_model=se_model,
                    gain_lin=None if gain_lin is None else gain_lin[points])
    result.serving_cell[points] = r.serving_cell
    result.rsrp_dbm[points] = r.rsrp_dbm
    result.sinr_db[points] = r.sinr_db
    result.rate_mbps[points] = r.rate_mbps
