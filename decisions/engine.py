"""Row-mode evaluation of a DMN model: compiled decision tables, hit policies, the decision graph, explanations.

Semantics (OMG DMN 1.3 §8.2.8-8.2.11 and chapter 10):

* A rule matches when every input entry's unary test is ``true`` (null and false do not match).
* No rule matched: the outputs' default values if any output declares one, else null, for every hit policy.
* UNIQUE with more than one match, ANY with matches whose outputs differ: the result is null and the
  violation is reported in the explanation (``errors``).
* PRIORITY picks the matched rule whose outputs come first in the outputs' value lists (first output decides,
  later outputs break ties, then rule order); OUTPUT ORDER sorts all matches that way (stable).
* COLLECT aggregations use the FEEL functions sum / min / max / count over the matched rules' outputs.
* A value that does not conform to its declared type (typeRef, item definition with allowed values) is null;
  an input outside the input clause's ``inputValues`` or an output outside ``outputValues`` makes the decision
  null with an error.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from decisions.errors import DecisionError, EvaluationError, FeelError, ModelError
from decisions.feel import ast as A
from decisions.feel import ops
from decisions.feel.builtins import f_max, f_min, f_sum
from decisions.feel.compile import Compiled, compile_expr, compile_tests
from decisions.feel.parser import parse_expression, parse_unary_tests
from decisions.feel.values import to_feel
from decisions.model import AGGREGATIONS, BASE_TYPES, SINGLE_HIT, Decision, DecisionTable, Definitions

_TYPE_CHECK = {
    "number": lambda v: type(v) is Decimal,
    "string": lambda v: type(v) is str,
    "boolean": lambda v: type(v) is bool,
    "date": lambda v: type(v) is _dt.date,
    "time": lambda v: type(v) is _dt.time,
    "date and time": lambda v: type(v) is _dt.datetime,
    "days and time duration": lambda v: type(v) is _dt.timedelta,
}

BAD = object()  # marker: value does not conform


@dataclass
class RuleHit:
    """One matched rule, for the decision log."""

    number: int
    id: str
    description: str | None
    annotations: dict[str, str]


@dataclass
class DecisionTrace:
    decision: str
    result: Any
    matched: list[RuleHit] = field(default_factory=list)
    selected: list[RuleHit] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class Explanation:
    """Result of :meth:`DecisionModel.explain`: results by decision name plus one trace per evaluated decision."""

    results: dict[str, Any]
    traces: dict[str, DecisionTrace]

    def rule_ids(self, decision: str) -> list[str]:
        return [h.id for h in self.traces[decision].selected]


class Conformer:
    """Type + allowed-values check of one declared type."""

    __slots__ = ("type_name", "check", "allowed")

    def __init__(self, type_name: str, check, allowed) -> None:
        self.type_name = type_name
        self.check = check
        self.allowed = allowed

    def __call__(self, v: Any) -> Any:
        if v is None:
            return None
        if self.check is not None and not self.check(v):
            return BAD
        if self.allowed is not None and self.allowed(v, {}) is not True:
            return BAD
        return v


class Compiler:
    """Shared context for compiling FEEL texts of one model: names, item definitions, error locations."""

    def __init__(self, defs: Definitions) -> None:
        self.defs = defs
        self.file = defs.file
        names = [i.name for i in defs.input_data] + [d.name for d in defs.decisions]
        self.names = tuple(n for n in names if " " in n)
        self.items = {i.name: i for i in defs.item_definitions}

    def where(self, decision: Decision | None, what: str, line: int | None, element: str) -> ModelError:
        d = f"decision {decision.name!r}: " if decision is not None else ""
        return ModelError(d + what, self.file, line, element)

    def expr(self, text: str, decision: Decision | None, what: str, line: int | None, element: str) -> Compiled:
        try:
            return compile_expr(parse_expression(text, self.names), text)
        except FeelError as e:
            raise self.where(decision, f"{what}: {e}", line, element) from None

    def tests(self, text: str, decision: Decision | None, what: str, line: int | None, element: str):
        try:
            ut = parse_unary_tests(text, self.names)
            return ut, compile_tests(ut, text)
        except FeelError as e:
            raise self.where(decision, f"{what}: {e}", line, element) from None

    def conformer(self, type_ref: str | None, decision: Decision | None, line: int | None,
                  element: str) -> Conformer | None:
        if type_ref is None or type_ref == "Any":
            return None
        allowed = None
        seen = 0
        t = type_ref
        while t in self.items and t not in BASE_TYPES:
            it = self.items[t]
            if it.allowed_values is not None and allowed is None:
                _, allowed = self.tests(it.allowed_values, decision, f"allowed values of item definition "
                                        f"{it.name!r}", it.line, "itemDefinition")
            t = it.type_ref
            seen += 1
            if seen > 20:
                raise self.where(decision, f"item definition cycle at {type_ref!r}", line, element)
        if t not in BASE_TYPES:
            raise self.where(decision, f"unknown or unsupported type {type_ref!r} (supported: "
                                       f"{', '.join(BASE_TYPES)} and item definitions)", line, element)
        if t == "Any" and allowed is None:
            return None
        return Conformer(t, _TYPE_CHECK.get(t), allowed)

    def base_type(self, type_ref: str | None) -> str | None:
        t = type_ref
        for _ in range(21):
            if t in self.items and t not in BASE_TYPES:
                t = self.items[t].type_ref
            else:
                break
        return t


class CRule:
    __slots__ = ("number", "id", "tests", "outs", "hit", "uts")

    def __init__(self, number: int, rid: str, tests: tuple, outs: list[Compiled], hit: RuleHit, uts: list) -> None:
        self.number = number
        self.id = rid
        self.tests = tests
        self.outs = outs
        self.hit = hit
        self.uts = uts  # parsed UnaryTests per input column (for batch / validation)


class CTable:
    """A compiled decision table."""

    def __init__(self, comp: Compiler, d: Decision, t: DecisionTable) -> None:
        self.decision = d
        self.table = t
        self.policy = t.hit_policy
        self.aggregation = t.aggregation
        el = "decisionTable"
        if t.aggregation is not None and t.aggregation not in AGGREGATIONS:
            raise comp.where(d, f"unknown aggregation {t.aggregation!r}", t.line, el)
        if t.aggregation is not None and t.hit_policy != "COLLECT":
            raise comp.where(d, "aggregation needs hit policy COLLECT", t.line, el)
        if t.aggregation is not None and len(t.outputs) != 1:
            raise comp.where(d, f"aggregation {t.aggregation} needs exactly one output, the table has "
                                f"{len(t.outputs)}", t.line, el)
        self.input_exprs: list[Compiled] = []
        self.input_names: list[str | None] = []
        self.input_conf: list[Conformer | None] = []
        self.input_values: list[Any] = []
        self.input_value_uts: list[Any] = []
        for k, c in enumerate(t.inputs, 1):
            ex = comp.expr(c.expression, d, f"input {k} expression", c.line, "inputExpression")
            self.input_exprs.append(ex)
            try:
                node = parse_expression(c.expression, comp.names)
            except FeelError:  # pragma: no cover - compiled above
                node = None
            self.input_names.append(node.name if isinstance(node, A.Name) else None)
            self.input_conf.append(comp.conformer(c.type_ref, d, c.line, "inputExpression"))
            if c.input_values:
                ut, fn = comp.tests(c.input_values, d, f"input {k} inputValues", c.line, "inputValues")
                self.input_values.append(fn)
                self.input_value_uts.append(ut)
            else:
                self.input_values.append(None)
                self.input_value_uts.append(None)
        self.out_names = [o.name for o in t.outputs]
        self.out_conf = [comp.conformer(o.type_ref, d, o.line, "output") for o in t.outputs]
        self.out_values: list[Any] = []
        self.out_rank_lists: list[list[Any] | None] = []
        for k, o in enumerate(t.outputs, 1):
            if o.output_values:
                ut, fn = comp.tests(o.output_values, d, f"output {k} outputValues", o.line, "outputValues")
                self.out_values.append(fn)
                self.out_rank_lists.append(_value_list(ut))
            else:
                self.out_values.append(None)
                self.out_rank_lists.append(None)
        if self.policy in ("PRIORITY", "OUTPUT ORDER") and not any(x for x in self.out_rank_lists):
            raise comp.where(d, f"hit policy {self.policy} needs output values (a priority list) on at least one "
                                "output, given as a comma list of literals", t.line, el)
        self.defaults: list[Compiled | None] = []
        for k, o in enumerate(t.outputs, 1):
            self.defaults.append(comp.expr(o.default, d, f"output {k} default", o.line, "defaultOutputEntry")
                                 if o.default else None)
        self.has_default = any(x is not None for x in self.defaults)
        self.rules: list[CRule] = []
        for n, r in enumerate(t.rules, 1):
            tests, uts = [], []
            for k, e in enumerate(r.inputs):
                line = r.input_lines[k] if k < len(r.input_lines) else r.line
                ut, fn = comp.tests(e, d, f"rule {n}, input {k + 1} ({t.inputs[k].title!r})", line, "inputEntry")
                uts.append(ut)
                if fn is not None:
                    tests.append((k, fn))
            outs = []
            for k, e in enumerate(r.outputs):
                line = r.output_lines[k] if k < len(r.output_lines) else r.line
                what = f"rule {n}, output {k + 1} ({t.outputs[k].name!r})"
                outs.append(comp.expr(e if e.strip() else "null", d, what, line, "outputEntry"))
            hit = RuleHit(n, r.id, r.description, dict(zip(t.annotations, r.annotations, strict=False)))
            self.rules.append(CRule(n, r.id, tuple(tests), outs, hit, uts))
        self.single = len(t.outputs) == 1
        # rule rank for PRIORITY / OUTPUT ORDER when all outputs are constants (batch uses it too)
        self.const_outputs = all(all(o.const for o in r.outs) for r in self.rules)

    # -- helpers
    def rank(self, outs: list[Any]) -> tuple:
        key = []
        for v, lst in zip(outs, self.out_rank_lists, strict=True):
            if lst is None:
                continue
            pos = len(lst)
            for j, x in enumerate(lst):
                if ops.eq(v, x) is True:
                    pos = j
                    break
            key.append(pos)
        return tuple(key)

    def shape(self, outs: list[Any]) -> Any:
        return outs[0] if self.single else dict(zip(self.out_names, outs, strict=True))

    def rule_outputs(self, r: CRule, ctx: dict, errors: list[str] | None) -> list[Any] | None:
        vals = []
        for k, o in enumerate(r.outs):
            v = o.fn(ctx)
            c = self.out_conf[k]
            if c is not None:
                v = c(v)
                if v is BAD:
                    if errors is not None:
                        errors.append(f"rule {r.number}: output {self.out_names[k]!r} does not conform to type "
                                      f"{c.type_name}")
                    v = None
            ov = self.out_values[k]
            if ov is not None and v is not None and ov(v, ctx) is not True:
                if errors is not None:
                    errors.append(f"rule {r.number}: output {self.out_names[k]!r} value not in outputValues")
                return None
            vals.append(v)
        return vals

    def input_vector(self, ctx: dict, errors: list[str] | None) -> list[Any] | None:
        vals = []
        for k, ex in enumerate(self.input_exprs):
            v = ex.fn(ctx)
            c = self.input_conf[k]
            if c is not None:
                v = c(v)
                if v is BAD:
                    if errors is not None:
                        errors.append(f"input {k + 1} ({self.table.inputs[k].title!r}) does not conform to "
                                      f"type {c.type_name}: treated as null")
                    v = None
            iv = self.input_values[k]
            if iv is not None and v is not None and iv(v, ctx) is not True:
                if errors is not None:
                    errors.append(f"input {k + 1} ({self.table.inputs[k].title!r}) value {v!r} not in "
                                  "inputValues")
                return None
            vals.append(v)
        return vals

    def match(self, vals: list[Any], ctx: dict, first_only: bool) -> list[CRule]:
        matched = []
        for r in self.rules:
            for i, t in r.tests:
                if t(vals[i], ctx) is not True:
                    break
            else:
                matched.append(r)
                if first_only:
                    break
        return matched

    def default_result(self, ctx: dict) -> Any:
        if not self.has_default:
            return None
        return self.shape([None if d is None else d.fn(ctx) for d in self.defaults])

    def run(self, ctx: dict, trace: DecisionTrace | None = None) -> Any:
        errors = trace.errors if trace is not None else None
        vals = self.input_vector(ctx, errors)
        if vals is None:
            return None
        policy = self.policy
        matched = self.match(vals, ctx, policy == "FIRST" and trace is None)
        if trace is not None:
            trace.matched = [r.hit for r in matched]
        if not matched:
            return self.default_result(ctx)
        if policy == "FIRST":
            return self._select(matched[0], ctx, trace)
        if policy == "UNIQUE":
            if len(matched) > 1:
                if errors is not None:
                    errors.append("UNIQUE hit policy violated: rules " + ", ".join(str(r.number) for r in matched)
                                  + " match")
                return None
            return self._select(matched[0], ctx, trace)
        outs = []
        for r in matched:
            o = self.rule_outputs(r, ctx, errors)
            if o is None:
                return None
            outs.append(o)
        if policy == "ANY":
            first = outs[0]
            for r, o in zip(matched[1:], outs[1:], strict=True):
                if not all(ops.eq(a, b) is True for a, b in zip(first, o, strict=True)):
                    if errors is not None:
                        errors.append(f"ANY hit policy violated: rules {matched[0].number} and {r.number} match "
                                      "with different outputs")
                    return None
            if trace is not None:
                trace.selected = [matched[0].hit]
            return self.shape(first)
        if policy == "PRIORITY":
            best = min(range(len(outs)), key=lambda j: self.rank(outs[j]))
            if trace is not None:
                trace.selected = [matched[best].hit]
            return self.shape(outs[best])
        order = list(range(len(outs)))
        if policy == "OUTPUT ORDER":
            order.sort(key=lambda j: self.rank(outs[j]))
        if trace is not None:
            trace.selected = [matched[j].hit for j in order]
        if self.aggregation is None:
            return [self.shape(outs[j]) for j in order]
        xs = [o[0] for o in outs]
        agg = self.aggregation
        if agg == "COUNT":
            return Decimal(len(xs))
        if agg == "SUM":
            return f_sum(xs)
        if agg == "MIN":
            return f_min(xs)
        return f_max(xs)

    def _select(self, r: CRule, ctx: dict, trace: DecisionTrace | None) -> Any:
        o = self.rule_outputs(r, ctx, trace.errors if trace is not None else None)
        if trace is not None:
            trace.selected = [r.hit]
        return None if o is None else self.shape(o)


def _value_list(ut: A.UnaryTests) -> list[Any] | None:
    """Constant values of an outputValues list (its order is the priority order), or None if not constant."""
    vals = []
    for t in ut.tests:
        if not isinstance(t, A.UExpr) or t.uses_q:
            return None
        c = compile_expr(t.expr)
        if not c.const:
            return None
        vals.append(c.value)
    return vals


class CLiteral:
    def __init__(self, comp: Compiler, d: Decision) -> None:
        self.decision = d
        lg = d.logic
        self.expr = comp.expr(lg.text, d, "literal expression", lg.line, "literalExpression")
        self.conf = comp.conformer(lg.type_ref or d.type_ref, d, lg.line, "literalExpression")

    def run(self, ctx: dict, trace: DecisionTrace | None = None) -> Any:
        v = self.expr.fn(ctx)
        if self.conf is not None:
            v = self.conf(v)
            if v is BAD:
                if trace is not None:
                    trace.errors.append(f"result does not conform to type {self.conf.type_name}")
                return None
        return v


class CompiledModel:
    """All decisions of a model compiled, with the dependency order of each."""

    def __init__(self, defs: Definitions) -> None:
        self.defs = defs
        comp = Compiler(defs)
        self.compiler = comp
        ids = {}
        for d in defs.decisions:
            if d.id in ids:
                raise comp.where(d, f"duplicate decision id {d.id!r}", d.line, "decision")
            ids[d.id] = d
        names = {}
        for d in defs.decisions:
            if d.name in names:
                raise comp.where(d, f"duplicate decision name {d.name!r}", d.line, "decision")
            names[d.name] = d
        in_ids = {i.id: i for i in defs.input_data}
        for d in defs.decisions:
            for r in d.required_decisions:
                if r not in ids:
                    raise comp.where(d, f"requires unknown decision id {r!r}", d.line, "requiredDecision")
            for r in d.required_inputs:
                if r not in in_ids:
                    raise comp.where(d, f"requires unknown input data id {r!r}", d.line, "requiredInput")
        self.by_name = names
        self.by_id = ids
        self.input_conf = {i.name: comp.conformer(i.type_ref, None, i.line, "inputData") for i in defs.input_data}
        self.compiled: dict[str, CTable | CLiteral] = {}
        for d in defs.decisions:
            self.compiled[d.name] = (CTable(comp, d, d.logic) if isinstance(d.logic, DecisionTable)
                                     else CLiteral(comp, d))
        self.order: dict[str, list[str]] = {d.name: self._order(d) for d in defs.decisions}
        required = {r for d in defs.decisions for r in d.required_decisions}
        self.top = [d.name for d in defs.decisions if d.id not in required]
        self.all_order = []
        for d in defs.decisions:
            for n in self.order[d.name]:
                if n not in self.all_order:
                    self.all_order.append(n)

    def _order(self, d: Decision) -> list[str]:
        out: list[str] = []
        state: dict[str, int] = {}

        def visit(x: Decision, path: list[str]) -> None:
            s = state.get(x.id, 0)
            if s == 2:
                return
            if s == 1:
                cyc = " -> ".join([*path, x.name])
                raise self.compiler.where(x, f"information requirement cycle: {cyc}", x.line, "decision")
            state[x.id] = 1
            for r in x.required_decisions:
                visit(self.by_id[r], [*path, x.name])
            state[x.id] = 2
            out.append(x.name)

        visit(d, [])
        return out

    @property
    def used_names(self) -> frozenset[str]:
        """Every name the model reads from its inputs (input data and free FEEL names)."""
        u = self.__dict__.get("_used")
        if u is None:
            from decisions.validate import referenced_names

            names = {i.name for i in self.defs.input_data}
            for d in self.defs.decisions:
                names.update(referenced_names(self, d.name))
            u = frozenset(names)
            self.__dict__["_used"] = u
        return u

    def context(self, inputs: dict, traces: dict | None) -> dict:
        used = self.used_names
        try:
            ctx = {k: to_feel(v) for k, v in inputs.items() if k in used}
        except TypeError as e:
            raise EvaluationError(str(e)) from None
        for name, conf in self.input_conf.items():
            if conf is not None and name in ctx:
                v = conf(ctx[name])
                if v is BAD:
                    if traces is not None:
                        traces.setdefault("__inputs__", []).append(
                            f"input data {name!r} does not conform to type {conf.type_name}: treated as null")
                    v = None
                ctx[name] = v
        return ctx

    def targets(self, decision: str | None) -> list[str]:
        if decision is None:
            return list(self.all_order)
        if decision not in self.compiled:
            raise EvaluationError(f"unknown decision {decision!r}; the model has: {', '.join(self.compiled)}")
        return self.order[decision]


def check_single_decision(cm: CompiledModel, decision: str | None) -> str:
    if decision is not None:
        if decision not in cm.compiled:
            raise EvaluationError(f"unknown decision {decision!r}; the model has: {', '.join(cm.compiled)}")
        return decision
    if len(cm.top) == 1:
        return cm.top[0]
    raise EvaluationError(f"the model has several top-level decisions ({', '.join(cm.top)}): name one")


__all__ = ["CompiledModel", "CTable", "CLiteral", "Explanation", "DecisionTrace", "RuleHit", "SINGLE_HIT",
           "DecisionError", "check_single_decision"]
