"""Constants, the threshold book and bookkeeping records of the closed loop."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml

import decisions
from decisions.feedback import ThresholdBook
from dientine.scenario import LoopSettings

THRESHOLDS_YAML = decisions.tables_dir() / "thresholds.yaml"

#: Default decision interval when the clock states none: the 1 h period of the sleep plan (REFERENCES.md §6.1).
DEFAULT_DECISION_EVERY_S = 3600.0

#: The thresholds the loop adapts and which way of moving each makes the energy-saving policy act more often
#: (feedback's ``aggressive``): a higher sleep load, a later window end, a lower neighbour-headroom requirement
#: and a lower wake threshold all put more cells to sleep for longer. The window start stays at its value:
#: moving start and end with the same signal can close the window altogether (start >= end), after which no
#: outcome would ever reopen it.
ADAPTED_THRESHOLDS: dict[str, dict[str, str]] = {
    "energy_saving": {
        "threshold_sleep_load": "up",
        "threshold_sleep_end_hour": "up",
        "threshold_neighbour_headroom": "down",
        "threshold_wake_headroom": "down",
    },
}

#: Step-size sequence of the adapted thresholds (decisions.feedback, a_k = gain / (k + 1)^gamma): gamma = 1,
#: the classical Robbins-Monro choice (sum a_k infinite, sum a_k^2 finite), so that the thresholds settle
#: within a simulated week of hourly outcomes; gain = feedback's default. Policy assumptions.
FEEDBACK_GAIN = 0.5
FEEDBACK_GAMMA = 1.0

#: The no-op output of each bundled table (rows with it are not logged as recommendations).
NOOP_ACTION = {"energy_saving": "keep", "coverage_tilt": "keep", "power_adjustment": "keep",
               "incumbent_protection": "none", "drone_response": "ignore", "maintenance_scheduling": "none"}

#: Unserved-traffic penalty of the sleep MILP [Wh-equivalent per Mbit/s lost for one hour]: an assumption,
#: chosen far above one cell-hour of EARTH idle power (260 W) so that the plan never trades traffic for energy
#: unless no plan serves it (then the loss is minimised).
UNSERVED_PENALTY_WH_PER_MBIT = 1000.0


class LoopError(ValueError):
    """The closed loop cannot run the scenario as written; the message names the field."""


@dataclass
class PendingWindow:
    """An open outcome window of the energy-saving thresholds."""

    tick_from: int
    tick_to: int
    names: list[str]
    expected_saving_kwh: float
    reference: tuple[dict[str, np.ndarray], dict[str, float]] | None


@dataclass
class LoopStats:
    decide_ms: list[float] = field(default_factory=list)
    table_s: float = 0.0
    solver_s: float = 0.0
    apply_s: float = 0.0
    tick_s: float = 0.0
    protection_s: float = 0.0
    solver_calls: int = 0
    solver_failures: int = 0
    plans_kept: int = 0
    guard_wakes: int = 0
    predictions: int = 0
    tilt_calls: int = 0
    plans_rejected: int = 0
    recommended: int = 0
    applied: int = 0
    rows_evaluated: int = 0
    expected_saving_kwh: float = 0.0
    measured_saving_kwh: float = 0.0
    drone_alerts: int = 0
    protection_violations: int = 0
    protection_checks: int = 0
    outcome_windows: int = 0
    qos_violations: int = 0
    max_cells_asleep: int = 0


#: Parsed files by (path, modification time, size): the tables and threshold specs are read-only once loaded,
#: so every loop of the process shares them (re-read when the file changes).
_FILE_CACHE: dict[tuple[str, int, int], Any] = {}


def _cached(path, load):
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _FILE_CACHE:
        _FILE_CACHE[key] = load(path)
    return _FILE_CACHE[key]


def _bundled_specs() -> dict[str, dict]:
    data = _cached(THRESHOLDS_YAML, lambda p: yaml.safe_load(p.read_text(encoding="utf-8")) or {})
    return copy.deepcopy(dict(data.get("thresholds") or {}))


def load_table(name: str):
    """A bundled decision table by name (``decisions/tables/<name>.dmn`` or ``.yaml``), parsed once per process
    (and again when the file changes)."""
    for ext in (".dmn", ".yaml"):
        path = decisions.tables_dir() / f"{name}{ext}"
        if path.is_file():
            return _cached(path, decisions.load)
    raise LoopError(f"decisions: no bundled table named {name!r} in {decisions.tables_dir()}")


def threshold_book(tables: dict[str, Any], settings: LoopSettings) -> ThresholdBook:
    """The thresholds the tables read, with bounds and steps from ``thresholds.yaml``, adaptation direction
    from :data:`ADAPTED_THRESHOLDS` and initial values from ``loop.thresholds``."""
    bundled = _bundled_specs()
    specs: dict[str, dict] = {}
    for table, model in tables.items():
        for name in model.input_names():
            if not name.startswith("threshold_"):
                continue
            if name not in bundled:
                raise LoopError(f"decisions: table {table!r} reads {name!r}, which {THRESHOLDS_YAML} does not "
                                f"define")
            body = dict(bundled[name])
            body["aggressive"] = ADAPTED_THRESHOLDS.get(table, {}).get(name, "up")
            body.setdefault("gain", FEEDBACK_GAIN)
            body.setdefault("gamma", FEEDBACK_GAMMA)
            specs[name] = body
    book = ThresholdBook.from_mapping(specs)
    for name, value in settings.thresholds.items():
        if name not in book.specs:
            raise LoopError(f"loop.thresholds.{name}: not a threshold of the scenario's tables; known: "
                            f"{sorted(book.specs)}")
        spec = book.specs[name]
        if not (math.isfinite(value) and spec.min <= value <= spec.max):
            raise LoopError(f"loop.thresholds.{name}: expected a number in [{spec.min:g}, {spec.max:g}], "
                            f"found {value!r}")
        book.values[name] = float(value)
    return book


def jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v

