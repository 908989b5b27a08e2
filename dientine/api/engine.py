"""Decision tables for the API: bundled ``decisions/tables/*.dmn`` plus policies uploaded into the catalog.

Loaded models are cached by (name, version); an uploaded policy with the same name as a bundled table takes
precedence. Inputs named like a threshold are filled from the threshold store when the caller does not give them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from dientine.store import NotFound, Store

BUNDLED_TABLES = Path(__file__).resolve().parents[2] / "decisions" / "tables"
TABLE_SUFFIXES = (".dmn", ".yaml", ".yml")
_NON_TABLE_FILES = {"thresholds.yaml", "thresholds.yml"}


class UnknownTable(LookupError):
    """No bundled table or stored policy has this name."""


class InvalidInputs(ValueError):
    """Caller-given inputs the table cannot use; ``problems`` lists ``(input name, message)``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"inputs.{n}: {m}" for n, m in problems))


@dataclass
class Evaluation:
    """What one evaluation produced, in plain JSON-able data."""

    result: Any
    matched_rules: list[str]
    table_version: int | None = None
    explanation: Any = None
    inputs_used: dict[str, Any] = field(default_factory=dict)


def _jsonable(value: Any) -> Any:
    """FEEL values (Decimal numbers, dates, durations, contexts) → JSON-able Python values."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class DecisionService:
    """Finds, loads, caches and evaluates decision tables."""

    def __init__(self, store: Store | None, tables_dir: Path | None = None) -> None:
        self.store = store
        self.tables_dir = Path(tables_dir) if tables_dir is not None else BUNDLED_TABLES
        self._cache: dict[str, tuple[int | None, Any]] = {}
        self._inputs: dict[tuple[str, str | None], frozenset[str]] = {}
        self._lock = threading.Lock()

    # -- discovery ------------------------------------------------------------------------------------------
    def bundled(self) -> dict[str, Path]:
        if not self.tables_dir.is_dir():
            return {}
        return {
            p.stem: p
            for p in sorted(self.tables_dir.iterdir())
            if p.suffix in TABLE_SUFFIXES and p.name not in _NON_TABLE_FILES
        }

    def list_tables(self) -> list[dict[str, Any]]:
        tables = {name: {"name": name, "source": "bundled", "version": None} for name in self.bundled()}
        if self.store is not None:
            for p in self.store.list_policies():
                tables[p["name"]] = {"name": p["name"], "source": "policy", "version": p["version"]}
        return [tables[k] for k in sorted(tables)]

    # -- loading --------------------------------------------------------------------------------------------
    @staticmethod
    def parse(text: str, fmt: str) -> Any:
        """Parse a policy text with the DMN engine (raises decisions' ModelError naming file/line/element)."""
        import decisions

        return decisions.loads(text, format=fmt)

    def invalidate(self, name: str) -> None:
        with self._lock:
            self._cache.pop(name, None)
            for key in [k for k in self._inputs if k[0] == name]:
                del self._inputs[key]

    def model(self, name: str) -> tuple[Any, int | None]:
        """The loaded model for ``name`` and its policy version (None for bundled tables)."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached[1], cached[0]
        policy = None
        if self.store is not None:
            try:
                policy = self.store.get_policy(name)
            except NotFound:
                policy = None
        if policy is not None:
            model, version = self.parse(policy["text"], policy["format"]), int(policy["version"])
        else:
            path = self.bundled().get(name)
            if path is None:
                raise UnknownTable(f"table {name!r}: no bundled table or stored policy of that name")
            import decisions

            model, version = decisions.load(path), None
        with self._lock:
            self._cache[name] = (version, model)
        return model, version

    # -- evaluation -----------------------------------------------------------------------------------------
    def input_names(self, name: str, decision: str | None) -> frozenset[str]:
        key = (name, decision)
        names = self._inputs.get(key)
        if names is None:
            model, _ = self.model(name)
            names = frozenset(model.input_names(decision))
            self._inputs[key] = names
        return names

    def evaluate(
        self,
        name: str,
        inputs: Mapping[str, Any],
        *,
        decision: str | None = None,
        explain: bool = False,
        defaults: Mapping[str, Any] | None = None,
    ) -> Evaluation:
        """Evaluate with rule tracing (the log needs the rule ids); ``defaults`` fill inputs the table reads.

        Raises :class:`InvalidInputs` for a name the table does not read, a value of the wrong kind for the
        input's declared type, or a non-finite number; a missing input is null (DMN semantics), and thresholds
        missing from ``inputs`` come from ``defaults``.
        """
        model, version = self.model(name)
        problems = model.check_inputs(inputs, decision)
        if problems:
            raise InvalidInputs(problems)
        full = dict(inputs)
        if defaults:
            for n in self.input_names(name, decision):
                if n not in full and n in defaults:
                    full[n] = defaults[n]
        exp = model.explain(full, decision=decision)
        rules = [hit.id for trace in exp.traces.values() for hit in trace.selected]
        explanation = None
        if explain:
            explanation = {
                dn: {"result": _jsonable(tr.result), "matched": _jsonable(tr.matched),
                     "selected": _jsonable(tr.selected), "errors": list(tr.errors)}
                for dn, tr in exp.traces.items()
            }
        return Evaluation(result=_jsonable(exp.results), matched_rules=rules, table_version=version,
                          explanation=explanation, inputs_used=full)
