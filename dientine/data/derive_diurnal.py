"""Derive the hourly diurnal traffic profiles in ``diurnal_hourly.csv`` from the 10-minute digitised series.

Input: ``diurnal_10min_digitised.csv`` (144 samples per day per profile, see README.md for provenance).
Method: the six 10-minute samples of hour ``h`` (minutes ``60 h`` ... ``60 h + 50``) are averaged, then the
24 hourly means are divided by their maximum, so the busiest hour has relative load 1.0.

Run from the repository root: ``.venv/bin/python dientine/data/derive_diurnal.py`` (rewrites the CSV).
"""

from __future__ import annotations

import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE_CSV = HERE / "diurnal_10min_digitised.csv"
HOURLY_CSV = HERE / "diurnal_hourly.csv"
SAMPLES_PER_HOUR = 6


def read_10min(path: Path = SOURCE_CSV) -> dict[str, list[float]]:
    """Columns of the 10-minute file (without ``minute_of_day``), each a list of 144 floats."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if len(rows) != 24 * SAMPLES_PER_HOUR:
        raise ValueError(f"{path}: expected {24 * SAMPLES_PER_HOUR} rows, found {len(rows)}")
    for i, row in enumerate(rows):
        if int(row["minute_of_day"]) != 10 * i:
            raise ValueError(f"{path}:{i + 2}: expected minute_of_day {10 * i}, found {row['minute_of_day']}")
    names = [k for k in rows[0] if k != "minute_of_day"]
    return {name: [float(r[name]) for r in rows] for name in names}


def hourly_peak_normalised(samples: list[float]) -> list[float]:
    """Mean of each hour's six samples, divided by the largest hourly mean."""
    means = [sum(samples[h * SAMPLES_PER_HOUR:(h + 1) * SAMPLES_PER_HOUR]) / SAMPLES_PER_HOUR for h in range(24)]
    peak = max(means)
    return [m / peak for m in means]


def derive(path: Path = SOURCE_CSV) -> dict[str, list[float]]:
    return {name: hourly_peak_normalised(s) for name, s in read_10min(path).items()}


def main() -> None:
    profiles = derive()
    names = list(profiles)
    with open(HOURLY_CSV, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["hour", *names])
        for h in range(24):
            w.writerow([h, *(f"{profiles[n][h]:.4f}" for n in names)])
    print(f"wrote {HOURLY_CSV}")


if __name__ == "__main__":
    main()
