"""One entry point that runs any scenario and returns its summary KPIs.

* no ``clock``: the coverage/SINR/rate study (:mod:`dientine.coverage`);
* a ``clock`` and no ``decisions``: the simulation over time (:mod:`dientine.sim`);
* a ``clock`` and ``decisions``: the simulation with the closed decision loop (:mod:`dientine.loop`).

The summary is a flat mapping of KPI name to number; its keys are what ``expect:`` bounds refer to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dientine.scenario import Scenario


def run_scenario(scenario: Scenario, out_dir: Path, *, progress: bool = False) -> dict[str, Any]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if scenario.clock is None:
        from dientine.coverage import run_coverage

        return run_coverage(scenario, out_dir, progress=progress)
    if scenario.decisions:
        from dientine.loop import run_closed_loop

        return run_closed_loop(scenario, out_dir, progress=progress)
    from dientine.sim import run_simulation

    return run_simulation(scenario, out_dir, progress=progress)
