"""Scenario regression tests: scenarios carrying ``expect:`` bounds on KPIs, run and checked.

Used by ``dientine test [PATH]`` and by the pytest plugin (:mod:`dientine.pytest_plugin`), so that
``pytest scenarios/regression`` runs every file as a test item.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dientine.scenario import Bound, Scenario, load_scenario


@dataclass(frozen=True)
class Violation:
    kpi: str
    message: str

    def __str__(self) -> str:
        return f"{self.kpi}: {self.message}"


@dataclass
class RegressionResult:
    path: Path
    summary: dict[str, Any]
    violations: list[Violation] = field(default_factory=list)
    checked: dict[str, Bound] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.violations

    def report(self) -> str:
        lines = [f"{self.path}: {len(self.violations)} of {len(self.checked)} bounds violated"]
        lines += [f"  - {v}" for v in self.violations]
        return "\n".join(lines)


def check_bounds(summary: dict[str, Any], expect: dict[str, Bound]) -> list[Violation]:
    """Every bound of ``expect`` checked against ``summary``; a KPI the run does not produce is a violation too."""
    out: list[Violation] = []
    for kpi, bound in expect.items():
        if kpi not in summary:
            known = ", ".join(sorted(k for k, v in summary.items() if isinstance(v, int | float)))
            out.append(Violation(kpi, f"the run produced no such KPI; available: {known}"))
            continue
        value = summary[kpi]
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(float(value)):
            out.append(Violation(kpi, f"expected a finite number, found {value!r}"))
            continue
        if bound.min is not None and value < bound.min:
            out.append(Violation(kpi, f"{value:.6g} is below the minimum {bound.min:g}"))
        if bound.max is not None and value > bound.max:
            out.append(Violation(kpi, f"{value:.6g} is above the maximum {bound.max:g}"))
    return out


def run_regression(path: str | Path, *, out_dir: Path | None = None, progress: bool = False) -> RegressionResult:
    """Run one regression scenario (it must carry ``expect:``) and check its bounds."""
    from dientine.runner import run_scenario

    path = Path(path)
    scenario: Scenario = load_scenario(path)
    if not scenario.expect:
        raise ValueError(f"{path}: a regression scenario needs an 'expect:' section with at least one bound")
    if out_dir is None:
        with tempfile.TemporaryDirectory(prefix="dientine-regression-") as tmp:
            summary = run_scenario(scenario, Path(tmp), progress=progress)
    else:
        summary = run_scenario(scenario, out_dir, progress=progress)
    return RegressionResult(path, summary, check_bounds(summary, scenario.expect), dict(scenario.expect))


def collect(path: str | Path) -> list[Path]:
    """Regression scenario files below ``path`` (a file or a directory)."""
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*.yaml") if p.is_file())
