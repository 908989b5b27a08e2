"""dientine: a digital twin of a mobile radio network that decides.

Public names are resolved lazily (PEP 562) so that ``import dientine`` loads no engine module: ``agents`` imports
``dientine.radio``, and an eager import here would close the import arrows into a cycle (DESIGN.md).

>>> import dientine
>>> scenario = dientine.load_scenario("scenarios/city_coverage.yaml")  # doctest: +SKIP
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "load_scenario": ("dientine.scenario", "load_scenario"),
    "Scenario": ("dientine.scenario", "Scenario"),
    "Twin": ("dientine.twin", "Twin"),
    "Simulation": ("dientine.sim", "Simulation"),
    "simulate": ("dientine.sim", "run_simulation"),
    "run_scenario": ("dientine.runner", "run_scenario"),
    "sweep": ("dientine.whatif", "run_whatif"),
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module 'dientine' has no attribute {name!r}") from None
    value = getattr(import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_PUBLIC))
