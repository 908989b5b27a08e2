"""Input columns of the decision tables, built from the twin's KPIs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from agents.equipment import CellState
from dientine.loop.common import (
    LoopError,
)
from dientine.outcomes import asleep_mask
from dientine.radio.maps import gain_map_dense
from dientine.radio.network_arrays import PointArrays
from dientine.sim import SINR_MIN_DB


class InputsMixin:
    """Methods of :class:`dientine.loop.ClosedLoop` (see the module docstring); the state lives there."""

    def _thresholds(self, model) -> dict[str, float]:
        names = self._threshold_names.get(id(model))
        if names is None:
            names = self._threshold_names[id(model)] = [n for n in model.input_names() if n.startswith("threshold_")]
        return {n: self.book.values[n] for n in names}

    def _columns(self, table: str, kpi: dict[str, np.ndarray]) -> tuple[dict[str, Any], np.ndarray | None]:
        sim = self.sim
        tw = sim.twin
        model = self.tables[table]
        cols: dict[str, Any] = self._thresholds(model)
        state = kpi["state"]
        failed = state == int(CellState.FAILED)
        pending = tw.bs.pending >= 0
        if table == "energy_saving":
            load = np.where(failed | pending, np.nan, np.clip(kpi["load"], 0.0, 1.0))
            cols.update({"is_coverage_cell": self.coverage.copy(), "cell_asleep": asleep_mask(state),
                         "cell_load": load, "hour": float(math.floor(sim.hour_of_day * 1e6) / 1e6),
                         "neighbour_headroom": np.clip(kpi["neighbour_headroom"], 0.0, 1.0)})
            return cols, np.arange(tw.n_cells)
        if table in ("coverage_tilt", "power_adjustment"):
            cov, edge_sinr, edge_rsrp = self._per_cell_user_stats()
            load = np.where(failed | pending, np.nan, np.clip(kpi["load"], 0.0, 1.0))
            cols.update({"coverage_pct": cov, "edge_sinr_db": edge_sinr, "overshoot_pct": np.full(tw.n_cells, np.nan),
                         "cell_load": load, "edge_rsrp_dbm": edge_rsrp})
            return cols, np.arange(tw.n_cells)
        if table == "drone_response":
            return self._drone_columns(cols)
        raise LoopError(f"decisions: the closed loop has no input builder for table {table!r}")

    def _per_cell_user_stats(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per serving cell: coverage (% of its users with SINR >= SINR_MIN), 5th-percentile SINR and serving
        RSRP of its users (NaN = null when the cell serves nobody)."""
        sim = self.sim
        tw = sim.twin
        n = tw.n_cells
        serving = tw.users.ho.serving_cell
        ok = tw.users.active & (serving >= 0)
        cov = np.full(n, np.nan)
        sinr5 = np.full(n, np.nan)
        rsrp5 = np.full(n, np.nan)
        s = serving[ok]
        sinr = sim.sinr_db[ok]
        rsrp = sim._rsrp_serv[ok]
        order = np.argsort(s, kind="stable")
        s, sinr, rsrp = s[order], sinr[order], rsrp[order]
        bounds = np.searchsorted(s, np.arange(n + 1))
        for c in range(n):
            a, b = bounds[c], bounds[c + 1]
            if b > a:
                x = sinr[a:b]
                cov[c] = 100.0 * np.count_nonzero(x >= SINR_MIN_DB) / (b - a)
                f = np.isfinite(x)
                if f.any():
                    sinr5[c] = float(np.percentile(x[f], 5.0))
                r = rsrp[a:b][np.isfinite(rsrp[a:b])]
                if r.size:
                    rsrp5[c] = float(np.percentile(r, 5.0))
        return cov, sinr5, rsrp5

    def _drone_columns(self, cols: dict[str, Any]) -> tuple[dict[str, Any], np.ndarray | None]:
        sim = self.sim
        tw = sim.twin
        tracks = sim.sensing.tracks if sim.sensing is not None else []  # a snapshot: built once
        if not tracks:
            return cols, None
        pos = np.array([t.pos for t in tracks], dtype=np.float64).reshape(-1, 3)
        truth = np.array([t.truth() for t in tracks], dtype=np.int64)
        registered = np.where(truth >= 0, tw.drones.registered[np.maximum(truth, 0)], False)
        gain = gain_map_dense(tw.cells, PointArrays(pos[:, 0], pos[:, 1], np.maximum(pos[:, 2], 1.5)), tw.fields,
                              wrap_offsets_m=tw.wrap_offsets_m, parallel=False)
        snr_db = tw.cells.tx_power_dbm[None, :] + gain - tw.noise_dbm
        visible = np.count_nonzero(snr_db >= SINR_MIN_DB, axis=1).astype(np.float64)
        zones = self.settings.restricted_zones
        if zones:
            d = np.min([np.hypot(pos[:, 0] - z.x_m, pos[:, 1] - z.y_m) - z.radius_m for z in zones], axis=0)
            dist = np.maximum(d, 0.0)
        else:
            dist = np.full(len(tracks), np.nan)
        confirmed = np.array([t.confirmed for t in tracks], bool)
        duration = np.array([sim.time_s - t.born_t_s for t in tracks], dtype=np.float64)
        cols.update({"drone_authorised": registered, "drone_altitude_m": pos[:, 2], "visible_cells": visible,
                     "distance_to_restricted_m": dist,
                     "track_duration_s": np.where(confirmed, duration, 0.0)})
        return cols, np.array([t.tid for t in tracks], dtype=np.int64)
