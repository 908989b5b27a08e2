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
    err_console.print(f"[red]error[/red]: {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


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
    out: Path = typer.Option(Path("runs"), help="directory that receives runs/<run-id>/"),
    seed: int | None = typer.Option(None, help="override the scenario's seed"),
) -> None:
    """Run a scenario: a coverage/SINR/rate study (no clock) or a simulation over time (with a clock)."""
    from dientine.scenario import ScenarioError, load_scenario

    try:
        sc = load_scenario(scenario)
    except ScenarioError as exc:
        _fail(f"{scenario} is not a valid scenario:\n{exc}")
    if seed is not None:
        sc = sc.model_copy(update={"seed": seed})
    from dientine.runner import run_scenario

    run_dir = new_run_dir(out, sc.name)
    if sc.variants:
        from dientine.whatif import run_whatif

        with console.status(f"running baseline and {len(sc.variants)} variant(s)"):
            result = run_whatif(scenario, run_dir)
        table = Table(title=f"{sc.name}: what-if (variant - baseline)", header_style="bold")
        for column in ("variant", "KPI", "baseline", "variant value", "delta", "delta %"):
            table.add_column(column, justify="right" if column not in ("variant", "KPI") else "left")
        for row in result["rows"]:
            pct = "" if row["delta_pct"] is None else f"{row['delta_pct']:+.1f}"
            table.add_row(row["variant"], row["kpi"], f"{row['baseline']:.4g}", f"{row['value']:.4g}",
                          f"{row['delta']:+.4g}", pct)
        console.print(table)
        console.print(f"results: [bold]{run_dir}[/bold]")
        return
    summary = run_scenario(sc, run_dir, progress=True)
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
    console.print(f"results: [bold]{run_dir}[/bold]")


def _looks_like_scenario(path: Path) -> bool:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return True  # let the scenario loader report the problem with its line
    return not isinstance(data, dict) or "network" in data or "area" in data


@app.command()
def validate(files: list[Path] = typer.Argument(..., help="scenario .yaml or decision table .dmn/.yaml files")) -> None:
    """Check scenario files and decision tables; report every problem with file, line and field."""
    from dientine.scenario import ScenarioError, load_scenario

    n_bad = 0
    for path in files:
        if path.suffix.lower() == ".dmn" or not _looks_like_scenario(path):
            import decisions

            findings = decisions.validate(path)
            errors = [f for f in findings if str(getattr(f, "severity", "error")).lower().endswith("error")]
            for finding in findings:
                console.print(str(finding), highlight=False, soft_wrap=True)
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
                console.print(str(problem), highlight=False, soft_wrap=True)
    if n_bad:
        raise typer.Exit(1)


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="a run directory under runs/"),
    out: Path | None = typer.Option(None, help="where to write the HTML (default RUN/report.html)"),
) -> None:
    """Render an HTML report of a run: KPIs, maps, time series, decision timeline, threshold trajectories."""
    from dientine.report import render_report

    try:
        path = render_report(run_dir, out)
    except FileNotFoundError as exc:
        _fail(str(exc))
    console.print(f"report: [bold]{path}[/bold]")


@app.command("test")
def regression_test(
    path: Path = typer.Argument(Path("scenarios/regression"), help="a regression scenario or a directory of them"),
) -> None:
    """Run scenario regression tests (files with ``expect:`` bounds); exit 1 listing every violated bound."""
    from dientine.regression import collect, run_regression
    from dientine.scenario import ScenarioError

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

