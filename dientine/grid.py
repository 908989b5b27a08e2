"""Raster geometry of the twin: a regular grid of square pixels over a rectangular area.

Coordinates are metres in a local east/north frame (x east, y north). Pixel (row, col) covers
``[x0 + col*res, x0 + (col+1)*res) x [y0 + row*res, y0 + (row+1)*res)`` and its centre is used for every
per-pixel radio quantity ("the grid is the cache", DESIGN.md). Row 0 is the southern edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Grid:
    """A raster of ``n_rows x n_cols`` square pixels of side ``resolution_m`` with its south-west corner at
    ``(x0_m, y0_m)``."""

    x0_m: float
    y0_m: float
    width_m: float
    height_m: float
    resolution_m: float

    def __post_init__(self) -> None:
        for name in ("width_m", "height_m", "resolution_m"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"Grid.{name}: expected a positive finite number, found {value!r}")
        if self.resolution_m > min(self.width_m, self.height_m):
            raise ValueError(
                f"Grid.resolution_m: expected at most the area's smaller side "
                f"({min(self.width_m, self.height_m)} m), found {self.resolution_m}"
            )

    @classmethod
    def centred(cls, width_m: float, height_m: float, resolution_m: float) -> Grid:
        """A grid centred on the origin (the hexagonal layout's centre site)."""
        return cls(-width_m / 2.0, -height_m / 2.0, width_m, height_m, resolution_m)

    @property
    def n_cols(self) -> int:
        return int(np.ceil(self.width_m / self.resolution_m - 1e-9))

    @property
    def n_rows(self) -> int:
        return int(np.ceil(self.height_m / self.resolution_m - 1e-9))

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_rows, self.n_cols)

    @property
    def n_pixels(self) -> int:
        return self.n_rows * self.n_cols

    def x_centres_m(self) -> np.ndarray:
        return self.x0_m + (np.arange(self.n_cols) + 0.5) * self.resolution_m

    def y_centres_m(self) -> np.ndarray:
        return self.y0_m + (np.arange(self.n_rows) + 0.5) * self.resolution_m

    def pixel_centres_m(self) -> tuple[np.ndarray, np.ndarray]:
        """Flattened (row-major) x and y of every pixel centre, float64, length ``n_pixels``."""
        xx, yy = np.meshgrid(self.x_centres_m(), self.y_centres_m())
        return xx.ravel(), yy.ravel()

    def contains(self, x_m: np.ndarray, y_m: np.ndarray) -> np.ndarray:
        x_m = np.asarray(x_m)
        y_m = np.asarray(y_m)
        return (
            (x_m >= self.x0_m)
            & (x_m < self.x0_m + self.width_m)
            & (y_m >= self.y0_m)
            & (y_m < self.y0_m + self.height_m)
        )

    def pixel_index(self, x_m: np.ndarray, y_m: np.ndarray) -> np.ndarray:
        """Flat pixel index of each point; points outside the area are clamped to the nearest edge pixel."""
        col = np.floor((np.asarray(x_m, dtype=np.float64) - self.x0_m) / self.resolution_m).astype(np.int64)
        row = np.floor((np.asarray(y_m, dtype=np.float64) - self.y0_m) / self.resolution_m).astype(np.int64)
        np.clip(col, 0, self.n_cols - 1, out=col)
        np.clip(row, 0, self.n_rows - 1, out=row)
        return row * self.n_cols + col

    def extent_m(self) -> tuple[float, float, float, float]:
        """(left, right, bottom, top) for matplotlib's ``imshow(origin="lower")``."""
        return (self.x0_m, self.x0_m + self.n_cols * self.resolution_m,
                self.y0_m, self.y0_m + self.n_rows * self.resolution_m)
