"""Files of a simulation run: ``kpis_cell.parquet``, ``kpis_network.parquet``, ``timeseries.png``,
``summary.json`` in one run directory (``runs/<run-id>/`` when run from the CLI).

``summary.json`` holds ``{"scenario": name, "seed": seed, "summary": {...}, "units": {...}, "wall_time_s": ...}``;
the keys of ``summary`` are :data:`dientine.kpis.SUMMARY_KEYS` (stable: regression ``expect:`` bounds use them).
Files are written to a temporary name and renamed, so a crash never leaves a half-written file under the final
name (DESIGN.md "Store": a run is registered only when its files are complete).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from dientine.kpis import SUMMARY_KEYS  # noqa: E402

FILES = ("kpis_cell.parquet", "kpis_network.parquet", "timeseries.png", "summary.json")


def _atomic(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_parquet(table: pa.Table, path: Path) -> Path:
    tmp = _atomic(path)
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)
    return path


def write_summary(path: Path, *, scenario: str, seed: int, summary: dict, wall_time_s: float,
                  extra: dict | None = None) -> Path:
    doc = {
        "scenario": scenario,
        "seed": int(seed),
        "summary": summary,
        "units": {k: v.unit for k, v in SUMMARY_KEYS.items()},
        "wall_time_s": round(float(wall_time_s), 3),
    }
    if extra:
        doc.update(extra)
    tmp = _atomic(path)
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def plot_timeseries(network: pa.Table, path: Path, *, title: str, event_marks: list[tuple[float, str]] = ()
                    ) -> Path:
    """Four stacked panels over simulated hours: active users and coverage; p5/median user rate; offered vs
    carried traffic; network input power and cells failed/asleep. ``event_marks`` are (hour, label) lines."""
    t_h = network.column("time_s").to_numpy() / 3600.0

    def col(name: str) -> np.ndarray:
        return network.column(name).to_numpy().astype(np.float64)

    fig, axes = plt.subplots(4, 1, figsize=(10, 11), sharex=True, dpi=100)
    ax = axes[0]
    ax.step(t_h, col("users_active"), where="post", color="tab:blue", label="active users")
    ax.set_ylabel("active users")
    ax2 = ax.twinx()
    ax2.step(t_h, col("coverage_pct"), where="post", color="tab:green", label="coverage (SINR >= -10 dB)")
    ax2.set_ylabel("coverage (%)")
    ax2.set_ylim(0, 101)
    ax.legend(loc="upper left", fontsize=8)
    ax2.legend(loc="upper right", fontsize=8)

    ax = axes[1]
    ax.step(t_h, col("rate_p5_mbps"), where="post", label="5th percentile")
    ax.step(t_h, col("rate_median_mbps"), where="post", label="median")
    ax.set_ylabel("user rate (Mbps)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)

    ax = axes[2]
    ax.step(t_h, col("demand_mbps") / 1e3, where="post", label="offered")
    ax.step(t_h, col("throughput_mbps") / 1e3, where="post", label="carried")
    ax.set_ylabel("traffic (Gbps)")
    ax.legend(fontsize=8)

    ax = axes[3]
    ax.step(t_h, col("power_w") / 1e3, where="post", color="tab:red", label="input power")
    ax.set_ylabel("power (kW)")
    ax3 = ax.twinx()
    ax3.step(t_h, col("cells_failed"), where="post", color="black", label="cells failed")
    ax3.step(t_h, col("cells_sleeping"), where="post", color="tab:gray", label="cells asleep")
    ax3.set_ylabel("cells")
    ax.legend(loc="upper left", fontsize=8)
    ax3.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("simulated time (h)")

    for hour, label in event_marks:
        for a in axes:
            a.axvline(hour, color="tab:purple", lw=0.8, ls="--")
        axes[0].annotate(label, (hour, 1.0), xycoords=("data", "axes fraction"), fontsize=7, rotation=90,
                         va="top", ha="right", color="tab:purple")
    fig.suptitle(title)
    fig.tight_layout()
    tmp = _atomic(path)
    fig.savefig(tmp, format="png")
    plt.close(fig)
    tmp.replace(path)
    return path
