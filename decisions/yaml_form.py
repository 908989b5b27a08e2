"""Compact YAML authoring form of a DMN model, converted to and from :class:`~decisions.model.Definitions`.

Schema (validated with pydantic; errors name file, line and field path)::

    id: energy_saving_definitions          # optional (default: "<name>_definitions")
    name: Energy saving
    namespace: urn:dientine:decisions:energy_saving
    item_definitions:                      # optional
      - {name: tLoad, type: number, allowed_values: "[0..1]"}
    input_data:                            # optional
      - {name: cell_load, type: number}
    decisions:
      - name: energy_saving
        requires: {decisions: [...], inputs: [cell_load]}   # names
        table:
          hit_policy: FIRST                # UNIQUE (default), ANY, PRIORITY, FIRST, RULE ORDER, OUTPUT ORDER, COLLECT
          aggregation: SUM                 # COLLECT only: SUM, MIN, MAX, COUNT
          inputs:  [{expression: cell_load, type: number, label: ..., values: "[0..1]"}]
          outputs: [{name: action, type: string, values: '"sleep","keep"', default: '"keep"'}]
          annotations: [reason]
          rules:
            - {when: ["< threshold_sleep_load"], then: ['"sleep"'], annotations: ["night, low load"]}
            - ["-", '"keep"', ""]          # or a flat row: input entries, output entries, annotations
      - name: total
        literal: {text: "a + b", type: number}

Entries are FEEL text; YAML numbers/booleans are turned into their FEEL text, YAML null into ``-`` (input) or
``null`` (output). Missing ids are derived deterministically from names and positions.

YAML aliases (``*name``, also in ``<<: *name`` merge keys) are refused: expanding them is unbounded (a few
hundred bytes of nested aliases need gigabytes, the "billion laughs" attack). :class:`NoAliasLoader` and
:func:`safe_load_no_alias` are the loader every YAML reader of the project should use. Every schema problem is
reported at once (``ModelError.problems``), each with its line and field path; a model without decisions is
refused.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from decisions.errors import ModelError
from decisions.model import (
    BASE_TYPES,
    Decision,
    DecisionTable,
    Definitions,
    InputClause,
    InputData,
    ItemDefinition,
    LiteralExpression,
    OutputClause,
    Rule,
)

_ID_BAD = re.compile(r"[^A-Za-z0-9_.-]")
ALIAS_MESSAGE = "YAML aliases are not supported"


class YamlAliasError(yaml.MarkedYAMLError):
    """A YAML alias (``*name``) was found; ``problem_mark`` is where (0-based line and column)."""


class NoAliasLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases while composing, before anything is expanded.

    Anchors alone (``&name``) are harmless and accepted; the first alias raises :class:`YamlAliasError`
    (a ``yaml.MarkedYAMLError``, so callers that report ``problem`` and ``problem_mark`` need no change).
    """

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise YamlAliasError(None, None, ALIAS_MESSAGE, event.start_mark)
        return super().compose_node(parent, index)


def compose_and_load(text: str) -> tuple[yaml.Node | None, Any]:
    """Parse one YAML document once with :class:`NoAliasLoader`: its node tree (for line numbers) and its data.

    Raises ``yaml.YAMLError`` (:class:`YamlAliasError` for an alias).
    """
    loader = NoAliasLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return node, data


def safe_load_no_alias(text: str | bytes) -> Any:
    """``yaml.safe_load`` that refuses aliases (raises :class:`YamlAliasError`, a ``yaml.MarkedYAMLError``)."""
    return compose_and_load(text.decode("utf-8") if isinstance(text, bytes) else text)[1]


def make_id(*parts: str) -> str:
    """A valid XML NCName id from name parts."""
    s = "_".join(_ID_BAD.sub("_", p) for p in parts if p)
    if not s or not (s[0].isalpha() or s[0] == "_"):
        s = "_" + s
    return s


def _feel_scalar(v: Any, empty: str) -> str:
    if v is None:
        return empty
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    return str(v)


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemDefSpec(_Base):
    name: str
    type: str
    allowed_values: str | None = None
    id: str | None = None


class InputDataSpec(_Base):
    name: str
    type: str | None = None
    id: str | None = None
    label: str | None = None


