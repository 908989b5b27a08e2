"""The DMN model as plain dataclasses (what readers produce and writers consume).

Entries (unary tests, literal expressions) are kept as FEEL *text*; :mod:`decisions.engine` compiles them.
Equality ignores source locations (``line``), so a model read from XML, from YAML or written and read back
compares equal when it says the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HIT_POLICIES = ("UNIQUE", "ANY", "PRIORITY", "FIRST", "RULE ORDER", "OUTPUT ORDER", "COLLECT")
SINGLE_HIT = ("UNIQUE", "ANY", "PRIORITY", "FIRST")
AGGREGATIONS = ("SUM", "MIN", "MAX", "COUNT")
#: FEEL base types (DMN 1.3 §7.3.2 / §10.3.2.9) supported for typeRef and item definitions.
BASE_TYPES = ("number", "string", "boolean", "date", "time", "date and time", "days and time duration", "Any")


@dataclass
class ItemDefinition:
    name: str
    type_ref: str
    allowed_values: str | None = None
    id: str | None = None
    line: int | None = field(default=None, compare=False, repr=False)


@dataclass
class InputData:
    id: str
    name: str
    type_ref: str | None = None
    label: str | None = None
    line: int | None = field(default=None, compare=False, repr=False)


@dataclass
class InputClause:
    id: str
    expression: str
    type_ref: str | None = None
    label: str | None = None
    input_values: str | None = None
    line: int | None = field(default=None, compare=False, repr=False)

    @property
    def title(self) -> str:
        return self.label or self.expression


@dataclass
class OutputClause:
    id: str
    name: str
    type_ref: str | None = None
    label: str | None = None
    output_values: str | None = None
    default: str | None = None
    line: int | None = field(default=None, compare=False, repr=False)


@dataclass
class Rule:
    id: str
    inputs: list[str]
    outputs: list[str]
    description: str | None = None
    annotations: list[str] = field(default_factory=list)
    line: int | None = field(default=None, compare=False, repr=False)
    input_lines: list[int | None] = field(default_factory=list, compare=False, repr=False)
    output_lines: list[int | None] = field(default_factory=list, compare=False, repr=False)


@dataclass
class DecisionTable:
    id: str
    inputs: list[InputClause]
    outputs: list[OutputClause]
    rules: list[Rule]
    hit_policy: str = "UNIQUE"
    aggregation: str | None = None
    annotations: list[str] = field(default_factory=list)
    output_label: str | None = None
    line: int | None = field(default=None, compare=False, repr=False)


@dataclass
class LiteralExpression:
    id: str
    text: str
    type_ref: str | None = None
    line: int | None = field(default=None, compare=False, repr=False)


@dataclass
class Decision:
    id: str
    name: str
    logic: DecisionTable | LiteralExpression
    type_ref: str | None = None
    label: str | None = None
    description: str | None = None
    required_decisions: list[str] = field(default_factory=list)  # ids
    required_inputs: list[str] = field(default_factory=list)  # ids
    line: int | None = field(default=None, compare=False, repr=False)


@dataclass
class Definitions:
    id: str
    name: str
    namespace: str
    decisions: list[Decision] = field(default_factory=list)
    input_data: list[InputData] = field(default_factory=list)
    item_definitions: list[ItemDefinition] = field(default_factory=list)
    file: str | None = field(default=None, compare=False, repr=False)
