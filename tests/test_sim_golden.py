"""Bit-identical simulation results: the KPI tables of bundled scenarios with a clock against digests recorded
before the tick's stages were rewritten for speed (issue 3: fused kernels, preallocated state, no per-tick dicts
must not change any number).

A digest is the SHA-256 of the KPI table as JSON (``to_pydict``; floats written with ``repr``, which round-trips
exactly). When a model changes on purpose, record the new digests and say so in the change:
``python -m tests.test_sim_golden --update``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from dientine.scenario import load_scenario
from dientine.sim import Simulation

ROOT = Path(__file__).resolve().parent.parent
DIGESTS = Path(__file__).resolve().parent / "data" / "sim_golden.json"
CASES = ("city_day.yaml", "regression/drone_intrusion.yaml", "regression/site_failure.yaml")


def run_case(name: str) -> Simulation:
    """Run a scenario to its end; the site-failure case also sends cell-state, tilt and power commands (sleep
    and wake transitions inside ticks, a new gain-cache column, a re-ranked top-K)."""
    sim = Simulation(load_scenario(ROOT / "scenarios" / name))
    if not name.endswith("site_failure.yaml"):
        return sim.run()
    for k in range(sim.n_ticks):
        if k == 3:
            for c in range(6):
                sim.set_cell_state(c, "deep_sleep")
            sim.set_cell_state(7, "light_sleep")
            sim.set_cell_state(8, "off")
        if k == 6:
            for c in range(6):
                sim.set_cell_state(c, "on")
        if k == 9:
            sim.set_tilt(10, 9.0)
            sim.set_tx_power(11, 40.0)
            sim.set_cell_state(8, "on")
        sim.step()
    return sim


def digest(pydict: dict) -> str:
    return hashlib.sha256(json.dumps(pydict, sort_keys=True).encode()).hexdigest()


def digests_of(sim: Simulation) -> dict[str, str]:
    return {"cell": digest(sim.kpis_cell.to_pydict()), "network": digest(sim.kpis_network.to_pydict())}


@pytest.mark.parametrize("name", CASES)
def test_kpi_tables_are_bit_identical_to_the_recorded_run(name):
    want = json.loads(DIGESTS.read_text())[name]
    assert digests_of(run_case(name)) == want


if __name__ == "__main__" and "--update" in sys.argv:
    DIGESTS.write_text(json.dumps({name: digests_of(run_case(name)) for name in CASES}, indent=1) + "\n")
