"""Map plots a planner reads: a raster quantity with the sites and each sector's azimuth drawn on top."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dientine.grid import Grid  # noqa: E402
from dientine.layout import CellTable  # noqa: E402


def _draw_sites(ax, cells: CellTable, arrow_m: float) -> None:
    ax.scatter(cells.x_m, cells.y_m, s=18, c="black", marker="^", zorder=3, label="site")
    az = np.radians(cells.azimuth_deg)
    ax.quiver(cells.x_m, cells.y_m, np.cos(az) * arrow_m, np.sin(az) * arrow_m, angles="xy", scale_units="xy",
              scale=1.0, width=0.003, color="black", zorder=3)
    for site, (x, y) in enumerate(cells.site_positions_m()):
        ax.annotate(str(site), (x, y), xytext=(3, 3), textcoords="offset points", fontsize=6, zorder=4)


def plot_map(
    path: Path, grid: Grid, values: np.ndarray, cells: CellTable, *, title: str, unit: str,
    cmap: str = "viridis", vmin: float | None = None, vmax: float | None = None, categorical: bool = False,
) -> Path:
    """Write a PNG of ``values`` (flat, row-major over ``grid``) with sites and sector azimuths."""
    image = np.asarray(values, dtype=np.float64).reshape(grid.shape)
    fig, ax = plt.subplots(figsize=(8, 8 * grid.height_m / grid.width_m + 0.6), dpi=110)
    if categorical:
        masked = np.ma.masked_less(image, 0)
        n = int(max(1, np.nanmax(image) + 1))
        mesh = ax.imshow(masked, origin="lower", extent=grid.extent_m(), cmap=plt.get_cmap("tab20", min(n, 20)),
                         interpolation="nearest")
    else:
        finite = np.where(np.isfinite(image), image, np.nan)
        mesh = ax.imshow(finite, origin="lower", extent=grid.extent_m(), cmap=cmap, vmin=vmin, vmax=vmax,
                         interpolation="nearest")
    fig.colorbar(mesh, ax=ax, fraction=0.046, pad=0.02, label=unit)
    _draw_sites(ax, cells, arrow_m=0.06 * min(grid.width_m, grid.height_m))
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(title)
    ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
