"""The coverage study of a scenario without a clock: per-pixel RSRP, SINR, best server and rate, maps and KPIs.

Every pixel centre of the scenario's raster is a UE at 1.5 m (TR 38.901 outdoor h_UT); a share
``network.indoor_fraction`` of pixels is indoor with TR 38.901 §7.4.3 low-loss O2I penetration
(PL_tw + 0.5 d2D_in, d2D_in ~ U(0, 25 m): the single draw below 6 GHz, REFERENCES.md §1.4, plus N(0, σ_P²)).
Every cell transmits at full load (the full-buffer interference of the TR 38.901 §7.8 / ITU-R M.2412 calibration).
KPIs: coverage = share of pixels with SINR ≥ −10 dB, the SINR_MIN below which TR 36.942 Annex A.1 gives no
throughput; SINR, RSRP and rate percentiles over all pixels (uncovered pixels count with rate 0).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from dientine.maps import plot_map
from dientine.network import build_network, grid_for
from dientine.radio import maps as radio_maps
from dientine.radio.network_arrays import PointArrays
from dientine.radio.o2i import o2i_loss_db
from dientine.radio.shadowing import build_site_fields
from dientine.scenario import Scenario

#: TR 36.942 Annex A.1 (DL): SINR_MIN = −10 dB, no throughput below it (REFERENCES.md §4.1).
SINR_MIN_DB = -10.0
#: TR 38.901 Table 7.4.3-3 (REFERENCES.md §1.4): d2D_in ~ U(0, 25 m) for UMa/UMi below 6 GHz (single draw);
#: RMa U(0, 10 m).
D2D_IN_MAX_M = {"UMa": 25.0, "UMi": 25.0, "RMa": 10.0}
#: TR 38.901 §7.4.1 outdoor UE height (REFERENCES.md §1.6).
UE_HEIGHT_M = 1.5
#: Above this many dense gain entries (float32) the study keeps only the strongest cells per pixel (top-K).
DENSE_ENTRIES_MAX = 150_000_000
TOP_K = 16


def _percentile(values: np.ndarray, q: float) -> float:
    finite = values[np.isfinite(values)]
    return float(np.percentile(finite, q)) if finite.size else float("-inf")


def coverage_kpis(sinr_db: np.ndarray, rsrp_dbm: np.ndarray, rate_mbps: np.ndarray) -> dict[str, float]:
    """Coverage % (SINR ≥ SINR_MIN), SINR/RSRP percentiles and rate percentiles over all points."""
    return {
        "coverage_pct": float(100.0 * np.mean(sinr_db >= SINR_MIN_DB)),
        "sinr_p5_db": _percentile(sinr_db, 5),
        "sinr_p50_db": _percentile(sinr_db, 50),
        "sinr_p95_db": _percentile(sinr_db, 95),
        "rsrp_p5_dbm": _percentile(rsrp_dbm, 5),
        "rsrp_p50_dbm": _percentile(rsrp_dbm, 50),
        "rate_p5_mbps": float(np.percentile(rate_mbps, 5)),
        "rate_p50_mbps": float(np.percentile(rate_mbps, 50)),
        "rate_mean_mbps": float(np.mean(rate_mbps)),
    }


def compute_coverage(scenario: Scenario, progress: Progress | None = None, task=None) -> dict[str, Any]:
    """Grid, network and per-pixel results of ``scenario`` (no files written)."""

    def advance(label: str) -> None:
        if progress is not None:
            progress.update(task, advance=1, description=label)

    net = build_network(scenario.network, load=1.0)
    grid = grid_for(scenario, net.table)
    cells = net.cells
    root = np.random.default_rng(scenario.seed)
    fields_rng, indoor_rng, o2i_rng = root.spawn(3)
    indoor_fraction = scenario.network.indoor_fraction
    points = PointArrays.from_grid(grid, UE_HEIGHT_M)
    if indoor_fraction > 0:
        indoor = indoor_rng.random(points.n_points) < indoor_fraction
        family = cells.scenario.split("-")[0]
        d_in = indoor_rng.uniform(0.0, D2D_IN_MAX_M[family], points.n_points)
        loss = o2i_loss_db(cells.fc_ghz, indoor, d_in, loss_model="low", rng=o2i_rng)
        points = PointArrays(points.x_m, points.y_m, points.height_m, indoor, loss)
    advance("shadowing and LOS fields")
    fields = build_site_fields(grid, cells.n_sites, cells.scenario, fields_rng, include_o2i=indoor_fraction > 0)
    advance("path gains")
    if points.n_points * cells.n_cells <= DENSE_ENTRIES_MAX:
        gain = radio_maps.gain_map_dense(cells, points, fields, wrap_offsets_m=net.wrap_offsets_m)
        cell_index = None
    else:
        cell_index, gain = radio_maps.gain_map_topk(cells, points, fields, TOP_K, wrap_offsets_m=net.wrap_offsets_m,
                                                    rank_offset_db=cells.tx_power_dbm)
    advance("best server and SINR")
    noise_dbm = radio_maps.default_noise_dbm(cells, scenario.network.ue_noise_figure_db)
    result = radio_maps.serve(gain, cell_index, cells, noise_dbm=noise_dbm)
    return {"grid": grid, "network": net, "result": result, "noise_dbm": noise_dbm, "points": points}


def run_coverage(scenario: Scenario, out_dir: Path, *, progress: bool = False) -> dict[str, Any]:
    """Compute the study and write ``maps.npz``, four PNG maps and ``kpis.json`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = (TextColumn("{task.description:<28}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn())
    with Progress(*columns, disable=not progress, transient=True) as bar:
        task = bar.add_task("building network", total=8)
        study = compute_coverage(scenario, bar, task)
        grid, net, res = study["grid"], study["network"], study["result"]
        bar.update(task, advance=1, description="writing maps")
        np.savez_compressed(
            out_dir / "maps.npz", rsrp_dbm=res.rsrp_dbm, sinr_db=res.sinr_db, serving_cell=res.serving_cell,
            rate_mbps=res.rate_mbps, grid=np.array([grid.x0_m, grid.y0_m, grid.width_m, grid.height_m,
                                                    grid.resolution_m]), shape=np.array(grid.shape))
        table = net.table
        plot_map(out_dir / "rsrp.png", grid, res.rsrp_dbm, table, title=f"{scenario.name}: RSRP per RE",
                 unit="dBm", cmap="viridis")
        bar.update(task, advance=1, description="plotting")
        plot_map(out_dir / "sinr.png", grid, res.sinr_db, table, title=f"{scenario.name}: DL SINR (full load)",
                 unit="dB", cmap="RdYlGn", vmin=-10, vmax=30)
        plot_map(out_dir / "server.png", grid, res.serving_cell, table, title=f"{scenario.name}: best server",
                 unit="cell", categorical=True)
        plot_map(out_dir / "rate.png", grid, res.rate_mbps, table,
                 title=f"{scenario.name}: rate with all resources (TR 36.942 A.1)", unit="Mbps", cmap="magma")
        bar.update(task, advance=1, description="KPIs")
        kpis: dict[str, Any] = {
            "scenario": scenario.name, "seed": scenario.seed, "n_pixels": grid.n_pixels,
            "resolution_m": grid.resolution_m, "n_cells": net.cells.n_cells,
            "n_cells_active": int(net.cells.active.sum()), "noise_dbm": study["noise_dbm"],
            "served_pct": float(100.0 * np.mean(res.serving_cell >= 0)),
        }
        kpis.update(coverage_kpis(res.sinr_db, res.rsrp_dbm, res.rate_mbps))
        (out_dir / "kpis.json").write_text(json.dumps(kpis, indent=2) + "\n", encoding="utf-8")
        bar.update(task, advance=1)
    return kpis
