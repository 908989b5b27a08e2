"""Error classes of the DMN engine.

Every error says WHAT is wrong and WHERE: a FEEL text position (1-based column), a file and line, an element or
field path, a decision / rule / column.
"""

from __future__ import annotations


class DecisionError(ValueError):
    """Base class of every error raised by :mod:`decisions`."""


class FeelError(DecisionError):
    """A FEEL text that cannot be parsed or is not supported.

    ``position`` is the 1-based column in ``text`` where the problem starts.
    """

    def __init__(self, message: str, text: str = "", position: int | None = None) -> None:
        self.reason = message
        self.text = text
        self.position = position
        where = f" at column {position}" if position is not None else ""
        shown = f" in {text!r}" if text else ""
        super().__init__(f"{message}{where}{shown}")


class FeelSyntaxError(FeelError):
    """The FEEL text is not well formed."""


class FeelUnsupportedError(FeelError):
    """The FEEL text uses a construct this engine refuses (it is never evaluated wrongly)."""


class ModelError(DecisionError):
    """A DMN / YAML model is malformed or inconsistent.

    ``file``, ``line`` and ``element`` (an XML element name, shown as ``<element>``) or ``field`` (a YAML field
    path such as ``decisions[0].table.hit_policy``, shown as ``field decisions[0]...``) locate it when known.
    ``problems`` lists every problem found when several are reported at once (the YAML form reports them all);
    the error's own message, file, line and location are then those of the first, and ``str()`` lists them all,
    one per line.
    """

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 element: str | None = None, *, field: str | None = None,
                 problems: list[ModelError] | None = None) -> None:
        self.reason = message
        self.file = file
        self.line = line
        self.element = element
        self.field = field
        self.problems: list[ModelError] = list(problems) if problems else [self]
        super().__init__("\n".join(p.located() for p in self.problems) if problems else self.located())

    @property
    def where(self) -> str:
        """The element or field part of the location (empty when neither is known)."""
        if self.element:
            return f"<{self.element}>"
        if self.field:
            return f"field {self.field}"
        return ""

    def located(self) -> str:
        """``file:line: <element>: message`` or ``file:line: field a.b[0]: message`` (the parts that are known)."""
        loc = []
        if self.file:
            loc.append(f"{self.file}:{self.line}" if self.line else self.file)
        elif self.line:
            loc.append(f"line {self.line}")
        if self.where:
            loc.append(self.where)
        return "".join(f"{part}: " for part in loc) + self.reason

    @classmethod
    def collect(cls, problems: list[ModelError]) -> ModelError:
        """One error carrying every problem (the first one gives message, file, line and location)."""
        if len(problems) == 1:
            return problems[0]
        first = problems[0]
        return cls(first.reason, first.file, first.line, first.element, field=first.field, problems=problems)


class EvaluationError(DecisionError):
    """Raised only for misuse of the API (unknown decision, bad batch column); FEEL runtime problems give null."""