class InputSpec(_Base):
    expression: str
    type: str | None = None
    id: str | None = None
    label: str | None = None
    values: str | None = None


class OutputSpec(_Base):
    name: str = ""
    type: str | None = None
    id: str | None = None
    label: str | None = None
    values: str | None = None
    default: str | None = None

    @field_validator("default", "values", mode="before")
    @classmethod
    def _scalar(cls, v: Any) -> Any:
        return None if v is None else _feel_scalar(v, "null")


class RuleSpec(_Base):
    when: list[Any]
    then: list[Any]
    id: str | None = None
    description: str | None = None
    annotations: list[str] = Field(default_factory=list)


class TableSpec(_Base):
    inputs: list[InputSpec] = Field(default_factory=list)
    outputs: list[OutputSpec]
    rules: list[RuleSpec | list[Any]] = Field(default_factory=list)
    hit_policy: Literal["UNIQUE", "ANY", "PRIORITY", "FIRST", "RULE ORDER", "OUTPUT ORDER", "COLLECT"] = "UNIQUE"
    aggregation: Literal["SUM", "MIN", "MAX", "COUNT"] | None = None
    annotations: list[str] = Field(default_factory=list)
    output_label: str | None = None
    id: str | None = None


class LiteralSpec(_Base):
    text: str
    type: str | None = None
    id: str | None = None


class RequiresSpec(_Base):
    decisions: list[str] = Field(default_factory=list)
    inputs: list[str] = Field(default_factory=list)


class DecisionSpec(_Base):
    name: str
    id: str | None = None
    label: str | None = None
    description: str | None = None
    type: str | None = None
    requires: RequiresSpec = Field(default_factory=RequiresSpec)
    table: TableSpec | None = None
    literal: LiteralSpec | None = None


class ModelSpec(_Base):
    name: str
    id: str | None = None
    namespace: str | None = None
    dmn_version: str | None = None
    item_definitions: list[ItemDefSpec] = Field(default_factory=list)
    input_data: list[InputDataSpec] = Field(default_factory=list)
    decisions: list[DecisionSpec]


