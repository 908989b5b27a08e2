"""DMN XML reader (DMN 1.1 to 1.5 namespaces) with line numbers, on the stdlib expat parser.

Safety: DOCTYPE declarations (and with them every entity definition) are refused, so no entity expansion or
external resource is ever processed. Diagram interchange (DMNDI), extension elements, text annotations,
knowledge sources and decision services are ignored on input (the writer regenerates DMNDI).
"""

from __future__ import annotations

import re
from xml.parsers import expat

from decisions.errors import ModelError
from decisions.model import (
    AGGREGATIONS,
    HIT_POLICIES,
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

#: DMN model namespaces by version (OMG DMN 1.1 .. 1.5 XSDs).
DMN_NAMESPACES = {
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd": "1.1",
    "http://www.omg.org/spec/DMN/20180521/MODEL/": "1.2",
    "https://www.omg.org/spec/DMN/20191111/MODEL/": "1.3",
    "https://www.omg.org/spec/DMN/20211108/MODEL/": "1.4",
    "https://www.omg.org/spec/DMN/20230324/MODEL/": "1.5",
}

_TYPE_ALIASES = {
    "integer": "number", "long": "number", "double": "number", "int": "number", "decimal": "number",
    "dateTime": "date and time", "datetime": "date and time", "dayTimeDuration": "days and time duration",
    "any": "Any",
}

_IGNORED = {"DMNDI", "extensionElements", "textAnnotation", "association", "knowledgeSource", "decisionService",
            "group", "import", "elementCollection", "performanceIndicator", "organizationUnit",
            "businessKnowledgeModel", "artifact"}


class XNode:
    __slots__ = ("ns", "tag", "attrib", "children", "text", "line")

    def __init__(self, ns: str, tag: str, attrib: dict, line: int) -> None:
        self.ns = ns
        self.tag = tag
        self.attrib = attrib
        self.children: list[XNode] = []
        self.text = ""
        self.line = line

    def find(self, tag: str) -> XNode | None:
        for c in self.children:
            if c.tag == tag:
                return c
        return None

    def findall(self, tag: str) -> list[XNode]:
        return [c for c in self.children if c.tag == tag]


def parse_xml(data: bytes | str, file: str | None = None) -> XNode:
    """Parse XML into an :class:`XNode` tree, refusing DTDs; errors carry file and line."""
    p = expat.ParserCreate(namespace_separator=" ")
    stack: list[XNode] = []
    root: list[XNode] = []

    def start(name: str, attrs: dict) -> None:
        ns, _, local = name.rpartition(" ")
        clean = {}
        for k, v in attrs.items():
            kns, _, kl = k.rpartition(" ")
            if not kns:
                clean[kl] = v
        node = XNode(ns, local, clean, p.CurrentLineNumber)
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)

    def end(name: str) -> None:
        stack.pop()

    def chars(s: str) -> None:
        if stack:
            stack[-1].text += s

    def doctype(*_a) -> None:
        raise ModelError("DOCTYPE / DTD declarations are refused (entity expansion risk)", file,
                         p.CurrentLineNumber)

    def entity(*_a) -> None:  # pragma: no cover - only reachable through a DTD, refused above
        raise ModelError("entity declarations are refused", file, p.CurrentLineNumber)

    p.StartElementHandler = start
    p.EndElementHandler = end
    p.CharacterDataHandler = chars
    p.StartDoctypeDeclHandler = doctype
    p.EntityDeclHandler = entity
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        p.Parse(data.encode("utf-8") if isinstance(data, str) else data, True)
    except expat.ExpatError as e:
        raise ModelError(f"malformed XML: {expat.ErrorString(e.code)} (column {e.offset + 1})", file,
                         e.lineno) from None
    if not root:
        raise ModelError("empty XML document", file, 1)
    return root[0]


def normalise_type(t: str | None) -> str | None:
    """Map a typeRef (``feel:number``, Camunda ``integer``, ``dateTime``...) to the FEEL type name."""
    if t is None:
        return None
    t = t.strip()
    if not t:
        return None
    if ":" in t and not t.startswith("date and time"):
        t = t.split(":", 1)[1]
    return _TYPE_ALIASES.get(t, t)


