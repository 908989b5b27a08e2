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

    ``file``, ``line`` and ``element`` (XML element or YAML field path) locate it when known.
    """

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 element: str | None = None) -> None:
        self.reason = message
        self.file = file
        self.line = line
        self.element = element
        loc = []
        if file:
            loc.append(f"{file}:{line}" if line else file)
        elif line:
            loc.append(f"line {line}")
        if element:
            loc.append(f"<{element}>" if not element.startswith("$") else element)
        prefix = (" ".join(loc) + ": ") if loc else ""
        super().__init__(prefix + message)


class EvaluationError(DecisionError):
    """Raised only for misuse of the API (unknown decision, bad batch column); FEEL runtime problems give null."""