def _lines(node: yaml.Node, path: str, out: dict[str, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            _lines(v, f"{path}.{k.value}" if path else str(k.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _lines(v, f"{path}[{i}]", out)


def _loc_path(loc: tuple) -> str:
    p = ""
    for x in loc:
        if isinstance(x, int):
            p += f"[{x}]"
        elif x in ("RuleSpec", "list[any]") or str(x).startswith(("list[", "RuleSpec")):
            continue
        else:
            p += f".{x}" if p else str(x)
    return p


def _line_for(path: str, lines: dict[str, int]) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return lines.get("")


def _is_rule_branch(loc: tuple, branch: str) -> bool:
    return any(isinstance(x, str) and x.startswith(branch) for x in loc)


def _schema_problems(e: ValidationError, file: str | None, lines: dict[str, int]) -> list[ModelError]:
    """Every pydantic error as a located ModelError; the two branches of a rule (mapping or flat row) are merged
    into one message, and unknown keys are named as such."""
    out: list[ModelError] = []
    seen: set[tuple[str, str]] = set()
    for err in e.errors():
        loc = err["loc"]
        path = _loc_path(loc)
        msg = err["msg"]
        if _is_rule_branch(loc, "list["):
            # a rule written as a mapping: the flat-row branch's "valid list" error is noise; a rule that is
            # neither mapping nor list gets one message instead of two
            if err["type"] != "list_type":
                continue
            if isinstance(err.get("input"), dict):
                continue
            msg = "a rule must be a mapping {when, then, ...} or a flat row [input entries, output entries]"
        elif _is_rule_branch(loc, "RuleSpec") and err["type"] in ("model_type", "dict_type"):
            continue
        elif err["type"] == "extra_forbidden":
            msg = f"unknown key {str(loc[-1])!r}"
        elif err["type"] == "missing":
            msg = f"required key {str(loc[-1])!r} is missing"
        if (path, msg) in seen:
            continue
        seen.add((path, msg))
        out.append(ModelError(msg, file, _line_for(path, lines), field=path or None))
    out.sort(key=lambda p: p.line or 0)
    return out


def read_yaml(text: str | bytes, file: str | None = None) -> Definitions:
    """Read the compact YAML form; raises ModelError with file, line and field path.

    Every schema problem is reported (``ModelError.problems``); YAML aliases are refused (see the module doc).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ModelError(f"not UTF-8 text (byte {e.start})", file) from None
    try:
        node, data = compose_and_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None)
        msg = ALIAS_MESSAGE if isinstance(e, YamlAliasError) else f"malformed YAML: {problem or e}"
        raise ModelError(msg, file, mark.line + 1 if mark else None) from None
    if node is None or not isinstance(data, dict):
        raise ModelError("YAML model must be a mapping with 'name' and 'decisions'", file, 1)
    lines: dict[str, int] = {}
    _lines(node, "", lines)
    try:
        spec = ModelSpec.model_validate(data)
    except ValidationError as e:
        problems = _schema_problems(e, file, lines)
        problems += _partial_problems(data, file, lines)
        problems.sort(key=lambda p: p.line or 0)
        raise ModelError.collect(problems or [ModelError(str(e), file, 1)]) from None
    return _build(spec, file, lines)


def _partial_problems(data: dict, file: str | None, lines: dict[str, int]) -> list[ModelError]:
    """The build problems of the parts that passed the schema, so one schema error hides nothing else."""
    def valid(model: type[BaseModel], raw: Any) -> Any:
        try:
            return model.model_validate(raw)
        except ValidationError:
            return None

    raw_decisions = data.get("decisions")
    if not isinstance(raw_decisions, list):
        return []
    spec = ModelSpec.model_construct(
        name=str(data.get("name") or "model"), id=None, namespace=None, dmn_version=None,
        item_definitions=[x for x in (valid(ItemDefSpec, r) for r in _as_list(data.get("item_definitions")))
                          if x is not None],
        input_data=[x for x in (valid(InputDataSpec, r) for r in _as_list(data.get("input_data")))
                    if x is not None],
        decisions=[])
    good = [(k, d) for k, d in ((k, valid(DecisionSpec, r)) for k, r in enumerate(raw_decisions)) if d is not None]
    names = {str(r["name"]) for r in raw_decisions if isinstance(r, dict) and r.get("name") is not None}
    input_names = {str(r["name"]) for r in _as_list(data.get("input_data"))
                   if isinstance(r, dict) and r.get("name") is not None}
    try:
        _build(spec, file, lines, indexed=good, known_decisions=names, known_inputs=input_names,
               empty_ok=bool(raw_decisions))
    except ModelError as e:
        return list(e.problems)
    return []


def _as_list(x: Any) -> list:
    return x if isinstance(x, list) else []


def _check_type(type_ref: str | None, items: set[str], path: str, err: Any) -> None:
    if type_ref is not None and type_ref not in BASE_TYPES and type_ref not in items:
        err(f"unknown type {type_ref!r} (expected one of {', '.join(BASE_TYPES)} or an item definition)", path)


def _empty(file: str | None, lines: dict[str, int]) -> ModelError:
    return ModelError("a model needs at least one decision", file, lines.get("decisions"), field="decisions")


def _build(spec: ModelSpec, file: str | None, lines: dict[str, int], *,
           indexed: list[tuple[int, DecisionSpec]] | None = None, known_decisions: set[str] | None = None,
           known_inputs: set[str] | None = None, empty_ok: bool = False) -> Definitions:
    """Spec -> Definitions, collecting every problem. ``indexed`` (decisions with their position in the file),
    ``known_*`` (names defined by parts that failed the schema) are used by :func:`_partial_problems`."""
    errs: list[ModelError] = []

    def err(msg: str, path: str) -> None:
        errs.append(ModelError(msg, file, lines.get(path), field=path))

    if indexed is None:
        indexed = list(enumerate(spec.decisions))
    if not indexed and not empty_ok:
        errs.append(_empty(file, lines))
    items = {it.name for it in spec.item_definitions}
    for k, it in enumerate(spec.item_definitions):
        _check_type(it.type, items, f"item_definitions[{k}].type", err)
    for k, i in enumerate(spec.input_data):
        _check_type(i.type, items, f"input_data[{k}].type", err)
    defs = Definitions(id=spec.id or make_id(spec.name, "definitions"), name=spec.name,
                       namespace=spec.namespace or f"urn:dientine:decisions:{make_id(spec.name)}", file=file)
    for k, it in enumerate(spec.item_definitions):
        defs.item_definitions.append(ItemDefinition(name=it.name, type_ref=it.type,
                                                    allowed_values=it.allowed_values,
                                                    id=it.id or make_id("item", it.name),
                                                    line=lines.get(f"item_definitions[{k}]")))
    for k, i in enumerate(spec.input_data):
        defs.input_data.append(InputData(id=i.id or make_id("input", i.name), name=i.name, type_ref=i.type,
                                         label=i.label, line=lines.get(f"input_data[{k}]")))
    input_ids = {i.name: i.id for i in defs.input_data}
    dec_ids = {d.name: d.id or make_id(d.name) for _, d in indexed}
    for k, d in indexed:
        p = f"decisions[{k}]"
        did = dec_ids[d.name]
        n_before = len(errs)
        if (d.table is None) == (d.literal is None):
            err("a decision needs exactly one of 'table' or 'literal'", p)
        _check_type(d.type, items, f"{p}.type", err)
        for j, rn in enumerate(d.requires.decisions):
            if rn not in dec_ids and rn not in (known_decisions or ()):
                err(f"required decision {rn!r} is not defined", f"{p}.requires.decisions[{j}]")
        for j, rn in enumerate(d.requires.inputs):
            if rn not in input_ids and rn not in (known_inputs or ()):
                err(f"required input {rn!r} is not in input_data", f"{p}.requires.inputs[{j}]")
        if d.literal is not None:
            _check_type(d.literal.type, items, f"{p}.literal.type", err)
            logic: Any = LiteralExpression(id=d.literal.id or f"{did}_expression", text=d.literal.text,
                                           type_ref=d.literal.type, line=lines.get(f"{p}.literal"))
        elif d.table is not None:
            for j, c in enumerate(d.table.inputs):
                _check_type(c.type, items, f"{p}.table.inputs[{j}].type", err)
            for j, c in enumerate(d.table.outputs):
                _check_type(c.type, items, f"{p}.table.outputs[{j}].type", err)
            logic = _table(d.table, did, f"{p}.table", file, lines, errs)
        if len(errs) > n_before:
            continue
        defs.decisions.append(Decision(
            id=did, name=d.name, logic=logic, type_ref=d.type, label=d.label, description=d.description,
            required_decisions=[dec_ids.get(n, n) for n in d.requires.decisions],
            required_inputs=[input_ids.get(n, n) for n in d.requires.inputs], line=lines.get(p)))
    if errs:
        raise ModelError.collect(sorted(errs, key=lambda e: e.line or 0))
    return defs


def _table(t: TableSpec, did: str, p: str, file: str | None, lines: dict[str, int],
           errs: list[ModelError]) -> DecisionTable:
    def err(msg: str, path: str) -> None:
        errs.append(ModelError(msg, file, lines.get(path), field=path))

    tid = t.id or f"{did}_table"
    ni, no, na = len(t.inputs), len(t.outputs), len(t.annotations)
    if t.aggregation and t.hit_policy != "COLLECT":
        err(f"aggregation {t.aggregation} needs hit_policy COLLECT", f"{p}.aggregation")
    if no > 1 and any(not o.name for o in t.outputs):
        err("every output of a table with several outputs needs a name", f"{p}.outputs")
    inputs = [InputClause(id=c.id or f"{tid}_input_{k}", expression=c.expression, type_ref=c.type, label=c.label,
                          input_values=c.values, line=lines.get(f"{p}.inputs[{k - 1}]"))
              for k, c in enumerate(t.inputs, 1)]
    outputs = [OutputClause(id=c.id or f"{tid}_output_{k}", name=c.name, type_ref=c.type, label=c.label,
                            output_values=c.values, default=c.default, line=lines.get(f"{p}.outputs[{k - 1}]"))
               for k, c in enumerate(t.outputs, 1)]
    rules = []
    for k, r in enumerate(t.rules, 1):
        rp = f"{p}.rules[{k - 1}]"
        if isinstance(r, list):
            if len(r) not in (ni + no, ni + no + na):
                err(f"rule row has {len(r)} cells, expected {ni} inputs + {no} outputs"
                    f"{f' (+ {na} annotations)' if na else ''}", rp)
                continue
            r = RuleSpec(when=r[:ni], then=r[ni:ni + no], annotations=[_feel_scalar(x, "") for x in r[ni + no:]])
        if len(r.when) != ni or len(r.then) != no:
            err(f"rule {k} has {len(r.when)} input and {len(r.then)} output entries, the table has "
                f"{ni} inputs and {no} outputs", rp)
            continue
        ann = list(r.annotations)
        if ann and len(ann) != na:
            err(f"rule {k} has {len(ann)} annotations, the table has {na} annotation columns", rp)
            continue
        rules.append(Rule(id=r.id or f"{tid}_rule_{k}", inputs=[_feel_scalar(x, "-") for x in r.when],
                          outputs=[_feel_scalar(x, "null") for x in r.then], description=r.description,
                          annotations=ann or [""] * na, line=lines.get(rp),
                          input_lines=[lines.get(f"{rp}.when[{j}]", lines.get(f"{rp}[{j}]")) for j in range(ni)],
                          output_lines=[lines.get(f"{rp}.then[{j}]", lines.get(f"{rp}[{ni + j}]"))
                                        for j in range(no)]))
    return DecisionTable(id=tid, inputs=inputs, outputs=outputs, rules=rules, hit_policy=t.hit_policy,
                         aggregation=t.aggregation, annotations=list(t.annotations), output_label=t.output_label,
                         line=lines.get(p))


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None and v != [] and v != {}}


def to_yaml_data(defs: Definitions) -> dict:
    """Model -> plain data of the YAML form (every field kept, so the conversion is lossless)."""
    id_to_name = {d.id: d.name for d in defs.decisions}
    in_to_name = {i.id: i.name for i in defs.input_data}
    decisions = []
    for d in defs.decisions:
        dd: dict[str, Any] = {"name": d.name, "id": d.id, "label": d.label, "description": d.description,
                              "type": d.type_ref}
        req = _drop_none({"decisions": [id_to_name[x] for x in d.required_decisions],
                          "inputs": [in_to_name[x] for x in d.required_inputs]})
        if req:
            dd["requires"] = req
        lg = d.logic
        if isinstance(lg, LiteralExpression):
            dd["literal"] = _drop_none({"text": lg.text, "type": lg.type_ref, "id": lg.id})
        else:
            dd["table"] = _drop_none({
                "id": lg.id, "hit_policy": lg.hit_policy, "aggregation": lg.aggregation,
                "output_label": lg.output_label,
                "inputs": [_drop_none({"expression": c.expression, "type": c.type_ref, "id": c.id, "label": c.label,
                                       "values": c.input_values}) for c in lg.inputs],
                "outputs": [_drop_none({"name": c.name, "type": c.type_ref, "id": c.id, "label": c.label,
                                        "values": c.output_values, "default": c.default}) for c in lg.outputs],
                "annotations": list(lg.annotations),
                "rules": [_drop_none({"id": r.id, "description": r.description, "when": list(r.inputs),
                                      "then": list(r.outputs),
                                      "annotations": list(r.annotations) if any(r.annotations) else None})
                          for r in lg.rules],
            })
        decisions.append(_drop_none(dd))
    return _drop_none({
        "name": defs.name, "id": defs.id, "namespace": defs.namespace,
        "item_definitions": [_drop_none({"name": i.name, "type": i.type_ref, "allowed_values": i.allowed_values,
                                         "id": i.id}) for i in defs.item_definitions],
        "input_data": [_drop_none({"name": i.name, "type": i.type_ref, "id": i.id, "label": i.label})
                       for i in defs.input_data],
        "decisions": decisions,
    })


def write_yaml(defs: Definitions) -> str:
    """Model -> YAML text of the compact form."""
    return yaml.safe_dump(to_yaml_data(defs), sort_keys=False, allow_unicode=True, width=120)