class _Reader:
    def __init__(self, file: str | None) -> None:
        self.file = file

    def err(self, node: XNode, msg: str) -> ModelError:
        return ModelError(msg, self.file, node.line, node.tag)

    def req(self, node: XNode, attr: str) -> str:
        v = node.attrib.get(attr)
        if v is None or not v.strip():
            raise self.err(node, f"missing required attribute {attr!r}")
        return v

    def text_of(self, node: XNode | None) -> str | None:
        if node is None:
            return None
        t = node.find("text")
        if t is None:
            return None
        return t.text.strip()

    def href(self, node: XNode) -> str:
        h = self.req(node, "href")
        if not h.startswith("#"):
            raise self.err(node, f"only local references '#id' are supported, found {h!r}")
        return h[1:]

    def read(self, root: XNode) -> Definitions:
        if root.tag != "definitions":
            raise self.err(root, f"root element must be 'definitions', found {root.tag!r}")
        if root.ns not in DMN_NAMESPACES:
            raise self.err(root, f"unknown DMN namespace {root.ns!r} (supported: DMN 1.1 to 1.5)")
        defs = Definitions(id=root.attrib.get("id") or "definitions", name=root.attrib.get("name", ""),
                           namespace=root.attrib.get("namespace", ""), file=self.file)
        for c in root.children:
            if c.ns != root.ns or c.tag in _IGNORED:
                continue
            if c.tag == "itemDefinition":
                defs.item_definitions.append(self.item_definition(c))
            elif c.tag == "inputData":
                var = c.find("variable")
                defs.input_data.append(InputData(
                    id=self.req(c, "id"), name=self.req(c, "name"),
                    type_ref=normalise_type(var.attrib.get("typeRef")) if var is not None else None,
                    label=c.attrib.get("label"), line=c.line))
            elif c.tag == "decision":
                defs.decisions.append(self.decision(c))
            else:
                raise self.err(c, f"unsupported DMN element {c.tag!r}")
        return defs

    def item_definition(self, c: XNode) -> ItemDefinition:
        if c.find("itemComponent") is not None:
            raise self.err(c, "structured item definitions (itemComponent) are not supported")
        if c.attrib.get("isCollection", "false") == "true":
            raise self.err(c, "collection item definitions are not supported")
        tr = c.find("typeRef")
        if tr is None:
            raise self.err(c, "item definition needs a <typeRef> with a base type")
        return ItemDefinition(name=self.req(c, "name"), type_ref=normalise_type(tr.text) or "Any",
                              allowed_values=self.text_of(c.find("allowedValues")), id=c.attrib.get("id"),
                              line=c.line)

    def decision(self, c: XNode) -> Decision:
        did, name = self.req(c, "id"), self.req(c, "name")
        var = c.find("variable")
        desc = c.find("description")
        req_d, req_i = [], []
        logic = None
        for k in c.children:
            if k.tag == "informationRequirement":
                for r in k.children:
                    if r.tag == "requiredDecision":
                        req_d.append(self.href(r))
                    elif r.tag == "requiredInput":
                        req_i.append(self.href(r))
            elif k.tag == "knowledgeRequirement":
                raise self.err(k, "business knowledge models (knowledgeRequirement) are not supported")
            elif k.tag == "decisionTable":
                logic = self.table(k)
            elif k.tag == "literalExpression":
                logic = LiteralExpression(id=k.attrib.get("id") or f"{did}_expression",
                                          text=(k.find("text").text.strip() if k.find("text") is not None
                                                else ""),
                                          type_ref=normalise_type(k.attrib.get("typeRef")), line=k.line)
            elif k.tag in ("context", "invocation", "relation", "list", "functionDefinition", "conditional",
                           "filter", "for", "every", "some"):
                raise self.err(k, f"decision logic {k.tag!r} is not supported (use a decision table or a "
                                  "literal expression)")
        if logic is None:
            raise self.err(c, f"decision {name!r} has no decision table or literal expression")
        return Decision(id=did, name=name, logic=logic,
                        type_ref=normalise_type(var.attrib.get("typeRef")) if var is not None else None,
                        label=c.attrib.get("label"), description=desc.text.strip() if desc is not None else None,
                        required_decisions=req_d, required_inputs=req_i, line=c.line)

    def table(self, t: XNode) -> DecisionTable:
        tid = t.attrib.get("id") or "decisionTable"
        hp = t.attrib.get("hitPolicy", "UNIQUE")
        if hp not in HIT_POLICIES:
            raise self.err(t, f"unknown hitPolicy {hp!r} (one of {', '.join(HIT_POLICIES)})")
        agg = t.attrib.get("aggregation")
        if agg is not None and agg not in AGGREGATIONS:
            raise self.err(t, f"unknown aggregation {agg!r} (one of {', '.join(AGGREGATIONS)})")
        if agg is not None and hp != "COLLECT":
            raise self.err(t, f"aggregation {agg} is only allowed with hit policy COLLECT, not {hp}")
        inputs, outputs, annots, rules = [], [], [], []
        for k in t.children:
            if k.tag == "input":
                ie = k.find("inputExpression")
                if ie is None:
                    raise self.err(k, "input without <inputExpression>")
                expr = self.text_of(ie)
                if not expr:
                    raise self.err(ie, "input expression has no <text>")
                inputs.append(InputClause(id=k.attrib.get("id") or f"{tid}_input_{len(inputs) + 1}",
                                          expression=expr, type_ref=normalise_type(ie.attrib.get("typeRef")),
                                          label=k.attrib.get("label"),
                                          input_values=self.text_of(k.find("inputValues")), line=k.line))
            elif k.tag == "output":
                name = k.attrib.get("name")
                if not name:
                    if len(t.findall("output")) > 1:
                        raise self.err(k, "an output of a table with several outputs needs a 'name'")
                    name = ""
                outputs.append(OutputClause(id=k.attrib.get("id") or f"{tid}_output_{len(outputs) + 1}",
                                            name=name, type_ref=normalise_type(k.attrib.get("typeRef")),
                                            label=k.attrib.get("label"),
                                            output_values=self.text_of(k.find("outputValues")),
                                            default=self.text_of(k.find("defaultOutputEntry")), line=k.line))
            elif k.tag == "annotation":
                annots.append(k.attrib.get("name", ""))
            elif k.tag == "rule":
                ins = k.findall("inputEntry")
                outs = k.findall("outputEntry")
                ann = [self.text_of(a) or "" for a in k.findall("annotationEntry")]
                desc = k.find("description")
                rules.append(Rule(id=k.attrib.get("id") or f"{tid}_rule_{len(rules) + 1}",
                                  inputs=[self.text_of(e) or "" for e in ins],
                                  outputs=[self.text_of(e) or "" for e in outs],
                                  description=desc.text.strip() if desc is not None else None,
                                  annotations=ann, line=k.line, input_lines=[e.line for e in ins],
                                  output_lines=[e.line for e in outs]))
        if not outputs:
            raise self.err(t, "decision table has no <output>")
        for i, r in enumerate(rules, 1):
            node = t.findall("rule")[i - 1]
            if len(r.inputs) != len(inputs):
                raise self.err(node, f"rule {i} has {len(r.inputs)} input entries, the table has {len(inputs)} "
                                     "inputs")
            if len(r.outputs) != len(outputs):
                raise self.err(node, f"rule {i} has {len(r.outputs)} output entries, the table has "
                                     f"{len(outputs)} outputs")
            if r.annotations and len(r.annotations) != len(annots):
                raise self.err(node, f"rule {i} has {len(r.annotations)} annotation entries, the table has "
                                     f"{len(annots)} annotation columns")
            if not r.annotations and annots:
                r.annotations = [""] * len(annots)
        return DecisionTable(id=tid, inputs=inputs, outputs=outputs, rules=rules, hit_policy=hp, aggregation=agg,
                             annotations=annots, output_label=t.attrib.get("outputLabel"), line=t.line)


_XML_DECL = re.compile(rb"^\s*<\?xml")


def read_dmn(data: bytes | str, file: str | None = None) -> Definitions:
    """Read DMN XML text into :class:`Definitions` (raises ModelError with file and line)."""
    return _Reader(file).read(parse_xml(data, file))
