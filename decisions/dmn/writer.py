"""DMN 1.3 XML writer with DMNDI shapes and edges (a DRD Camunda Modeler can open and lay out).

Ids of entries and requirements are derived deterministically from rule / decision ids, so writing the same
model twice gives the same bytes.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from decisions.model import Decision, DecisionTable, Definitions, LiteralExpression

NS_MODEL = "https://www.omg.org/spec/DMN/20191111/MODEL/"
NS_DMNDI = "https://www.omg.org/spec/DMN/20191111/DMNDI/"
NS_DC = "http://www.omg.org/spec/DMN/20180521/DC/"
NS_DI = "http://www.omg.org/spec/DMN/20180521/DI/"
NS_MODELER = "http://camunda.org/schema/modeler/1.0"

_SHAPE_W, _SHAPE_H = 180, 80
_INPUT_W, _INPUT_H = 125, 45


def _a(name: str, value: str | None) -> str:
    return "" if value is None else f" {name}={quoteattr(value)}"


def _text(tag: str, value: str, ind: str, attrs: str = "") -> str:
    return f"{ind}<{tag}{attrs}>\n{ind}  <text>{escape(value)}</text>\n{ind}</{tag}>\n"


def _table(t: DecisionTable, ind: str) -> str:
    out = [f"{ind}<decisionTable{_a('id', t.id)}{_a('hitPolicy', t.hit_policy)}{_a('aggregation', t.aggregation)}"
           f"{_a('outputLabel', t.output_label)}>\n"]
    i2, i3 = ind + "  ", ind + "    "
    for k, c in enumerate(t.inputs):
        out.append(f"{i2}<input{_a('id', c.id)}{_a('label', c.label)}>\n")
        out.append(_text("inputExpression", c.expression, i3, _a("id", f"{c.id}_expression") +
                         _a("typeRef", c.type_ref)))
        if c.input_values is not None:
            out.append(_text("inputValues", c.input_values, i3, _a("id", f"{c.id}_values")))
        out.append(f"{i2}</input>\n")
        del k
    for c in t.outputs:
        out.append(f"{i2}<output{_a('id', c.id)}{_a('label', c.label)}{_a('name', c.name)}"
                   f"{_a('typeRef', c.type_ref)}")
        if c.output_values is None and c.default is None:
            out.append(" />\n")
            continue
        out.append(">\n")
        if c.output_values is not None:
            out.append(_text("outputValues", c.output_values, i3, _a("id", f"{c.id}_values")))
        if c.default is not None:
            out.append(_text("defaultOutputEntry", c.default, i3, _a("id", f"{c.id}_default")))
        out.append(f"{i2}</output>\n")
    for name in t.annotations:
        out.append(f"{i2}<annotation{_a('name', name)} />\n")
    for r in t.rules:
        out.append(f"{i2}<rule{_a('id', r.id)}>\n")
        if r.description is not None:
            out.append(f"{i3}<description>{escape(r.description)}</description>\n")
        for j, e in enumerate(r.inputs, 1):
            out.append(_text("inputEntry", e, i3, _a("id", f"{r.id}_in_{j}")))
        for j, e in enumerate(r.outputs, 1):
            out.append(_text("outputEntry", e, i3, _a("id", f"{r.id}_out_{j}")))
        for e in r.annotations:
            out.append(f"{i3}<annotationEntry>\n{i3}  <text>{escape(e)}</text>\n{i3}</annotationEntry>\n")
        out.append(f"{i2}</rule>\n")
    out.append(f"{ind}</decisionTable>\n")
    return "".join(out)


def _decision(d: Decision, ind: str) -> str:
    out = [f"{ind}<decision{_a('id', d.id)}{_a('name', d.name)}{_a('label', d.label)}>\n"]
    i2 = ind + "  "
    if d.description is not None:
        out.append(f"{i2}<description>{escape(d.description)}</description>\n")
    out.append(f"{i2}<variable{_a('id', d.id + '_variable')}{_a('name', d.name)}{_a('typeRef', d.type_ref)} />\n")
    for k, rid in enumerate(d.required_decisions, 1):
        out.append(f"{i2}<informationRequirement id=\"{d.id}_requires_decision_{k}\">\n"
                   f"{i2}  <requiredDecision href={quoteattr('#' + rid)} />\n{i2}</informationRequirement>\n")
    for k, rid in enumerate(d.required_inputs, 1):
        out.append(f"{i2}<informationRequirement id=\"{d.id}_requires_input_{k}\">\n"
                   f"{i2}  <requiredInput href={quoteattr('#' + rid)} />\n{i2}</informationRequirement>\n")
    if isinstance(d.logic, LiteralExpression):
        out.append(_text("literalExpression", d.logic.text, i2, _a("id", d.logic.id) + _a("typeRef",
                                                                                           d.logic.type_ref)))
    else:
        out.append(_table(d.logic, i2))
    out.append(f"{ind}</decision>\n")
    return "".join(out)


def _layout(defs: Definitions) -> dict[str, tuple[int, int, int, int]]:
    """Boxes (x, y, w, h): decisions by depth from the top of the requirement graph, input data below."""
    by_id = {d.id: d for d in defs.decisions}
    depth: dict[str, int] = {}

    def dep(did: str, seen: frozenset = frozenset()) -> int:
        if did in depth:
            return depth[did]
        parents = [d.id for d in defs.decisions if did in d.required_decisions and d.id not in seen]
        v = 0 if not parents else 1 + max(dep(p, seen | {did}) for p in parents)
        depth[did] = v
        return v

    for d in defs.decisions:
        dep(d.id)
    rows: dict[int, list[str]] = {}
    for did in by_id:
        rows.setdefault(depth[did], []).append(did)
    boxes = {}
    for level, ids in sorted(rows.items()):
        for k, did in enumerate(ids):
            boxes[did] = (160 + 240 * k, 80 + 160 * level, _SHAPE_W, _SHAPE_H)
    y_in = 80 + 160 * (max(rows) + 1 if rows else 0)
    for k, i in enumerate(defs.input_data):
        boxes[i.id] = (187 + 240 * k, y_in, _INPUT_W, _INPUT_H)
    return boxes


def _dmndi(defs: Definitions, ind: str) -> str:
    boxes = _layout(defs)
    i2, i3, i4 = ind + "  ", ind + "    ", ind + "      "
    out = [f"{ind}<dmndi:DMNDI>\n{i2}<dmndi:DMNDiagram id=\"{defs.id}_diagram\">\n"]
    for eid, (x, y, w, h) in boxes.items():
        out.append(f"{i3}<dmndi:DMNShape id=\"{eid}_shape\" dmnElementRef={quoteattr(eid)}>\n"
                   f"{i4}<dc:Bounds height=\"{h}\" width=\"{w}\" x=\"{x}\" y=\"{y}\" />\n{i3}</dmndi:DMNShape>\n")
    for d in defs.decisions:
        tx, ty, tw, _ = boxes[d.id]
        for kind, refs in (("decision", d.required_decisions), ("input", d.required_inputs)):
            for k, rid in enumerate(refs, 1):
                if rid not in boxes:
                    continue
                sx, sy, sw, _ = boxes[rid]
                out.append(f"{i3}<dmndi:DMNEdge id=\"{d.id}_requires_{kind}_{k}_edge\" "
                           f"dmnElementRef=\"{d.id}_requires_{kind}_{k}\">\n"
                           f"{i4}<di:waypoint x=\"{sx + sw // 2}\" y=\"{sy}\" />\n"
                           f"{i4}<di:waypoint x=\"{tx + tw // 2}\" y=\"{ty + _SHAPE_H}\" />\n"
                           f"{i3}</dmndi:DMNEdge>\n")
    out.append(f"{i2}</dmndi:DMNDiagram>\n{ind}</dmndi:DMNDI>\n")
    return "".join(out)


def write_dmn(defs: Definitions) -> str:
    """Serialise a model as DMN 1.3 XML text (UTF-8 declaration included)."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n',
           f'<definitions xmlns="{NS_MODEL}" xmlns:dmndi="{NS_DMNDI}" xmlns:dc="{NS_DC}" xmlns:di="{NS_DI}" '
           f'xmlns:modeler="{NS_MODELER}"{_a("id", defs.id)}{_a("name", defs.name)}'
           f'{_a("namespace", defs.namespace)} exporter="dientine decisions" exporterVersion="0.1.0" '
           'modeler:executionPlatform="Camunda Cloud" modeler:executionPlatformVersion="8.5.0">\n']
    for it in defs.item_definitions:
        out.append(f"  <itemDefinition{_a('id', it.id)}{_a('name', it.name)}>\n"
                   f"    <typeRef>{escape(it.type_ref)}</typeRef>\n")
        if it.allowed_values is not None:
            out.append(_text("allowedValues", it.allowed_values, "    "))
        out.append("  </itemDefinition>\n")
    for d in defs.decisions:
        out.append(_decision(d, "  "))
    for i in defs.input_data:
        out.append(f"  <inputData{_a('id', i.id)}{_a('name', i.name)}{_a('label', i.label)}>\n"
                   f"    <variable{_a('id', i.id + '_variable')}{_a('name', i.name)}{_a('typeRef', i.type_ref)} />\n"
                   "  </inputData>\n")
    out.append(_dmndi(defs, "  "))
    out.append("</definitions>\n")
    return "".join(out)
