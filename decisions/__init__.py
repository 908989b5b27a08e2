"""DMN 1.3 decision-table engine: read/write DMN XML and a compact YAML form, evaluate with FEEL semantics
(row by row or vectorised over NumPy / Arrow columns), explain results, validate tables.

A library on its own: it imports nothing of ``dientine``, ``agents`` or ``solvers``.

>>> import decisions
>>> m = decisions.load("decisions/tables/energy_saving.dmn")          # doctest: +SKIP
>>> m.evaluate({"cell_load": 0.05, "hour": 3, ...}, "energy_saving")    # doctest: +SKIP
"""

from decisions.api import DecisionModel, load, loads
from decisions.engine import DecisionTrace, Explanation, RuleHit
from decisions.errors import (
    DecisionError,
    EvaluationError,
    FeelError,
    FeelSyntaxError,
    FeelUnsupportedError,
    ModelError,
)
from decisions.validate import Finding, validate

__all__ = ["DecisionModel", "load", "loads", "validate", "Finding", "Explanation", "DecisionTrace", "RuleHit",
           "DecisionError", "EvaluationError", "FeelError", "FeelSyntaxError", "FeelUnsupportedError",
           "ModelError", "tables_dir"]


def tables_dir():
    """Folder of the bundled policy tables (``decisions/tables``)."""
    from pathlib import Path

    return Path(__file__).parent / "tables"
