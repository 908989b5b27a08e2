"""Static validation of DMN models: unknown names, type mismatches, overlapping rules under UNIQUE (and ANY with
different outputs), gaps (input combinations no rule covers) for numeric / enumerated inputs, unreachable rules
under FIRST. Each finding names decision, rule number, column and file/line where known.

Method for overlaps, gaps and reachability: per input column, the constants of all entries cut the domain into
elementary pieces (each endpoint, each open interval between consecutive endpoints, below the lowest, above the
highest; for strings each listed value plus "any other string"; for booleans true/false). Every constant-only
entry either contains a whole piece or none of it, so testing one representative per piece with the compiled
unary test is exact. Columns whose entries reference names or ``?`` are not analysed (no finding is guessed).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from decisions.engine import CompiledModel, CTable
from decisions.errors import ModelError
from decisions.feel import ast as A
from decisions.feel.compile import compile_expr
from decisions.feel.parser import parse_expression
from decisions.feel.values import feel_text, kind

MAX_GAPS = 10
MAX_NODES = 200_000
_OTHER = "\u00abany other string\u00bb"


@dataclass
class Finding:
    """One validation result. ``severity``: error | warning | info; ``rule`` is 1-based."""

    severity: str
    code: str
    message: str
    decision: str | None = None
    rule: int | None = None
    column: str | None = None
    file: str | None = None
    line: int | None = None
    example: dict[str, Any] | None = None  # input expression -> FEEL value showing an overlap or a gap

    def __str__(self) -> str:
        loc = f"{self.file}:{self.line}: " if self.file and self.line else (f"{self.file}: " if self.file else "")
        parts = [p for p in (f"decision {self.decision!r}" if self.decision else None,
                             f"rule {self.rule}" if self.rule else None,
                             f"column {self.column!r}" if self.column else None) if p]
        where = (" [" + ", ".join(parts) + "]") if parts else ""
        return f"{loc}{self.severity}: {self.code}{where}: {self.message}"


def validate(path: str | Path, assume: dict[str, Any] | None = None) -> list[Finding]:
    """Load ``path`` (.dmn or .yaml) and return every finding; a file that cannot be loaded gives one error per
    problem found while loading (the YAML form reports all its schema problems at once).

    ``assume`` maps input names to values held fixed for the gap / overlap / reachability analysis (e.g. the
    default thresholds of ``decisions/tables/thresholds.yaml``); without it, columns that compare against
    other inputs are not analysed.
    """
    from decisions.api import read_definitions

    try:
        defs = read_definitions(path)
        cm = CompiledModel(defs)
    except ModelError as e:
        return [Finding("error", "load", f"{p.where}: {p.reason}" if p.where else p.reason,
                        file=p.file or str(path), line=p.line) for p in e.problems]
    return validate_model(cm, assume)


def _consts(node: Any, env: dict | None = None) -> list[Any]:
    """Constant values a unary test / expression compares against (for type checks)."""
    out: list[Any] = []
    if isinstance(node, A.UnaryTests):
        for t in node.tests:
            out.extend(_consts(t, env))
    elif isinstance(node, A.UCompare):
        out.extend(_const_of(node.endpoint, env))
    elif isinstance(node, A.URange):
        out.extend(_const_of(node.lo, env) + _const_of(node.hi, env))
    elif isinstance(node, A.UExpr) and not node.uses_q:
        if isinstance(node.expr, A.ListLit):
            for x in node.expr.items:
                out.extend(_const_of(x, env))
        elif isinstance(node.expr, A.RangeLit):
            out.extend(_const_of(node.expr.lo, env) + _const_of(node.expr.hi, env))
        else:
            out.extend(_const_of(node.expr, env))
    return out


def _const_of(e: A.Node, env: dict | None = None) -> list[Any]:
    env = env or {}
    if A.uses_qmark(e) or not A.free_names(e) <= set(env):
        return []
    try:
        c = compile_expr(e)
        v = c.value if c.const else c.fn(dict(env))
    except Exception:  # noqa: BLE001 - only for analysis
        return []
    return [v] if v is not None else []


def referenced_names(cm: CompiledModel, name: str) -> list[str]:
    d = cm.by_name[name]
    texts: list[tuple[str, bool]] = []
    lg = d.logic
    if hasattr(lg, "rules"):
        texts += [(c.expression, False) for c in lg.inputs]
        for r in lg.rules:
            texts += [(e, True) for e in r.inputs] + [(e or "null", False) for e in r.outputs]
        texts += [(o.default, False) for o in lg.outputs if o.default]
    else:
        texts.append((lg.text, False))
    out: list[str] = []
    comp = cm.compiler
    from decisions.feel.parser import parse_unary_tests

    for t, unary in texts:
        node = parse_unary_tests(t, comp.names) if unary else parse_expression(t, comp.names)
        for n in sorted(A.free_names(node)):
            if n not in out:
                out.append(n)
    return out


def validate_model(cm: CompiledModel, assume: dict[str, Any] | None = None) -> list[Finding]:
    from decisions.feel.values import to_feel

    env = {k: to_feel(v) for k, v in (assume or {}).items()}
    out: list[Finding] = []
    file = cm.defs.file
    in_names = {i.id: i.name for i in cm.defs.input_data}
    declared = bool(cm.defs.input_data) or any(d.required_decisions or d.required_inputs
                                               for d in cm.defs.decisions)
    for d in cm.defs.decisions:
        known = {in_names[i] for i in d.required_inputs} | {cm.by_id[x].name for x in d.required_decisions}
        ct = cm.compiled[d.name]
        if isinstance(ct, CTable):
            implicit = {n for n in ct.input_names if n}
            out += _names(cm, d.name, ct, known if declared else None, implicit, file)
            out += _types(cm, ct, file)
            out += _coverage(cm, ct, file, env)
        else:
            for n in referenced_names(cm, d.name):
                if declared and n not in known:
                    out.append(Finding("error", "unknown-name", f"name {n!r} is neither a required input nor a "
                                       "required decision", d.name, file=file, line=d.logic.line or d.line))
    return out


def _names(cm: CompiledModel, dname: str, ct: CTable, known: set[str] | None, implicit: set[str],
           file: str | None) -> list[Finding]:
    out = []
    t = ct.table
    comp = cm.compiler
    for c in t.inputs:
        for n in sorted(A.free_names(parse_expression(c.expression, comp.names))):
            if known is not None and n not in known:
                out.append(Finding("error", "unknown-name", f"input expression reads {n!r}, which is neither a "
                                   "required input nor a required decision", dname, None, c.title, file, c.line))
    for r, cr in zip(t.rules, ct.rules, strict=True):
        for k, ut in enumerate(cr.uts):
            for n in sorted(A.free_names(ut)):
                if (known is not None and n not in known) or (known is None and n not in implicit):
                    sev = "error" if known is not None else "warning"
                    out.append(Finding(sev, "unknown-name", f"entry {r.inputs[k]!r} reads unknown name {n!r}",
                                       dname, cr.number, t.inputs[k].title, file,
                                       r.input_lines[k] if k < len(r.input_lines) else r.line))
        for k, e in enumerate(r.outputs):
            for n in sorted(A.free_names(parse_expression(e if e.strip() else "null", comp.names))):
                if (known is not None and n not in known) or (known is None and n not in implicit):
                    sev = "error" if known is not None else "warning"
                    out.append(Finding(sev, "unknown-name", f"output entry {e!r} reads unknown name {n!r}", dname,
                                       cr.number, t.outputs[k].name, file,
                                       r.output_lines[k] if k < len(r.output_lines) else r.line))
    return out


def _types(cm: CompiledModel, ct: CTable, file: str | None) -> list[Finding]:
    out = []
    t = ct.table
    dname = ct.decision.name
    for k, c in enumerate(t.inputs):
        base = cm.compiler.base_type(c.type_ref)
        if base in (None, "Any"):
            continue
        for r, cr in zip(t.rules, ct.rules, strict=True):
            for v in _consts(cr.uts[k]):
                if kind(v) != base:
                    out.append(Finding("error", "type-mismatch", f"entry {r.inputs[k]!r} tests a {kind(v)} "
                                       f"({feel_text(v)}) but the input is of type {base}", dname, cr.number,
                                       c.title, file, r.input_lines[k] if k < len(r.input_lines) else r.line))
    for k, o in enumerate(t.outputs):
        base = cm.compiler.base_type(o.type_ref)
        for r, cr in zip(t.rules, ct.rules, strict=True):
            oc = cr.outs[k]
            if not oc.const or oc.value is None:
                continue
            line = r.output_lines[k] if k < len(r.output_lines) else r.line
            if base not in (None, "Any") and kind(oc.value) != base:
                out.append(Finding("error", "type-mismatch", f"output entry {r.outputs[k]!r} is a {kind(oc.value)} "
                                   f"but the output is of type {base}", dname, cr.number, o.name, file, line))
            ov = ct.out_values[k]
            if ov is not None and ov(oc.value, {}) is not True:
                out.append(Finding("error", "output-value", f"output entry {r.outputs[k]!r} is not among the "
                                   f"output values {o.output_values}", dname, cr.number, o.name, file, line))
    return out


# ----- coverage analysis -------------------------------------------------------------------------------------
class _Axis:
    def __init__(self, reps: list[Any], labels: list[str], mem: np.ndarray) -> None:
        self.reps = reps
        self.labels = labels
        self.mem = mem  # (rules, pieces) bool


def _axis(cm: CompiledModel, ct: CTable, k: int, env: dict) -> _Axis | None:
    """Pieces of input column k and rule membership, or None if the column is not analysable."""
    uts = [cr.uts[k] for cr in ct.rules]
    for ut in uts:
        if not A.free_names(ut) <= set(env) or A.uses_qmark(ut):
            return None
    consts = [v for ut in uts for v in _consts(ut, env)]
    iv_ut = ct.input_value_uts[k]
    if iv_ut is not None:
        consts += _consts(iv_ut)
    base = cm.compiler.base_type(ct.table.inputs[k].type_ref)
    kinds = {kind(v) for v in consts}
    if base in (None, "Any"):
        base = kinds.pop() if len(kinds) == 1 else ("boolean" if not kinds else None)
        if base is None:
            return None
    if base == "number":
        pts = sorted({v for v in consts if type(v) is Decimal})
        reps: list[Any] = []
        labels: list[str] = []
        if not pts:
            reps, labels = [Decimal(0)], ["any number"]
        else:
            reps.append(pts[0] - 1)
            labels.append(f"< {feel_text(pts[0])}")
            for a, b in zip(pts, pts[1:], strict=False):
                reps += [a, (a + b) / 2]
                labels += [feel_text(a), f"({feel_text(a)}..{feel_text(b)})"]
            reps.append(pts[-1])
            labels.append(feel_text(pts[-1]))
            reps.append(pts[-1] + 1)
            labels.append(f"> {feel_text(pts[-1])}")
    elif base == "string":
        vals = sorted({v for v in consts if type(v) is str})
        if iv_ut is not None:
            reps = vals
        else:
            reps = [*vals, _OTHER]
        labels = [feel_text(v) if v != _OTHER else "any other string" for v in reps]
    elif base == "boolean":
        reps, labels = [True, False], ["true", "false"]
    else:
        return None
    if iv_ut is not None:
        iv = ct.input_values[k]
        keep = [j for j, v in enumerate(reps) if iv(v, {}) is True]
        reps, labels = [reps[j] for j in keep], [labels[j] for j in keep]
    if not reps:
        return None
    mem = np.zeros((len(ct.rules), len(reps)), dtype=bool)
    for i, cr in enumerate(ct.rules):
        fn = dict(cr.tests).get(k)
        for j, v in enumerate(reps):
            mem[i, j] = True if fn is None else fn(v, dict(env)) is True
    return _Axis(reps, labels, mem)


def _gaps(axes: list[_Axis], rules: np.ndarray, domains: list[np.ndarray], limit: int) -> tuple[list, bool]:
    """Combinations of pieces (restricted to ``domains``) that no rule in ``rules`` covers."""
    found: list[list[int]] = []
    nodes = [0]
    complete = [True]

    def rec(c: int, mask: np.ndarray, prefix: list[int]) -> None:
        if len(found) >= limit or nodes[0] > MAX_NODES:
            complete[0] = False
            return
        nodes[0] += 1
        if c == len(axes):
            return
        for p in np.flatnonzero(domains[c]):
            sub = mask & axes[c].mem[:, p]
            if not sub.any():
                found.append([*prefix, int(p)] + [-1] * (len(axes) - c - 1))
                if len(found) >= limit:
                    complete[0] = False
                    return
            else:
                rec(c + 1, sub, [*prefix, int(p)])

    rec(0, rules.copy(), [])
    return found, complete[0]


def _coverage(cm: CompiledModel, ct: CTable, file: str | None, env: dict) -> list[Finding]:
    t = ct.table
    dname = ct.decision.name
    out: list[Finding] = []
    nr = len(ct.rules)
    if nr == 0:
        return [Finding("warning", "empty-table", "the table has no rules", dname, file=file, line=t.line)]
    axes = [_axis(cm, ct, k, env) for k in range(len(t.inputs))]
    analysable = all(a is not None for a in axes)
    # overlaps
    if t.hit_policy in ("UNIQUE", "ANY"):
        for i in range(nr):
            for j in range(i + 1, nr):
                ok = True
                example = []
                point: dict[str, Any] | None = {}
                for k, ax in enumerate(axes):
                    if ax is None:
                        ei, ej = t.rules[i].inputs[k].strip(), t.rules[j].inputs[k].strip()
                        if ei in ("", "-") or ej in ("", "-") or ei == ej:
                            example.append(f"{t.inputs[k].title}: {ei if ei not in ('', '-') else ej or '-'}")
                            point = None
                            continue
                        ok = False
                        break
                    both = ax.mem[i] & ax.mem[j]
                    if not both.any():
                        ok = False
                        break
                    p0 = int(np.flatnonzero(both)[0])
                    example.append(f"{t.inputs[k].title} {ax.labels[p0]}")
                    if point is not None:
                        point[t.inputs[k].expression] = ax.reps[p0]
                if not ok:
                    continue
                if t.hit_policy == "ANY" and t.rules[i].outputs == t.rules[j].outputs:
                    continue
                what = "overlap" if t.hit_policy == "UNIQUE" else "overlap with different outputs"
                out.append(Finding("error", "overlap", f"rules {i + 1} and {j + 1} {what} under {t.hit_policy}"
                                   f" (e.g. {'; '.join(example) or 'any input'})", dname, j + 1, None, file,
                                   t.rules[j].line, point))
    if not analysable:
        bad = [t.inputs[k].title for k, a in enumerate(axes) if a is None]
        out.append(Finding("info", "not-analysed", "gap / reachability analysis skipped: columns "
                           f"{', '.join(repr(b) for b in bad)} use names, '?' or non-enumerable types",
                           dname, file=file, line=t.line))
        return out
    # gaps
    if axes:
        doms = [np.ones(len(a.reps), dtype=bool) for a in axes]
        gaps, _ = _gaps(axes, np.ones(nr, dtype=bool), doms, MAX_GAPS)
        sev = "info" if ct.has_default else "warning"
        for g in gaps:
            desc = "; ".join(f"{t.inputs[k].title} {axes[k].labels[p]}" if p >= 0 else f"{t.inputs[k].title} any"
                             for k, p in enumerate(g))
            tail = " (the default output applies)" if ct.has_default else ""
            point = {t.inputs[k].expression: axes[k].reps[max(p, 0)] for k, p in enumerate(g)}
            out.append(Finding(sev, "gap", f"no rule covers: {desc}{tail}", dname, None, None, file, t.line,
                               point))
    # unreachable under FIRST
    if t.hit_policy == "FIRST" and axes:
        for j in range(1, nr):
            doms = [a.mem[j] for a in axes]
            if not all(d.any() for d in doms):
                out.append(Finding("warning", "unreachable", "rule can never match (empty entry)", dname, j + 1,
                                   file=file, line=t.rules[j].line))
                continue
            earlier = np.zeros(nr, dtype=bool)
            earlier[:j] = True
            gaps, complete = _gaps(axes, earlier, doms, 1)
            if not gaps and complete:
                out.append(Finding("warning", "unreachable", "rule is unreachable under FIRST: earlier rules "
                                   "cover every input it matches", dname, j + 1, file=file, line=t.rules[j].line))
    return out
