"""Live twins fed by telemetry: the latest per-cell KPIs of each running twin, held by the API process.

A live twin is created with its cell ids (``POST /v1/twins``) or registered from Python with an attached twin
object; ``ingest`` validates every record (unknown cell → error naming ``records[i].cell_id``), keeps the newest
sample per cell and, when an object is attached, forwards the accepted records to its ``ingest_telemetry``
method (a simulation twin can then steer by measured KPIs). State is in memory: telemetry is an input stream,
not a record of runs (runs go to the store).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dientine.store import utcnow


class TelemetryError(ValueError):
    """A telemetry record is inconsistent with its twin; ``field`` is the dotted path of the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class Sample:
    time: datetime
    kpis: dict[str, float]


@dataclass
class LiveTwin:
    name: str
    cell_ids: frozenset[str]
    created: datetime = field(default_factory=utcnow)
    latest: dict[str, Sample] = field(default_factory=dict)
    records: int = 0
    attached: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(self, records: Sequence[Mapping[str, Any]]) -> None:
        for i, r in enumerate(records):
            if r["cell_id"] not in self.cell_ids:
                raise TelemetryError(f"records.{i}.cell_id", f"unknown cell {r['cell_id']!r} in twin {self.name!r}")

    def ingest(self, records: Sequence[Mapping[str, Any]], *, dry_run: bool = False) -> int:
        """Validate and apply records ``{cell_id, time, kpis}``; returns how many were accepted."""
        self.check(records)
        if dry_run:
            return len(records)
        with self._lock:
            for r in records:
                t = r.get("time") or utcnow()
                prev = self.latest.get(r["cell_id"])
                if prev is None or t >= prev.time:
                    merged = dict(prev.kpis) if prev is not None else {}
                    merged.update(r["kpis"])
                    self.latest[r["cell_id"]] = Sample(t, merged)
            self.records += len(records)
        if self.attached is not None and hasattr(self.attached, "ingest_telemetry"):
            self.attached.ingest_telemetry(list(records))
        return len(records)

    def summary(self) -> dict[str, Any]:
        last = max((s.time for s in self.latest.values()), default=None)
        return {"name": self.name, "cells": len(self.cell_ids), "cells_reporting": len(self.latest),
                "records": self.records, "created": self.created, "last_time": last}

    def state(self) -> dict[str, Any]:
        with self._lock:
            cells = {c: {"time": s.time, "kpis": dict(s.kpis)} for c, s in sorted(self.latest.items())}
        return {**self.summary(), "latest": cells}


class TwinRegistry:
    def __init__(self) -> None:
        self._twins: dict[str, LiveTwin] = {}
        self._lock = threading.Lock()

    def create(self, name: str, cell_ids: Iterable[str], *, attached: Any = None, dry_run: bool = False) -> LiveTwin:
        with self._lock:
            if name in self._twins:
                raise KeyError(f"twin {name!r} already exists")
            twin = LiveTwin(name, frozenset(str(c) for c in cell_ids), attached=attached)
            if not dry_run:
                self._twins[name] = twin
            return twin

    def get(self, name: str) -> LiveTwin:
        try:
            return self._twins[name]
        except KeyError:
            raise LookupError(f"twin {name!r}: no such running twin") from None

    def list(self) -> list[LiveTwin]:
        return [self._twins[k] for k in sorted(self._twins)]
