"""The ``dientine`` command line (typer)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="dientine: a digital twin of a mobile radio network that decides.")
console = Console()
err_console = Console(stderr=True)


def _fail(message: str, code: int = 2) -> None:
    err_console.print("[red]error[/red]: ", end="")
    err_console.print(message, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _say(text: str) -> None:
    """Print user or data text verbatim (no rich markup: '[decision ...]' must survive)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def new_run_dir(root: Path, name: str) -> Path:
    """A fresh ``root/<name>-<UTC timestamp>[-n]`` directory."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = root / f"{name}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = Path(f"{base}-{n}")
    path.mkdir(parents=True)
    return path


def _kpi_table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("KPI")
    table.add_column("value", justify="right")
    for key, value in rows:
        table.add_row(key, value)
    return table


@app.command()
def run(
    scenario: Path = typer.Argument(..., help="scenario YAML file"),
    out: Path | None = typer.Option(None, help="with a store: also copy the finished run to OUT/<run-id>/; "
                                    "without --store: write the run to OUT/<name>-<stamp>/ only, not registered in "
                                    "any store (the behaviour before the store)"),
    store: Path | None = typer.Option(None, help="store directory (default $DIENTINE_STORE or ./dientine_store)"),
    seed: int | None = typer.Option(None, min=0, help="override the scenario's seed"),
) -> None:
    """Run a scenario (a coverage study without a clock, a simulation with one, the closed loop with decisions,
    baseline and variants with variants) and register it as a run in the store: files under
    STORE/runs/<run-id>/, a catalog row with scenario, seed, variant and summary KPIs, the loop's decisions and
    threshold changes. A run is registered only when complete: a failure leaves nothing behind."""
    import shutil

    try:
        if out is not None and store is None:
            _run(scenario, out, seed)
        else:
            _run_store(scenario, store, out, seed)
    except _RunFailed as failed:
        if failed.run_dir is not None and failed.run_dir.is_dir():
            shutil.rmtree(failed.run_dir, ignore_errors=True)  # no half-written run is left behind
        _fail(str(failed))


class _RunFailed(Exception):
    def __init__(self, message: str, run_dir: Path | None = None):
        super().__init__(message)
        self.run_dir = run_dir


def _load_for_run(scenario: Path, seed: int | None):
    from dientine.scenario import ScenarioError, load_scenario

    try:
        sc = load_scenario(scenario)
    except ScenarioError as exc:
        raise _RunFailed(f"{scenario} is not a valid scenario:\n{exc}") from None
    except OSError as exc:  # a directory, an unreadable file
        raise _RunFailed(f"{scenario}: cannot read the scenario file ({exc.strerror or exc})") from None
    if seed is not None:
        from typing import Annotated

        from pydantic import TypeAdapter, ValidationError

        try:  # the scenario's own bounds on its seed (model_copy does not validate)
            TypeAdapter(Annotated[int, *type(sc).model_fields["seed"].metadata]).validate_python(seed)
        except ValidationError as exc:
            raise _RunFailed(f"--seed {seed}: {exc.errors()[0]['msg']}") from None
        sc = sc.model_copy(update={"seed": seed})
    return sc


def _run(scenario: Path, out: Path, seed: int | None) -> None:
    sc = _load_for_run(scenario, seed)
    try:
        run_dir = new_run_dir(out, sc.name)
    except OSError as exc:
        raise _RunFailed(f"--out {out}: cannot create the run directory ({exc.strerror or exc})") from None
    try:
        _run_in(scenario, sc, run_dir)
    except (ValueError, OSError) as exc:  # model errors (events, layout, twin) name their field
        raise _RunFailed(f"{scenario}: {exc}", run_dir) from None
    console.print("(not registered in a store: --out without --store)")


def _run_store(scenario: Path, store: Path | None, out: Path | None, seed: int | None) -> None:
    from dientine.runner import check_store, copy_run, run_to_store, whatif_to_store
    from dientine.store import StoreBusyError, StoreError, resolve_root

    sc = _load_for_run(scenario, seed)
    root = resolve_root(store)
    if root.exists() and not root.is_dir():
        raise _RunFailed(f"--store {root}: is a file, not a store directory; give a directory (it is created if "
                         "missing)")
    if out is not None:
        _check_out_dir(out)  # before the run, not after minutes of simulation
    try:
        check_store(root)
    except StoreBusyError as exc:
        who = f"process {exc.pid}" if exc.pid is not None else "another process"
        raise _RunFailed(f"store {root} is in use by {who} (e.g. a `dientine serve` on it); a run registers itself in "
                         f"the store's catalog, so stop that process or give another --store") from None
    except OSError as exc:
        where = f" at {exc.filename}" if getattr(exc, "filename", None) else ""
        raise _RunFailed(f"--store {root}: cannot open the store{where} ({exc.strerror or exc})") from None
    except StoreError as exc:  # e.g. its catalog is not a DuckDB file
        raise _RunFailed(f"--store {root}: {exc}") from None
    try:
        if sc.variants:
            with console.status(f"running baseline and {len(sc.variants)} variant(s)"):
                stored, result = whatif_to_store(scenario, root=root)
            _print_whatif(sc, result)
            shown = f"runs {', '.join(stored.summary['runs'].values())} and comparison {stored.run_id}"
        else:
            stored = run_to_store(sc, root=root, progress=True)
            _print_summary(sc, stored.summary)
            shown = f"run {stored.run_id}"
    except (ValueError, OSError) as exc:  # model errors name their field; the store removed the partial run
        raise _RunFailed(f"{scenario}: {exc}") from None
    if stored.registered:
        console.print(f"{shown} registered in the store {root}")
    else:
        console.print(f"{shown} complete but not registered yet: the store {root} is in use by another process; "
                      f"it registers them when it next opens the store")
    console.print(f"results: [bold]{stored.path}[/bold]")
    if out is not None:
        try:
            console.print(f"copy: [bold]{copy_run(stored.path, out)}[/bold]")
        except OSError as exc:
            raise _RunFailed(f"--out {out}: the run is saved in the store at {stored.path}, but copying it failed "
                             f"({exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''})") from None


def _check_out_dir(out: Path) -> None:
    """``--out`` can receive a run: a directory (created if missing) this process may write to."""
    import os

    if out.exists() and not out.is_dir():
        raise _RunFailed(f"--out {out}: is a file, not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _RunFailed(f"--out {out}: cannot create the directory ({exc.strerror or exc})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise _RunFailed(f"--out {out}: the directory is not writable")


def _print_whatif(sc, result) -> None:
    table = Table(title=f"{sc.name}: what-if (variant - baseline)", header_style="bold")
    for column in ("variant", "KPI", "baseline", "variant value", "delta", "delta %"):
        table.add_column(column, justify="right" if column not in ("variant", "KPI") else "left")
    for row in result["rows"]:
        pct = "" if row["delta_pct"] is None else f"{row['delta_pct']:+.1f}"
        table.add_row(row["variant"], row["kpi"], f"{row['baseline']:.4g}", f"{row['value']:.4g}",
                      f"{row['delta']:+.4g}", pct)
    console.print(table)


def _print_summary(sc, summary) -> None:
    if sc.clock is None:
        rows = [
            ("pixels", f"{summary['n_pixels']:,}"),
            ("cells (active)", f"{summary['n_cells']} ({summary['n_cells_active']})"),
            ("coverage (SINR ≥ −10 dB)", f"{summary['coverage_pct']:.2f} %"),
            ("SINR p5 / p50 / p95", f"{summary['sinr_p5_db']:.1f} / {summary['sinr_p50_db']:.1f} / "
                                    f"{summary['sinr_p95_db']:.1f} dB"),
            ("RSRP p5 / p50", f"{summary['rsrp_p5_dbm']:.1f} / {summary['rsrp_p50_dbm']:.1f} dBm"),
            ("rate p5 / median", f"{summary['rate_p5_mbps']:.1f} / {summary['rate_p50_mbps']:.1f} Mbps"),
        ]
        console.print(_kpi_table(f"{sc.name}: coverage study", rows))
    else:
        rows = [(k, f"{v:.4g}" if isinstance(v, float) else str(v)) for k, v in summary.items()
                if isinstance(v, int | float | str)]
        console.print(_kpi_table(f"{sc.name}: simulation", rows))


def _run_in(scenario: Path, sc, run_dir: Path) -> None:
    from dientine.runner import run_scenario

    if sc.variants:
        from dientine.whatif import run_whatif

        with console.status(f"running baseline and {len(sc.variants)} variant(s)"):
            result = run_whatif(scenario, run_dir)
        _print_whatif(sc, result)
        console.print(f"results: [bold]{run_dir}[/bold]")
        return
    summary = run_scenario(sc, run_dir, progress=True)
    _print_summary(sc, summary)
    console.print(f"results: [bold]{run_dir}[/bold]")


def _looks_like_scenario(path: Path) -> bool:
    try:
        from decisions.yaml_form import safe_load_no_alias

        data = safe_load_no_alias(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError, ValueError):
        return True  # let the scenario loader report the problem with its line
    return not isinstance(data, dict) or "network" in data or "area" in data


def _threshold_defaults() -> dict[str, float]:
    """Default values of the bundled tables' threshold inputs (``decisions/tables/thresholds.yaml``), so that
    validation can analyse columns that compare against thresholds."""
    import decisions

    data = yaml.safe_load((decisions.tables_dir() / "thresholds.yaml").read_text(encoding="utf-8")) or {}
    return {name: spec["default"] for name, spec in (data.get("thresholds") or {}).items()}


@app.command()
def validate(files: list[Path] = typer.Argument(..., help="scenario .yaml or decision table .dmn/.yaml files")) -> None:
    """Check scenario files and decision tables; report every problem with file, line and field."""
    from dientine.scenario import ScenarioError, load_scenario

    n_bad = 0
    for path in files:
        if path.suffix.lower() == ".dmn" or not _looks_like_scenario(path):
            import decisions

            findings = decisions.validate(path, assume=_threshold_defaults())
            errors = [f for f in findings if f.severity == "error"]
            for finding in findings:
                _say(str(finding))
            n_bad += bool(errors)
            if not findings:
                console.print(f"{path}: ok (decision model)")
            continue
        try:
            load_scenario(path)
            console.print(f"{path}: ok (scenario)")
        except ScenarioError as exc:
            n_bad += 1
            for problem in exc.problems:
                _say(str(problem))
    if n_bad:
        raise typer.Exit(1)


_EXAMPLES = ("rru_sleep", "tilt", "power", "spectrum")


def _example_problem(kind: str, seed: int):
    """A realistic problem of ``kind`` built from the default 57-cell scenario (``scenarios/city_coverage.yaml``)."""
    from dientine.scenario import REPO_ROOT, load_scenario

    net = load_scenario(REPO_ROOT / "scenarios" / "city_coverage.yaml").network
    radio = {"isd_m": net.layout.hex.isd_m, "fc_ghz": net.carrier.fc_ghz}
    if kind == "rru_sleep":
        from dientine.problems.rru_sleep import build_rru_sleep_problem

        return build_rru_sleep_problem(**radio, bandwidth_mhz=net.carrier.bandwidth_mhz,
                                       tx_power_dbm=net.tx_power_dbm, h_bs_m=net.bs_height_m,
                                       elec_tilt_deg=net.antenna.elec_tilt_or_default_deg,
                                       noise_figure_db=net.ue_noise_figure_db, seed=seed).problem
    if kind == "tilt":
        from dientine.problems.tilt import build_tilt_problem

        return build_tilt_problem(**radio, h_bs_m=net.bs_height_m, tx_power_dbm=net.tx_power_dbm,
                                  seed=seed).problem
    if kind == "power":
        from dientine.problems.power import build_power_problem

        return build_power_problem(**radio, seed=seed).problem
    from dientine.problems.spectrum import build_spectrum_problem

    return build_spectrum_problem(seed=seed).problem


@app.command()
def solve(
    problem_file: Path | None = typer.Argument(None, help="problem JSON (with a 'kind' field)"),
    example: str | None = typer.Option(None, help=f"write an example problem instead: one of {', '.join(_EXAMPLES)}"),
    out: Path | None = typer.Option(None, help="output file (default: PROBLEM.solution.json / KIND.problem.json)"),
    time_limit_s: float = typer.Option(60.0, help="solver time limit in seconds"),
    backend: str | None = typer.Option(None, help="solver backend (default: the problem's best)"),
    seed: int = typer.Option(0, help="seed of the example problem"),
) -> None:
    """Solve a planning problem (RRU sleep, tilt, power, spectrum) and write the solution JSON."""
    import json

    from pydantic import ValidationError

    import solvers

    if example is not None:
        if example not in _EXAMPLES:
            _fail(f"--example: expected one of {', '.join(_EXAMPLES)}, found {example!r}")
        problem = _example_problem(example, seed)
        target = out or Path(f"{example}.problem.json")
        target.write_text(problem.model_dump_json(), encoding="utf-8")
        console.print(f"example {example} problem: [bold]{target}[/bold]")
        return
    if problem_file is None:
        _fail("give a problem JSON file, or --example KIND")
    try:
        problem = solvers.load_problem(problem_file)
    except FileNotFoundError:
        _fail(f"{problem_file}: file not found")
    except json.JSONDecodeError as exc:
        _fail(f"{problem_file}:{exc.lineno}:{exc.colno}: malformed JSON: {exc.msg}")
    except ValidationError as exc:
        lines = [f"{problem_file} {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        _fail("invalid problem:\n" + "\n".join(lines))
    except (KeyError, ValueError) as exc:
        _fail(f"{problem_file}: {exc}")
    try:
        solution = solvers.solve(problem, time_limit_s=time_limit_s, backend=backend)
    except (ValidationError, ValueError) as exc:
        _fail(f"{problem_file}: {exc}")
    target = out or problem_file.with_suffix(".solution.json")
    target.write_text(solution.model_dump_json(), encoding="utf-8")
    gap = "-" if solution.gap is None else f"{100 * solution.gap:.3f} %"
    rows = [("kind", problem.kind), ("status", str(solution.status.value)), ("objective", _num(solution.objective)),
            ("best bound", _num(solution.best_bound)), ("gap", gap), ("wall time", f"{solution.wall_time_s:.2f} s"),
            ("backend / method", f"{solution.backend} / {solution.method}")]
    if solution.blocking_constraints:
        rows.append(("blocked by", ", ".join(solution.blocking_constraints)))
    if solution.message:
        rows.append(("message", solution.message))
    console.print(_kpi_table(f"solution of {problem_file.name}", rows))
    console.print(f"solution: [bold]{target}[/bold]")
    if solution.status.value in ("infeasible", "error", "time_limit"):
        raise typer.Exit(1)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _parse_value(text: str):
    """A command-line input value: number, true/false, null, or text (quotes optional)."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    try:
        return float(text) if any(ch in text for ch in ".eE") or low in ("nan", "inf", "-inf") else int(text)
    except ValueError:
        return text.strip().strip('"')


