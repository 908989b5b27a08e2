"""Decision tables for the API: bundled ``decisions/tables/*.dmn`` plus policies uploaded into the catalog.

Loaded models are cached by (name, version); an uploaded policy with the same name as a bundled table takes
precedence. Inputs named like a threshold are filled from the threshold store when the caller does not give them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dientine.store import NotFound, Store

BUNDLED_TABLES = Path(__file__).resolve().parents[2] / "decisions" / "tables"
TABLE_SUFFIXES = (".dmn", ".yaml", ".yml")
_NON_TABLE_FILES = {"thresholds.yaml", "thresholds.yml"}


class UnknownTable(LookupError):
    """No bundled table or stored policy has this name."""


@dataclass
class Evaluation:
    """What one evaluation produced, in plain JSON-able data."""

    result: Any
    matched_rules: list[str]
    table_version: int | None = None
    explanation: Any = None
    inputs_used: dict[str, Any] = field(default_factory=dict)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _rule_ids(raw: Any) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, Mapping):  # {decision: [rule ids]}
        out: list[str] = []
        for v in raw.values():
            out.extend(_rule_ids(v))
        return out
    out = []
    for r in raw:
        out.extend(_rule_ids(r) if isinstance(r, list | tuple | Mapping) else [str(getattr(r, "id", r))])
    return out


def normalise(raw: Any) -> tuple[Any, list[str]]:
    """Split an engine result into (outputs, matched rule ids), whatever result object the engine returns."""
    for attr in ("matched_rules", "rule_ids", "matched"):
        if hasattr(raw, attr):
            rules = _rule_ids(getattr(raw, attr))
            for out_attr in ("outputs", "result", "value", "values"):
                if hasattr(raw, out_attr):
                    return _jsonable(getattr(raw, out_attr)), rules
            return _jsonable(raw), rules
    if isinstance(raw, Mapping) and ("matched_rules" in raw or "rule_ids" in raw):
        rules = _rule_ids(raw.get("matched_rules", raw.get("rule_ids")))
        out = raw.get("outputs", raw.get("result", {k: v for k, v in raw.items() if k not in ("matched_rules",
                                                                                              "rule_ids")}))
        return _jsonable(out), rules
    return _jsonable(raw), []


class DecisionService:
    """Finds, loads, caches and evaluates decision tables."""

    def __init__(self, store: Store | None, tables_dir: Path | None = None) -> None:
        self.store = store
        self.tables_dir = Path(tables_dir) if tables_dir is not None else BUNDLED_TABLES
        self._cache: dict[str, tuple[int | None, Any]] = {}
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
    def evaluate(
        self,
        name: str,
        inputs: Mapping[str, Any],
        *,
        decision: str | None = None,
        explain: bool = False,
        defaults: Mapping[str, Any] | None = None,
    ) -> Evaluation:
        model, version = self.model(name)
        full = {**defaults, **inputs} if defaults else dict(inputs)
        raw = model.evaluate(full, decision=decision)
        result, rules = normalise(raw)
        explanation = None
        if explain:
            explanation = _jsonable(model.explain(full, decision=decision))
            if not rules:
                _, rules = normalise(explanation)
        return Evaluation(result=result, matched_rules=rules, table_version=version, explanation=explanation,
                          inputs_used=full)
