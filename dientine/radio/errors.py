"""The radio package's single rule for inputs outside a model's validity range.

Rule (documented once, applied everywhere in ``dientine.radio``):

* Any input outside the validity range that the cited table states (heights, carrier frequency, 2-D distance
  above the table's maximum, non-finite values) raises :class:`RadioValidityError` (a ``ValueError``) that names
  the parameter, the valid range, the first offending value and how many entries are out of range.
* The one documented exception is the *near-field floor*: a 2-D distance below the tables' 10 m lower bound is
  evaluated at 10 m (``d2D := max(d2D, 10 m)``), because every raster has pixels at the mast and REFERENCES.md
  §1.2 says "clamp or reject d2D < 10 m" (Sionna likewise enforces a minimum BS-UT distance).
* Unknown scenario, model or pattern names raise ``ValueError`` listing the valid names.

No function in the package returns NaN for out-of-range input.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

D2D_FLOOR_M = 10.0
"""Lower bound of d2D in TR 38.901 Table 7.4.1-1 (all scenarios); applied as a floor (see module rule)."""


class RadioValidityError(ValueError):
    """An input lies outside the validity range of the 3GPP model that would evaluate it."""


def require_range(name: str, values: object, lo: float | None, hi: float | None, context: str = "") -> None:
    """Raise :class:`RadioValidityError` unless every entry of ``values`` is finite and in ``[lo, hi]``."""
    a = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(a)
    if lo is not None:
        bad |= a < lo
    if hi is not None:
        bad |= a > hi
    if bad.any():
        first = a[bad].ravel()[0]
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        where = f" ({context})" if context else ""
        raise RadioValidityError(
            f"{name}: expected finite values in [{lo_s}, {hi_s}]{where}, found {first!r} "
            f"({int(bad.sum())} of {a.size} entries out of range)"
        )


def require_choice(name: str, value: str, choices: Iterable[str]) -> None:
    """Raise ``ValueError`` listing the valid names unless ``value`` is one of ``choices``."""
    options = tuple(choices)
    if value not in options:
        raise ValueError(f"{name}: unknown value {value!r}; valid names are {', '.join(options)}")