@app.command()
def decide(
    table: str = typer.Argument(..., help="a bundled table name (decisions/tables) or a .dmn/.yaml file"),
    set_: list[str] = typer.Option([], "--set", help="an input as NAME=VALUE (repeat)"),
    inputs: Path | None = typer.Option(None, help="a JSON object of inputs"),
    decision: str | None = typer.Option(None, help="which decision of the model (default: all, in order)"),
    explain: bool = typer.Option(False, help="also print the matched rules"),
) -> None:
    """Evaluate a decision table on given inputs; threshold inputs default to decisions/tables/thresholds.yaml."""
    import json

    import decisions

    path = Path(table)
    if not path.is_file():
        path = decisions.tables_dir() / f"{table}.dmn"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in decisions.tables_dir().glob("*.dmn")))
            _fail(f"TABLE: no file {table!r} and no bundled table of that name; bundled: {known}")
    values: dict = dict(_threshold_defaults())
    if inputs is not None:
        try:
            loaded = json.loads(inputs.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            _fail(f"--inputs {inputs}: {exc}")
        if not isinstance(loaded, dict):
            _fail(f"--inputs {inputs}: expected a JSON object of inputs")
        values.update(loaded)
    for item in set_:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            _fail(f"--set {item!r}: expected NAME=VALUE")
        values[name.strip()] = _parse_value(text)
    try:
        model = decisions.load(path)
        known = set(model.input_names(decision))
        unknown = sorted(set(values) - known - set(_threshold_defaults()))
        if unknown:
            _fail(f"inputs {unknown} are not read by {path.name}; it reads {sorted(known)}")
        used = {k: v for k, v in values.items() if k in known}
        result = model.explain(used, decision) if explain else None
        outputs = result.results if result is not None else model.evaluate(used, decision)
    except decisions.DecisionError as exc:
        _fail(str(exc))
    _say(json.dumps(outputs, default=str, indent=2))
    if result is not None:
        for name, trace in result.traces.items():
            matched = ", ".join(str(hit.number) for hit in trace.matched) or "none"
            _say(f"{name}: rules matched {matched}")
            for hit in trace.selected:
                notes = "; ".join(f"{k}: {v}" for k, v in hit.annotations.items())
                _say(f"  selected rule {hit.number} ({hit.id}){': ' + notes if notes else ''}")
            for error in trace.errors:
                _say(f"  error: {error}")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port"),
    store: Path | None = typer.Option(None, help="store directory (default $DIENTINE_STORE or ./dientine_store)"),
    job_workers: int = typer.Option(1, help="background what-if job workers"),
) -> None:
    """Start the decision API (FastAPI, OpenAPI at /v1/docs). Keys: see `dientine keys --help`."""
    from dientine.api import serve as serve_api
    from dientine.store import StoreBusyError, StoreError

    try:
        serve_api(host, port, None if store is None else str(store), job_workers=job_workers, log_level="info")
    except (StoreBusyError, StoreError) as exc:
        _fail(str(exc))
    except OSError as exc:  # the store directory is a file, cannot be created, ...
        _fail(f"cannot open the store{f' at {exc.filename}' if exc.filename else ''}: {exc.strerror or exc}")


