"""Threshold store: versioned threshold values with full history, bounded by ``decisions/tables/thresholds.yaml``.

Every change appends a row (name, value, version, min, max, reason, changed_at, changed_by) to the catalog's
``thresholds`` table; the current value is the highest version. Changes are compare-and-set on the version
(optimistic concurrency; the API maps it to ETag / If-Match), so two controllers cannot overwrite each other.
The adaptation rule that proposes new values lives in ``decisions.feedback``; this module only stores them.

``thresholds.yaml`` (owned by ``decisions``) is read in either form::

    thresholds:                       # or the mapping at top level, or a list of {name: ..., ...}
      low_load_pct: {default: 20, min: 5, max: 50, description: "..."}

``default`` (or ``value``) seeds version 1; ``min``/``max`` bound every later change.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from decisions.yaml_form import safe_load_no_alias
from dientine.store import NotFound, Store, StoreError, VersionConflict, utcnow

BUNDLED_SPEC = Path(__file__).resolve().parent.parent / "decisions" / "tables" / "thresholds.yaml"


class ThresholdError(StoreError):
    """A threshold change is invalid (outside its bounds, not finite, unknown name)."""


@dataclass(frozen=True)
class ThresholdSpec:
    name: str
    default: float
    minimum: float | None
    maximum: float | None
    description: str = ""
    unit: str = ""


@dataclass(frozen=True)
class Threshold:
    name: str
    value: float
    version: int
    minimum: float | None
    maximum: float | None
    reason: str
    changed_at: datetime
    changed_by: str

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Threshold:
        return cls(
            name=row["name"],
            value=float(row["value"]),
            version=int(row["version"]),
            minimum=row["min"],
            maximum=row["max"],
            reason=row["reason"] or "",
            changed_at=row["changed_at"],
            changed_by=row["changed_by"] or "",
        )


def _num(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ThresholdError(f"{where}: expected a number, found {value!r}")
    if not math.isfinite(value):
        raise ThresholdError(f"{where}: expected a finite number, found {value!r}")
    return float(value)


def load_specs(path: str | Path | None = None) -> dict[str, ThresholdSpec]:
    """Read threshold defaults and bounds; a missing bundled file gives no thresholds (an explicit path must exist)."""
    if path is None:
        path = BUNDLED_SPEC
        if not path.is_file():
            return {}
    path = Path(path)
    try:
        doc = safe_load_no_alias(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:  # aliases are refused: their expansion is unbounded (QA F1)
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ThresholdError(f"{where}: {getattr(exc, 'problem', None) or exc}") from exc
    if isinstance(doc, Mapping) and "thresholds" in doc:
        doc = doc["thresholds"]
    items: list[tuple[str, Any]]
    if isinstance(doc, Mapping):
        items = list(doc.items())
    elif isinstance(doc, list):
        items = []
        for i, entry in enumerate(doc):
            if not isinstance(entry, Mapping) or "name" not in entry:
                raise ThresholdError(f"{path}: thresholds[{i}]: expected a mapping with a 'name'")
            items.append((str(entry["name"]), entry))
    else:
        raise ThresholdError(f"{path}: expected a mapping or list of thresholds, found {type(doc).__name__}")
    specs: dict[str, ThresholdSpec] = {}
    for name, entry in items:
        where = f"{path}: thresholds.{name}"
        if not isinstance(entry, Mapping):
            entry = {"default": entry}
        default = _num(entry.get("default", entry.get("value")), f"{where}.default")
        if default is None:
            raise ThresholdError(f"{where}: missing 'default'")
        lo = _num(entry.get("min"), f"{where}.min")
        hi = _num(entry.get("max"), f"{where}.max")
        if lo is not None and hi is not None and lo > hi:
            raise ThresholdError(f"{where}: min {lo} > max {hi}")
        if (lo is not None and default < lo) or (hi is not None and default > hi):
            raise ThresholdError(f"{where}: default {default} outside [{lo}, {hi}]")
        specs[str(name)] = ThresholdSpec(
            str(name), default, lo, hi, str(entry.get("description", "")), str(entry.get("unit", ""))
        )
    return specs


class ThresholdStore:
    """Current threshold values (cached in memory) over the catalog's versioned history."""

    def __init__(self, store: Store, spec_path: str | Path | None = None) -> None:
        self.store = store
        self.specs = load_specs(spec_path)
        self._lock = threading.Lock()
        self._current: dict[str, Threshold] = {}
        self._seed()
        self._reload()

    def _seed(self) -> None:
        existing = {r["name"] for r in self.store.threshold_current()}
        for spec in self.specs.values():
            if spec.name not in existing:
                self.store.insert_threshold(
                    spec.name, value=spec.default, minimum=spec.minimum, maximum=spec.maximum,
                    reason="default from thresholds.yaml", changed_by="system", expected_version=None,
                )

    def _reload(self) -> None:
        current = {r["name"]: Threshold.from_row(r) for r in self.store.threshold_current()}
        with self._lock:
            self._current = current
            self._values = {n: t.value for n, t in current.items()}

    def values(self) -> dict[str, float]:
        """Current values by name (a cached dict: do not mutate)."""
        return self._values

    def all(self) -> list[Threshold]:
        return sorted(self._current.values(), key=lambda t: t.name)

    def get(self, name: str) -> Threshold:
        try:
            return self._current[name]
        except KeyError:
            raise NotFound(f"threshold {name!r}: unknown; known: {sorted(self._current)}") from None

    def history(self, name: str) -> list[Threshold]:
        self.get(name)
        return [Threshold.from_row(r) for r in self.store.threshold_history(name)]

    def bounds(self, name: str) -> tuple[float | None, float | None]:
        spec = self.specs.get(name)
        if spec is not None:
            return spec.minimum, spec.maximum
        t = self.get(name)
        return t.minimum, t.maximum

    def check_value(self, name: str, value: float) -> float:
        v = _num(value, f"thresholds.{name}.value")
        assert v is not None
        lo, hi = self.bounds(name)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ThresholdError(f"thresholds.{name}.value: {v} outside the bounds [{lo}, {hi}]")
        return v

    def set(
        self,
        name: str,
        value: float,
        *,
        expected_version: int,
        reason: str,
        changed_by: str,
        dry_run: bool = False,
    ) -> Threshold:
        """Compare-and-set: write ``value`` as version ``expected_version + 1``.

        Raises :class:`dientine.store.VersionConflict` when ``expected_version`` is not current,
        :class:`ThresholdError` when the value is outside the bounds. ``dry_run`` checks everything and returns
        the threshold as it would be, writing nothing.
        """
        current = self.get(name)
        v = self.check_value(name, value)
        lo, hi = self.bounds(name)
        if dry_run:
            if expected_version != current.version:
                raise VersionConflict(
                    f"threshold {name!r}: version {expected_version} is not current ({current.version})",
                    current.version,
                )
            return Threshold(name, v, current.version + 1, lo, hi, reason, utcnow(), changed_by)
        row = self.store.insert_threshold(
            name, value=v, minimum=lo, maximum=hi, reason=reason, changed_by=changed_by,
            expected_version=expected_version,
        )
        self._reload()
        return Threshold.from_row(row)

    def apply_changes(self, changes: Iterable[Any], changed_by: str = "decisions.feedback") -> list[Threshold]:
        """Persist changes proposed by ``decisions.feedback`` (objects with ``name``, ``new``, ``reason``).

        Each becomes a new version on top of the current one (this process is the only writer); bounds are
        checked again here.
        """
        out = []
        for ch in changes:
            current = self.get(ch.name)
            out.append(self.set(ch.name, ch.new, expected_version=current.version, reason=ch.reason,
                                changed_by=changed_by))
        return out
