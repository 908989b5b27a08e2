"""Public entry points: :func:`load`, :func:`loads` and :class:`DecisionModel`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from decisions.dmn import read_dmn, write_dmn
from decisions.engine import CompiledModel, DecisionTrace, Explanation, check_single_decision
from decisions.errors import EvaluationError, ModelError
from decisions.model import Definitions
from decisions.yaml_form import read_yaml, write_yaml


class DecisionModel:
    """A loaded, compiled DMN model.

    ``evaluate`` returns ``{decision name: result}``; a result mirrors the DMN TCK: for a table with one output the
    value (single-hit) or the list of values (multi-hit) or the aggregate; with several outputs a dict keyed by
    output name (or a list of such dicts). Numbers come back as :class:`decimal.Decimal` (FEEL numbers).
    """

    def __init__(self, definitions: Definitions) -> None:
        self.definitions = definitions
        self._cm = CompiledModel(definitions)
        self._types: dict[str | None, dict[str, str | None]] = {}  # input_types cache (the model is not edited)
        self._names: dict[str | None, list[str]] = {}  # input_names cache

    # --- introspection
    @property
    def decisions(self) -> list[str]:
        return [d.name for d in self.definitions.decisions]

    @property
    def top_decisions(self) -> list[str]:
        return list(self._cm.top)

    def input_names(self, decision: str | None = None) -> list[str]:
        """Names the decision (and what it requires) reads from the inputs: input data + free FEEL names
        (computed once per decision; the model is immutable once loaded)."""
        if decision not in self._names:
            self._names[decision] = self._input_names(decision)
        return list(self._names[decision])

    def _input_names(self, decision: str | None) -> list[str]:
        from decisions.validate import referenced_names

        names: list[str] = []
        for dn in self._cm.targets(decision):
            for n in referenced_names(self._cm, dn):
                if n not in names and n not in self._cm.compiled:
                    names.append(n)
        return names

    def input_types(self, decision: str | None = None) -> dict[str, str | None]:
        """Base type (``number``, ``string``, ``boolean``, ...) of every name :meth:`input_names` lists: the
        input data's typeRef, else the typeRef of a table input clause whose expression is just that name, item
        definitions resolved to their base type; None when nothing declares one."""
        cached = self._types.get(decision)
        if cached is not None:
            return dict(cached)
        cm = self._cm
        declared = {i.name: i.type_ref for i in self.definitions.input_data if i.type_ref}
        names = self.input_names(decision)
        for dn in cm.targets(decision):
            logic = cm.by_name[dn].logic
            for clause in getattr(logic, "inputs", ()):
                expr = clause.expression.strip()
                if clause.type_ref and expr in names:
                    declared.setdefault(expr, clause.type_ref)
        types = {n: cm.compiler.base_type(declared.get(n)) for n in names}
        self._types[decision] = types
        return dict(types)

    def check_inputs(self, inputs: Mapping[str, Any], decision: str | None = None) -> list[tuple[str, str]]:
        """Problems with caller-given ``inputs``, as ``(input name, message)``, empty when they are fine.

        Refused: a name the decision does not read (a typo would otherwise silently fall through to the
        default rule), a value of the wrong JSON kind for the input's declared type (``expected a number, found
        string``), a non-finite number anywhere. A missing input, or an explicit null, is fine: DMN evaluates
        it as null (``decisions/tables/README.md``: "A missing KPI is null"). Row and batch evaluation stay
        lenient (null semantics); this check is for boundaries such as the HTTP API.
        """
        types = self.input_types(decision)
        problems: list[tuple[str, str]] = []
        for name, value in inputs.items():
            if name not in types:
                known = ", ".join(sorted(types)) or "nothing"
                problems.append((name, f"not an input of this decision (it reads: {known})"))
                continue
            bad = _non_finite(value)
            if bad is not None:
                problems.append((name, f"expected a finite number, found {bad}"))
                continue
            expected = types[name]
            check = _JSON_KINDS.get(expected or "")
            if value is not None and check is not None and not check(value):
                problems.append((name, f"expected a {expected}, found {_json_kind(value)} {_short(value)}"))
        return problems

    # --- evaluation
    def evaluate(self, inputs: dict[str, Any], decision: str | None = None) -> dict[str, Any]:
        """Evaluate ``decision`` (and what it requires; all decisions if None) on one set of inputs.

        Returns ``{decision name: result}`` for the requested decision (every decision when ``decision`` is None).
        """
        cm = self._cm
        order = cm.targets(decision)
        ctx = cm.context(inputs, None)
        for name in order:
            ctx[name] = cm.compiled[name].run(ctx)
        if decision is not None:
            return {decision: ctx[decision]}
        return {name: ctx[name] for name in order}

    def decide(self, inputs: dict[str, Any], decision: str | None = None) -> Any:
        """The result of one decision (the single top-level decision when ``decision`` is None)."""
        name = check_single_decision(self._cm, decision)
        return self.evaluate(inputs, name)[name]

    def explain(self, inputs: dict[str, Any], decision: str | None = None) -> Explanation:
        """Evaluate like :meth:`evaluate` and return, per evaluated decision, the matched and selected rules
        (ids, numbers, descriptions, annotations) and any hit-policy / value errors."""
        cm = self._cm
        order = cm.targets(decision)
        notes: dict = {}
        ctx = cm.context(inputs, notes)
        traces: dict[str, DecisionTrace] = {}
        for name in order:
            tr = DecisionTrace(decision=name, result=None, errors=list(notes.get("__inputs__", [])))
            ctx[name] = cm.compiled[name].run(ctx, tr)
            tr.result = ctx[name]
            traces[name] = tr
        results = {decision: ctx[decision]} if decision is not None else {n: ctx[n] for n in order}
        return Explanation(results=results, traces=traces)

    def evaluate_batch(self, columns: Any, decision: str | None = None):
        """Vectorised evaluation over many rows; see :mod:`decisions.batch` for the column conventions.

        Every input the decision reads (:meth:`input_names`) must be a column: a missing column raises
        :class:`~decisions.errors.EvaluationError` naming it, because a misspelt column name would otherwise
        turn every row's input into null and silently select the default rule. An input that is unknown for
        some or all rows is given as nulls (NaN, ``None``, a masked entry, an Arrow null, or a scalar ``None``),
        which is exactly row mode's null (row mode, one row as a dict, also takes a missing key as null).
        """
        from decisions.batch import evaluate_batch

        name = check_single_decision(self._cm, decision)
        given = columns.column_names if hasattr(columns, "column_names") else columns
        if isinstance(given, Mapping | list | tuple):
            present = {str(k) for k in given}
            missing = [n for n in self.input_names(name) if n not in present]
            if missing:
                raise EvaluationError(
                    f"decision {name!r}: missing input column(s) {', '.join(repr(m) for m in missing)}; give a "
                    f"column of nulls (NaN / None) for an input that is not known")
        return evaluate_batch(self._cm, columns, name)

    # --- validation and export
    def validate(self) -> list:
        from decisions.validate import validate_model

        return validate_model(self._cm)

    def to_dmn(self) -> str:
        return write_dmn(self.definitions)

    def to_yaml(self) -> str:
        return write_yaml(self.definitions)

    def save(self, path: str | Path) -> None:
        p = Path(path)
        p.write_text(self.to_yaml() if p.suffix in (".yaml", ".yml") else self.to_dmn(), encoding="utf-8")


_JSON_KINDS: dict[str, Any] = {
    "number": lambda v: isinstance(v, int | float | Decimal) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
}


def _json_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float | Decimal):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, Mapping):
        return "object"
    if isinstance(v, list | tuple):
        return "list"
    return type(v).__name__


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _non_finite(v: Any) -> str | None:
    """Text of the first non-finite number in ``v`` (nested lists/objects too), else None."""
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    if isinstance(v, Decimal) and not v.is_finite():
        return str(v)
    if isinstance(v, Mapping):
        v = list(v.values())
    if isinstance(v, list | tuple):
        for x in v:
            bad = _non_finite(x)
            if bad is not None:
                return bad
    return None


def _format_of(path: Path) -> str:
    if path.suffix in (".yaml", ".yml"):
        return "yaml"
    if path.suffix in (".dmn", ".xml"):
        return "dmn"
    raise ModelError(f"unknown model file type {path.suffix!r} (expected .dmn, .xml, .yaml or .yml)", str(path))


def read_definitions(path: str | Path) -> Definitions:
    p = Path(path)
    fmt = _format_of(p)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ModelError(f"cannot read file: {e.strerror}", str(p)) from None
    return read_dmn(data, str(p)) if fmt == "dmn" else read_yaml(data, str(p))


def load(path: str | Path) -> DecisionModel:
    """Load a ``.dmn`` (DMN 1.1-1.5 XML) or ``.yaml`` (compact form) file into a compiled model."""
    return DecisionModel(read_definitions(path))


def loads(text: str | bytes, format: Literal["dmn", "yaml"] = "dmn", name: str | None = None) -> DecisionModel:
    """Load a model from text/bytes (e.g. an upload); ``name`` is used as the file name in error messages."""
    if format == "dmn":
        return DecisionModel(read_dmn(text, name))
    if format == "yaml":
        return DecisionModel(read_yaml(text, name))
    raise ValueError(f"format must be 'dmn' or 'yaml', not {format!r}")
