"""Public entry points: :func:`load`, :func:`loads` and :class:`DecisionModel`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from decisions.dmn import read_dmn, write_dmn
from decisions.engine import CompiledModel, DecisionTrace, Explanation, check_single_decision
from decisions.errors import ModelError
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

    # --- introspection
    @property
    def decisions(self) -> list[str]:
        return [d.name for d in self.definitions.decisions]

    @property
    def top_decisions(self) -> list[str]:
        return list(self._cm.top)

    def input_names(self, decision: str | None = None) -> list[str]:
        """Names the decision (and what it requires) reads from the inputs: input data + free FEEL names."""
        from decisions.validate import referenced_names

        names: list[str] = []
        for dn in self._cm.targets(decision):
            for n in referenced_names(self._cm, dn):
                if n not in names and n not in self._cm.compiled:
                    names.append(n)
        return names

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
        """Vectorised evaluation over many rows; see :mod:`decisions.batch` for the column conventions."""
        from decisions.batch import evaluate_batch

        return evaluate_batch(self._cm, columns, check_single_decision(self._cm, decision))

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
