"""Scenario regression files under scenarios/regression: each passes its ``expect:`` bounds (what ``make test``
runs in CI), and a copy with an impossible bound fails with a message naming the KPI, its value and the bound,
through :func:`dientine.regression.run_regression` and through ``dientine test`` (non-zero exit)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dientine.regression import collect, run_regression

REGRESSION_DIR = Path(__file__).resolve().parent.parent / "scenarios" / "regression"
FILES = collect(REGRESSION_DIR)


def test_at_least_five_regression_scenarios():
    names = {p.stem for p in FILES}
    assert {"quiet_night", "stadium_crowd", "site_failure", "drone_intrusion", "incumbent_protection"} <= names


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_regression_scenario_passes(path):
    result = run_regression(path)
    assert result.passed, result.report()
    assert result.checked, "a regression scenario without bounds tests nothing"


def _impossible_copy(tmp_path: Path) -> Path:
    src = REGRESSION_DIR / "incumbent_protection.yaml"
    data = yaml.safe_load(src.read_text(encoding="utf-8"))
    data["expect"]["protection_checks"] = {"min": 1e6}  # the run has a handful of checks
    data["expect"]["energy_kwh"] = {"max": 0.0}
    out = tmp_path / "impossible.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return out


def test_impossible_bound_fails_with_a_useful_message(tmp_path):
    path = _impossible_copy(tmp_path)
    result = run_regression(path)
    assert not result.passed
    kpis = {v.kpi for v in result.violations}
    assert kpis == {"protection_checks", "energy_kwh"}
    report = result.report()
    checks = result.summary["protection_checks"]
    assert f"protection_checks: {checks:.6g} is below the minimum 1e+06" in report
    assert f"energy_kwh: {result.summary['energy_kwh']:.6g} is above the maximum 0" in report
    assert "2 of" in report and str(path) in report


def test_impossible_bound_fails_through_the_cli(tmp_path):
    from typer.testing import CliRunner

    from dientine.cli import app

    path = _impossible_copy(tmp_path)
    res = CliRunner().invoke(app, ["test", str(path)])
    assert res.exit_code != 0
    assert "protection_checks" in res.output and "energy_kwh" in res.output
