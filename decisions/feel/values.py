"""FEEL values in Python.

Mapping (DMN 1.3 §10.3.2, FEEL semantic domain):

* null -> ``None``
* number -> :class:`decimal.Decimal` computed in a 34-digit, ROUND_HALF_EVEN context (the precision of IEEE 754-2008
  Decimal128, which FEEL prescribes for numbers).
* string -> ``str``; boolean -> ``bool``
* date -> ``datetime.date``; time -> ``datetime.time``; date and time -> ``datetime.datetime``
* days and time duration -> ``datetime.timedelta``
* list -> ``list``; context -> ``dict``; range -> :class:`Range`

Python inputs are normalised by :func:`to_feel`: ``int`` exactly; ``float`` through its shortest round-trip decimal
text (``repr``), so ``0.1`` is the FEEL number 0.1; NaN and infinities (not FEEL numbers) become null.
"""

from __future__ import annotations

import datetime as _dt
import decimal
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

#: FEEL number context: 34 significant digits, half-even rounding (IEEE 754-2008 Decimal128).
CTX = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN, Emax=6144, Emin=-6143,
                      traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])

date = _dt.date
time = _dt.time
datetime = _dt.datetime
timedelta = _dt.timedelta


@dataclass(frozen=True)
class Range:
    """A FEEL range (interval); ``None`` end = unbounded (only from ``< x`` style tests)."""

    start: Any
    end: Any
    start_closed: bool
    end_closed: bool


def kind(v: Any) -> str:
    """FEEL kind name of a value (used for same-kind checks and messages)."""
    t = type(v)
    if v is None:
        return "null"
    if t is Decimal:
        return "number"
    if t is str:
        return "string"
    if t is bool:
        return "boolean"
    if t is _dt.datetime:
        return "date and time"
    if t is _dt.date:
        return "date"
    if t is _dt.time:
        return "time"
    if t is _dt.timedelta:
        return "days and time duration"
    if t is list:
        return "list"
    if t is dict:
        return "context"
    if t is Range:
        return "range"
    return "unknown"


_FLOAT_CACHE: dict[float, Decimal] = {}  # float -> FEEL number (repeated thresholds and KPI values)


def number(x: Any) -> Decimal | None:
    """Convert a Python/NumPy number to a FEEL number (None for NaN/inf)."""
    t = type(x)
    if t is Decimal:
        return x if x.is_finite() else None
    if t is int:
        return Decimal(x)
    if t is float:
        d = _FLOAT_CACHE.get(x) if x != 0.0 else None  # -0.0 == 0.0: keep their own texts
        if d is None:
            if x != x or x in (float("inf"), float("-inf")):
                return None
            d = Decimal(repr(x))
            if len(_FLOAT_CACHE) > 65_536:
                _FLOAT_CACHE.clear()
            _FLOAT_CACHE[x] = d
        return d
    if isinstance(x, np.integer):
        return Decimal(int(x))
    if isinstance(x, np.floating):
        return number(float(x))
    raise TypeError(f"not a number: {x!r}")


def to_feel(x: Any) -> Any:
    """Normalise a Python value into the FEEL domain (see module docstring)."""
    t = type(x)
    if x is None or t is str or t is bool or t is Decimal:
        if t is Decimal and not x.is_finite():
            return None
        return x
    if t is int or t is float:
        return number(x)
    if t is _dt.datetime or t is _dt.date or t is _dt.time or t is _dt.timedelta or t is Range:
        return x
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.integer | np.floating):
        return number(x)
    if isinstance(x, np.str_):
        return str(x)
    if isinstance(x, dict):
        return {str(k): to_feel(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [to_feel(v) for v in x]
    if isinstance(x, np.ndarray):
        return [to_feel(v) for v in x.tolist()]
    if isinstance(x, np.datetime64):
        return to_feel(x.astype("datetime64[us]").item())
    raise TypeError(f"value of type {type(x).__name__} has no FEEL equivalent: {x!r}")


def feel_text(v: Any) -> str:
    """Render a FEEL value as FEEL literal text (used by writers and messages)."""
    if v is None:
        return "null"
    t = type(v)
    if t is bool:
        return "true" if v else "false"
    if t is Decimal:
        s = format(v, "f") if -30 < v.adjusted() < 30 else str(v)
        return s
    if t is str:
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if t is _dt.datetime:
        return f'date and time("{v.isoformat()}")'
    if t is _dt.date:
        return f'date("{v.isoformat()}")'
    if t is _dt.time:
        return f'time("{v.isoformat()}")'
    if t is _dt.timedelta:
        return f'duration("{format_duration(v)}")'
    if t is list:
        return "[" + ", ".join(feel_text(x) for x in v) + "]"
    if t is dict:
        return "{" + ", ".join(f"{k}: {feel_text(x)}" for k, x in v.items()) + "}"
    return repr(v)


def format_duration(d: _dt.timedelta) -> str:
    """ISO 8601 days-and-time duration text (XML Schema xs:dayTimeDuration)."""
    total_us = d.days * 86_400_000_000 + d.seconds * 1_000_000 + d.microseconds
    sign = "-" if total_us < 0 else ""
    total_us = abs(total_us)
    days, rem = divmod(total_us, 86_400_000_000)
    hours, rem = divmod(rem, 3_600_000_000)
    minutes, rem = divmod(rem, 60_000_000)
    secs, us = divmod(rem, 1_000_000)
    out = sign + "P"
    if days:
        out += f"{days}D"
    if hours or minutes or secs or us or not days:
        out += "T"
        if hours:
            out += f"{hours}H"
        if minutes:
            out += f"{minutes}M"
        if secs or us or not (hours or minutes):
            out += f"{secs}.{us:06d}".rstrip("0").rstrip(".") + "S"
    return out
