"""dientine solvers: one module per optimisation problem, one ``solve()`` contract (see ``solvers.base``).

``solvers`` is a library of plain data in, plain data out: it imports nothing of ``dientine``, ``agents`` or
``decisions``. Each problem module registers itself with :func:`solvers.base.register` at import; this package
imports every problem module that is present, so ``solvers.solve(problem)`` and ``solvers.load_problem(json)``
work for all of them.
"""

from __future__ import annotations

import importlib

from solvers.base import (
    Problem,
    ProblemDataError,
    Solution,
    SolveStatus,
    load_problem,
    register,
    registered_kinds,
    solve,
)

__all__ = [
    "Problem",
    "ProblemDataError",
    "Solution",
    "SolveStatus",
    "load_problem",
    "register",
    "registered_kinds",
    "solve",
]

_PROBLEM_MODULES = ("rru_sleep", "tilt", "power", "spectrum")


def _import_problem_modules() -> None:
    """Import each problem module that exists and re-export its public names (``__all__``)."""
    for name in _PROBLEM_MODULES:
        try:
            module = importlib.import_module(f"solvers.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"solvers.{name}":  # the module exists but one of its imports is missing: say so
                raise
            continue
        for public in getattr(module, "__all__", ()):
            if public in globals() and globals()[public] is not getattr(module, public):
                raise ImportError(f"solvers.{name} exports {public!r}, already exported by another solver module")
            globals()[public] = getattr(module, public)
            if public not in __all__:
                __all__.append(public)


_import_problem_modules()