keys_app = typer.Typer(help="API keys (stored hashed in the store's catalog).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    name: str = typer.Argument(..., help="who or what uses the key"),
    scope: list[str] = typer.Option(..., help="read, decide, control or admin (repeat for several)"),
    store: Path | None = typer.Option(None, help="store directory (default $DIENTINE_STORE or ./dientine_store)"),
) -> None:
    """Create an API key and print it once (only its hash is stored). Stop the server first: the store's
    catalog admits one process at a time; while it runs, use POST /v1/keys."""
    from dientine.api.keys import create_key
    from dientine.store import Store

    if not name.strip():
        _fail("NAME: expected a non-empty name for the key")
    valid = ("read", "decide", "control", "admin")
    unknown = [s for s in scope if s not in valid]
    if unknown or not scope:
        _fail(f"--scope: expected scopes among {list(valid)}, found {unknown or scope}")
    from dientine.store import StoreBusyError

    try:
        key, info = create_key(Store(None if store is None else str(store)), name, scope)
    except (ValueError, StoreBusyError) as exc:
        _fail(str(exc))
    console.print(f"key id {info.key_id} for {name!r}, scopes {', '.join(sorted(info.scopes))}:")
    console.print(key, highlight=False)


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="a run directory, or the id of a run in the store"),
    out: Path | None = typer.Option(None, help="where to write the HTML (default RUN/report.html)"),
    store: Path | None = typer.Option(None, help="store of a run id (default $DIENTINE_STORE or ./dientine_store)"),
) -> None:
    """Render an HTML report of a run: KPIs, maps, time series, decision timeline, threshold trajectories."""
    from dientine.report import render_report

    if not run_dir.is_dir() and len(run_dir.parts) == 1:  # a run id: its directory in the store
        from dientine.store import resolve_root

        root = resolve_root(store)
        candidate = root / "runs" / run_dir.name
        if candidate.is_dir():
            run_dir = candidate
        elif not run_dir.exists():
            where = (f"the store {root} does not exist" if not root.exists() else
                     f"--store {root} is a file, not a store directory" if not root.is_dir() else
                     f"the store {root} has no run {run_dir.name!r} (its runs are under {root / 'runs'})")
            _fail(f"{run_dir}: neither a run directory nor a run id: {where}")
    if out is not None and out.is_dir():
        _fail(f"--out {out}: is a directory; give the HTML file to write (e.g. {out / 'report.html'})")
    if out is not None and not out.parent.is_dir():
        _fail(f"--out {out}: {out.parent} is not an existing directory")
    try:
        path = render_report(run_dir, out)
    except ValueError as exc:
        _fail(str(exc))
    except OSError as exc:
        if out is not None and exc.filename is not None and Path(exc.filename) == out:
            _fail(f"--out {out}: cannot write the report ({exc.strerror or exc})")
        _fail(str(exc) if isinstance(exc, FileNotFoundError) and exc.strerror is None else
              f"{exc.filename or run_dir}: {exc.strerror or exc}")
    console.print(f"report: [bold]{path}[/bold]")


@app.command("test")
def regression_test(
    path: Path = typer.Argument(Path("scenarios/regression"), help="a regression scenario or a directory of them"),
) -> None:
    """Run scenario regression tests (files with ``expect:`` bounds); exit 1 listing every violated bound."""
    from dientine.regression import collect, run_regression
    from dientine.scenario import ScenarioError

    if not path.exists():
        _fail(f"{path}: path not found")
    files = collect(path)
    if not files:
        _fail(f"{path}: no regression scenario files (*.yaml) found")
    table = Table(title="scenario regression", header_style="bold")
    for column in ("scenario", "bounds", "violated", "result"):
        table.add_column(column)
    failures: list[str] = []
    for file in files:
        try:
            result = run_regression(file, progress=False)
        except (ScenarioError, ValueError) as exc:
            failures.append(f"{file}: cannot run: {exc}")
            table.add_row(str(file), "-", "-", "[red]error[/red]")
            continue
        table.add_row(str(file), str(len(result.checked)), str(len(result.violations)),
                      "[green]pass[/green]" if result.passed else "[red]FAIL[/red]")
        if not result.passed:
            failures.append(result.report())
    console.print(table)
    for failure in failures:
        console.print(failure, highlight=False, soft_wrap=True)
    if failures:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

