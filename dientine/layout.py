"""Network layouts: the hexagonal calibration layout and sites read from CSV, as per-cell arrays.

Hexagonal layout (REFERENCES.md §0; TR 38.901 Table 7.8-1 / ITU-R M.2412 calibration layout): sites on axial
coordinates (q, r) with |q|, |r|, |q + r| <= rings, ``x = D (q + r/2)``, ``y = D (sqrt(3)/2) r``, i.e.
``1 + 3 n (n + 1)`` sites for n rings; three sectors per site with boresights 30°, 150°, 270° (azimuth counter-
clockwise from +x, TR 38.901 §7.1), as in NVlabs/sionna ``gen_tr38901_multicell_topology``. Wrap-around uses the
six images of the whole cluster, shifted by the cluster's translation vectors.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dientine.radio.network_arrays import hex_wraparound_offsets_m

#: TR 38.901 §7.1 / Sionna ``gen_tr38901_multicell_topology``: sector boresights of a 3-sector site (degrees).
THREE_SECTOR_BORESIGHTS_DEG = (30.0, 150.0, 270.0)


class LayoutError(ValueError):
    """A layout input (CSV row, parameter) is wrong; the message names file, line and column.

    ``problems`` holds every problem found as ``(file, line, column, message)`` (line and column may be None)."""

    def __init__(self, message: str, problems: list[tuple[str, int | None, str, str]] | None = None):
        super().__init__(message)
        self.problems = problems or []


@dataclass(frozen=True)
class CellTable:
    """Per-cell static configuration, one entry per cell (sector)."""

    site_id: np.ndarray  # int64, index of the site the cell belongs to
    x_m: np.ndarray
    y_m: np.ndarray
    height_m: np.ndarray
    azimuth_deg: np.ndarray
    mech_tilt_deg: np.ndarray
    elec_tilt_deg: np.ndarray
    tx_power_dbm: np.ndarray
    wrap_offsets_m: np.ndarray | None = None  # (n_images, 2) cluster translations incl. (0, 0), or None

    @property
    def n_cells(self) -> int:
        return int(self.x_m.shape[0])

    @property
    def n_sites(self) -> int:
        return int(self.site_id.max()) + 1 if self.site_id.size else 0

    def site_positions_m(self) -> np.ndarray:
        """(n_sites, 2) site coordinates (first cell of each site)."""
        out = np.zeros((self.n_sites, 2))
        for s in range(self.n_sites):
            i = int(np.flatnonzero(self.site_id == s)[0])
            out[s] = (self.x_m[i], self.y_m[i])
        return out


def hex_site_positions_m(rings: int, isd_m: float) -> np.ndarray:
    """Site centres (n_sites, 2) of a hexagonal grid with ``rings`` tiers around (0, 0) (REFERENCES.md §0)."""
    if rings < 0:
        raise LayoutError(f"hex.rings: expected an integer >= 0, found {rings}")
    if not isd_m > 0:
        raise LayoutError(f"hex.isd_m: expected a positive number, found {isd_m}")
    sites = []
    for r in range(-rings, rings + 1):
        for q in range(-rings, rings + 1):
            if abs(q + r) <= rings:
                sites.append((isd_m * (q + r / 2.0), isd_m * math.sqrt(3.0) / 2.0 * r))
    # centre site first, then by ring and angle, so that site 0 is the centre
    sites.sort(key=lambda p: (round(math.hypot(*p) / isd_m, 6), math.atan2(p[1], p[0]) % (2 * math.pi)))
    return np.asarray(sites, dtype=np.float64)


def hex_wrap_offsets_m(rings: int, isd_m: float) -> np.ndarray:
    """The 7 translations (incl. (0, 0)) that tile the plane with copies of an n-ring hexagonal cluster
    (:func:`dientine.radio.network_arrays.hex_wraparound_offsets_m`)."""
    return hex_wraparound_offsets_m(isd_m, rings)


def hex_layout(
    rings: int,
    isd_m: float,
    *,
    sectors: int = 3,
    height_m: float,
    tx_power_dbm: float,
    mech_tilt_deg: float = 0.0,
    elec_tilt_deg: float = 0.0,
    wrap_around: bool = False,
) -> CellTable:
    """Cells of the hexagonal layout; ``sectors`` = 3 uses the 30°/150°/270° boresights, 1 an omni site (0°)."""
    if sectors not in (1, 3):
        raise LayoutError(f"hex.sectors: expected 1 or 3, found {sectors}")
    sites = hex_site_positions_m(rings, isd_m)
    boresights = THREE_SECTOR_BORESIGHTS_DEG if sectors == 3 else (0.0,)
    n = len(sites) * sectors
    site_id = np.repeat(np.arange(len(sites)), sectors)
    return CellTable(
        site_id=site_id.astype(np.int64),
        x_m=np.repeat(sites[:, 0], sectors),
        y_m=np.repeat(sites[:, 1], sectors),
        height_m=np.full(n, float(height_m)),
        azimuth_deg=np.tile(np.asarray(boresights, dtype=np.float64), len(sites)),
        mech_tilt_deg=np.full(n, float(mech_tilt_deg)),
        elec_tilt_deg=np.full(n, float(elec_tilt_deg)),
        tx_power_dbm=np.full(n, float(tx_power_dbm)),
        wrap_offsets_m=hex_wrap_offsets_m(rings, isd_m) if wrap_around else None,
    )


#: Columns of a sites CSV, one row per cell (sector). Position by x_m/y_m (local metres) or lat/lon (degrees).
SITE_CSV_REQUIRED = ("site", "azimuth_deg")
SITE_CSV_OPTIONAL = ("height_m", "mech_tilt_deg", "elec_tilt_deg", "tx_power_dbm")
_CSV_RANGES = {
    "azimuth_deg": (0.0, 360.0, "[0, 360)"),
    "height_m": (1.0, 300.0, "[1, 300]"),
    "mech_tilt_deg": (-90.0, 90.0, "[-90, 90]"),
    "elec_tilt_deg": (-90.0, 90.0, "[-90, 90]"),
    "tx_power_dbm": (-30.0, 80.0, "[-30, 80]"),
    "lat": (-90.0, 90.0, "[-90, 90]"),
    "lon": (-180.0, 180.0, "[-180, 180]"),
    "x_m": (-1e6, 1e6, "[-1e6, 1e6]"),
    "y_m": (-1e6, 1e6, "[-1e6, 1e6]"),
}

#: WGS-84 equatorial radius (m), NIMA TR8350.2 Table 3.1; used by the local equirectangular projection below.
_EARTH_RADIUS_M = 6_378_137.0


def _parse_csv_number(column: str, text: str) -> float:
    """The number in a CSV field; ValueError with the expectation when it is not a number in range."""
    lo, hi, shown = _CSV_RANGES[column]
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number in {shown}, found {text!r}") from None
    upper_ok = value < hi if column == "azimuth_deg" else value <= hi
    if not (math.isfinite(value) and value >= lo and upper_ok):
        raise ValueError(f"expected a number in {shown}, found {text!r}")
    return value


def load_sites_csv(
    path: str | Path, *, default_height_m: float, default_tx_power_dbm: float,
    default_mech_tilt_deg: float = 0.0, default_elec_tilt_deg: float = 0.0,
) -> CellTable:
    """Read a CSV with one row per cell: ``site`` (any label), ``azimuth_deg``, a position as ``x_m``/``y_m`` or
    ``lat``/``lon``, and optional ``height_m``, ``mech_tilt_deg``, ``elec_tilt_deg``, ``tx_power_dbm``.

    Lat/lon are projected to local metres about their mean with the equirectangular approximation
    (x = R cos(lat0) (lon - lon0), y = R (lat - lat0)), accurate to well under a pixel over a city.
    Bad rows raise one :class:`LayoutError` listing every problem with ``file:line`` and the column.
    """
    path = Path(path)
    if not path.is_file():
        raise LayoutError(f"{path}: sites file not found")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in SITE_CSV_REQUIRED if c not in header]
        has_xy = "x_m" in header and "y_m" in header
        has_ll = "lat" in header and "lon" in header
        if missing or not (has_xy or has_ll):
            need = ", ".join(missing + ([] if (has_xy or has_ll) else ["x_m and y_m, or lat and lon"]))
            raise LayoutError(f"{path}:1 header: missing column(s) {need}; found {header}")
        known = set(SITE_CSV_REQUIRED) | set(SITE_CSV_OPTIONAL) | {"x_m", "y_m", "lat", "lon", "cell"}
        unknown = [h for h in header if h not in known]
        if unknown:
            raise LayoutError(f"{path}:1 header: unknown column(s) {unknown}; expected some of {sorted(known)}")
        rows = []
        problems: list[tuple[str, int | None, str, str]] = []
        for raw in reader:
            line = reader.line_num  # the physical line (blank lines are skipped by DictReader)
            row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
            if not row.get("site"):
                problems.append((str(path), line, "site", "expected a site label, found an empty field"))
                continue
            parsed: dict[str, float | str] = {"site": row["site"]}
            numeric = ["azimuth_deg", *(("x_m", "y_m") if has_xy else ("lat", "lon"))]
            numeric += [c for c in SITE_CSV_OPTIONAL if row.get(c, "") != ""]
            for column in numeric:
                try:
                    parsed[column] = _parse_csv_number(column, row.get(column, ""))
                except ValueError as exc:
                    problems.append((str(path), line, column, str(exc)))
            rows.append(parsed)
    if problems:
        raise LayoutError("\n".join(f"{f}:{ln} {col}: {msg}" for f, ln, col, msg in problems), problems)
    if not rows:
        raise LayoutError(f"{path}: no cell rows")
    labels: dict[str, int] = {}
    site_id = np.array([labels.setdefault(str(r["site"]), len(labels)) for r in rows], dtype=np.int64)
    if has_xy:
        x = np.array([r["x_m"] for r in rows], dtype=np.float64)
        y = np.array([r["y_m"] for r in rows], dtype=np.float64)
    else:
        lat = np.radians(np.array([r["lat"] for r in rows], dtype=np.float64))
        lon = np.radians(np.array([r["lon"] for r in rows], dtype=np.float64))
        lat0, lon0 = lat.mean(), lon.mean()
        x = _EARTH_RADIUS_M * np.cos(lat0) * (lon - lon0)
        y = _EARTH_RADIUS_M * (lat - lat0)

    def column(name: str, default: float) -> np.ndarray:
        return np.array([float(r.get(name, default)) for r in rows], dtype=np.float64)

    return CellTable(
        site_id=site_id, x_m=x, y_m=y,
        height_m=column("height_m", default_height_m),
        azimuth_deg=column("azimuth_deg", 0.0),
        mech_tilt_deg=column("mech_tilt_deg", default_mech_tilt_deg),
        elec_tilt_deg=column("elec_tilt_deg", default_elec_tilt_deg),
        tx_power_dbm=column("tx_power_dbm", default_tx_power_dbm),
    )
