"""What-if runs: a scenario's baseline and its named ``variants`` with the same seeds, and their comparison.

Each run writes its own directory ``out/<name>/`` (in a worker process); the coordinating process then writes
``out/comparison.json`` (KPI, baseline, variant, delta, relative delta) and ``out/summary.json``. Runs go to any
``concurrent.futures.Executor``: a local process pool by default (one Numba thread per worker, DESIGN.md), or e.g.
``distributed.Client(...).get_executor()`` on a Dask cluster.

The local pool starts its workers with the ``spawn`` method: the coordinating process may already run Numba's
thread pool (a scenario was loaded, a twin built), and a forked child inherits a started thread layer, so the
worker's ``NUMBA_NUM_THREADS`` can no longer be set ("Cannot set NUMBA_NUM_THREADS ..."); a spawned worker is a
fresh interpreter that sets it before Numba starts.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from dientine.scenario import Scenario, load_variants


def _worker_init() -> None:
    os.environ["NUMBA_NUM_THREADS"] = "1"
    try:
        import numba

        numba.set_num_threads(1)
    except (ImportError, ValueError):  # pragma: no cover - numba is a dependency; thread layer may refuse
        pass


def _run_one(scenario_json: str, out_dir: str) -> dict[str, Any]:
    from dientine.runner import run_scenario

    scenario = Scenario.model_validate_json(scenario_json)
    summary = run_scenario(scenario, Path(out_dir), progress=False)
    Path(out_dir, "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    return summary


def compare(baseline: dict[str, Any], variants: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (variant, numeric KPI): baseline value, variant value, delta, relative delta (%)."""
    rows = []
    for name, summary in variants.items():
        for kpi, base in baseline.items():
            value = summary.get(kpi)
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (base, value)):
                continue
            delta = value - base
            rel = 100.0 * delta / abs(base) if base not in (0, 0.0) and math.isfinite(base) else None
            rows.append({"variant": name, "kpi": kpi, "baseline": base, "value": value, "delta": delta,
                         "delta_pct": rel})
    return rows


def run_whatif(path: str | Path, out_dir: str | Path, *, executor: Executor | None = None,
               max_workers: int | None = None) -> dict[str, Any]:
    """Run the baseline and every variant of the scenario file ``path``; return the comparison."""
    scenarios = load_variants(path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    own = executor is None
    if own:
        workers = max_workers or min(len(scenarios), os.cpu_count() or 1)
        executor = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init,
                                       mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = {name: executor.submit(_run_one, sc.model_dump_json(by_alias=True), str(out_dir / name))
                   for name, sc in scenarios.items()}
        summaries = {name: future.result() for name, future in futures.items()}
    finally:
        if own:
            executor.shutdown()
    baseline = summaries.pop("baseline")
    rows = compare(baseline, summaries)
    result = {"scenario": scenarios["baseline"].name, "seed": scenarios["baseline"].seed,
              "variants": sorted(summaries), "rows": rows}
    (out_dir / "comparison.json").write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    (out_dir / "summary.json").write_text(json.dumps(baseline, indent=2, default=str) + "\n", encoding="utf-8")
    return result
