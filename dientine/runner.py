"""One entry point that runs any scenario and returns its summary KPIs, and the runs of the store.

* no ``clock``: the coverage/SINR/rate study (:mod:`dientine.coverage`);
* a ``clock`` and no ``decisions``: the simulation over time (:mod:`dientine.sim`);
* a ``clock`` and ``decisions``: the simulation with the closed decision loop (:mod:`dientine.loop`).

The summary is a flat mapping of KPI name to number; its keys are what ``expect:`` bounds refer to.

Store runs (DESIGN.md, "Store"; :mod:`dientine.store`): :func:`run_to_store` writes a run's files into a temporary
directory of the store (:func:`dientine.store.stage_run`), publishes it with an atomic rename when complete and
then registers it in the catalog with its scenario name, seed, variant and summary KPIs, its closed loop's
decisions and its threshold trajectory (:meth:`dientine.store.Store.register_run`, one transaction). A run that
fails or is killed midway leaves no run directory and no catalog row. :func:`whatif_to_store` does the same for a
scenario's baseline and variants: one store run per variant (``variant`` = ``baseline`` or the variant's name,
the variant's overrides in the ``variants`` table) and one for the comparison (``variant`` = ``comparison``).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
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


# ----------------------------------------------------------------------------------------------- store runs
@dataclass
class StoredRun:
    """A run registered in the store: its id, its directory in the store and its summary KPIs."""

    run_id: str
    path: Path
    summary: dict[str, Any]
    registered: bool = True


def new_run_id(name: str) -> str:
    """``<name>-<UTC timestamp>-<4 hex>``, the name reduced to the store's name characters."""
    safe = re.sub(r"[^A-Za-z0-9_.\-]", "_", name).lstrip("_.-")[:80] or "run"
    return f"{safe}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"


def summary_kpis(summary: dict[str, Any]) -> dict[str, Any]:
    """The scalar KPIs of a summary (numbers, text, booleans; non-finite numbers as null) for the catalog."""
    out: dict[str, Any] = {}
    for k, v in summary.items():
        if hasattr(v, "item") and not isinstance(v, str | bytes):
            try:
                v = v.item()  # NumPy scalar
            except (ValueError, AttributeError):
                continue
        if isinstance(v, bool | str) or v is None:
            out[k] = v
        elif isinstance(v, int | float):
            out[k] = v if math.isfinite(v) else None
    return out


def check_store(root: str | os.PathLike[str] | None) -> None:
    """Open the catalog once (raises :class:`dientine.store.StoreBusyError` when another process holds it)."""
    from dientine.store import Store

    Store(root).close()


def _register(root: str | os.PathLike[str] | None, run_ids: list[str],
              variants: list[tuple[str, str, str, dict[str, Any]]] = ()) -> bool:
    """Register complete runs (and their variant rows); False when the catalog is held by another process (the
    runs are then registered by the next :meth:`Store.recover_runs`, e.g. when ``dientine serve`` starts)."""
    from dientine.store import Store, StoreBusyError

    try:
        store = Store(root)
    except StoreBusyError:
        return False
    import duckdb

    from dientine.store import StoreError

    with store:
        try:
            for variant in variants:
                store.add_variant(*variant)
            for run_id in run_ids:
                store.register_run(run_id)
        except duckdb.Error as exc:  # a value the catalog cannot hold: the files stay, complete, under runs/
            raise StoreError(f"runs {', '.join(run_ids)} are complete under {store.runs_dir} but the catalog "
                             f"refused them: {exc}") from None
        store.recover_runs()
    return True


def run_to_store(scenario: Scenario, *, root: str | os.PathLike[str] | None = None, variant: str = "",
                 progress: bool = False, run_id: str | None = None) -> StoredRun:
    """Run ``scenario`` as a store run (see the module docstring); ``root`` as :func:`dientine.store.resolve_root`."""
    from dientine.store import stage_run

    run_id = run_id or new_run_id(scenario.name)
    with stage_run(root, run_id) as run:
        summary = run_scenario(scenario, run.path, progress=progress)
        run.scenario, run.seed, run.variant = scenario.name, int(scenario.seed), variant
        run.summary = summary_kpis(summary)
    registered = _register(root, [run_id])
    return StoredRun(run_id, run.path, summary, registered)


def whatif_to_store(path: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None,
                    max_workers: int | None = None, executor: Executor | None = None
                    ) -> tuple[StoredRun, dict[str, Any]]:
    """Run a scenario file's baseline and variants (:func:`dientine.whatif.run_whatif`, on ``executor`` or its own
    process pool) as store runs; returns the comparison run (its summary lists the variant runs) and the
    comparison."""
    from dientine.scenario import load_scenario
    from dientine.store import stage_run
    from dientine.whatif import run_whatif

    base = load_scenario(path)
    group = new_run_id(base.name)
    with stage_run(root, group) as comparison:
        result = run_whatif(path, comparison.path, executor=executor, max_workers=max_workers)
        runs = stage_whatif_runs(root, group, comparison.path, base, result["variants"], move=True)
        comparison.scenario, comparison.seed, comparison.variant = base.name, int(base.seed), "comparison"
        comparison.summary = {"runs": runs, "variants": result["variants"]}
    registered = _register(root, [*runs.values(), group], whatif_variant_rows(base, runs))
    return StoredRun(group, comparison.path, comparison.summary, registered), result


def stage_whatif_runs(root: str | os.PathLike[str] | None, group: str, whatif_dir: Path, base: Scenario,
                      variants: list[str], *, move: bool) -> dict[str, str]:
    """Publish each ``whatif_dir/<variant>/`` written by :func:`dientine.whatif.run_whatif` (baseline first) as the
    store run ``<group>.<variant>`` (files moved, or hard-linked/copied when ``move`` is false); returns variant →
    run id. Files only: the caller registers the runs."""
    from dientine.store import stage_run

    runs: dict[str, str] = {}
    for name in ["baseline", *variants]:
        src = Path(whatif_dir) / name
        summary = json.loads((src / "summary.json").read_text(encoding="utf-8"))
        summary = summary["summary"] if isinstance(summary.get("summary"), dict) else summary
        seed = int(base.variants.get(name, {}).get("seed", base.seed)) if name != "baseline" else int(base.seed)
        with stage_run(root, f"{group}.{name}") as run:
            for item in src.iterdir():
                if move:
                    shutil.move(str(item), run.path / item.name)
                elif item.is_dir():
                    shutil.copytree(item, run.path / item.name, copy_function=_link_or_copy)
                else:
                    _link_or_copy(item, run.path / item.name)
            run.scenario, run.seed, run.variant, run.summary = base.name, seed, name, summary_kpis(summary)
        if move:
            src.rmdir()
        runs[name] = f"{group}.{name}"
    return runs


def whatif_variant_rows(base: Scenario, runs: dict[str, str]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """``variants`` table rows (variant id = run id, scenario, name, overrides) of a what-if's runs."""
    return [(run_id, base.name, name, dict(base.variants.get(name, {}))) for name, run_id in runs.items()]


def _link_or_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Hard link (same file system, no copy) or else copy a file: run files are never modified in place."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def copy_run(run_dir: Path, out: Path) -> Path:
    """Copy a finished run directory to ``out/<run dir name>`` (``dientine run --out`` with a store)."""
    target = Path(out) / run_dir.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(run_dir, target)
    return target
