"""The ``dientine`` command line as a user meets it (typer ``CliRunner``, in-process, no network).

Each bad input must end in a clean message naming what and where (file:line:col, field, row) with a non-zero
exit code, never a traceback. Tests marked ``xfail(strict=True)`` pin bugs found by QA
(``/work/notes/QA_FINDINGS.md``): they start failing (XPASS) once the bug is fixed, so the mark must go then.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import solvers
from dientine.cli import app

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()

# A 2-cell power LP whose optimum is known in closed form: both cells serve one receiver each with gain G, leak
# gain g to the other receiver, noise N and SINR target gamma (linear). By symmetry p G = gamma (p g + N), so
# p* = gamma N / (G - gamma g) per cell (Foschini-Miljanic; REFERENCES.md 6.3).
G, G_LEAK, NOISE_W, TARGET_DB = 1e-9, 1e-12, 1e-13, 10.0
POWER_PROBLEM = {
    "kind": "power", "gain": [[G, G_LEAK], [G_LEAK, G]], "serving_cell": [0, 1], "noise_w": [NOISE_W, NOISE_W],
    "sinr_target_db": [TARGET_DB, TARGET_DB], "p_max_w": [40.0, 40.0],
}

# A 3-cell, 1-point, 1-period sleep problem small enough to brute-force (all 7 non-empty on-sets).
RRU_PROBLEM = {
    "kind": "rru_sleep", "demand_mbps": [[50.0]], "spectral_efficiency_bps_hz": [[2.0], [1.0], [3.0]],
    "rsrp_dbm": [[-80.0], [-85.0], [-90.0]], "rsrp_floor_dbm": -110.0, "bandwidth_mhz": [20.0, 20.0, 20.0],
    "n_trx": [1.0, 1.0, 1.0], "p0_w": [130.0, 100.0, 150.0], "delta_p": [4.7, 4.7, 4.7],
    "p_max_w": [20.0, 20.0, 20.0], "p_sleep_w": [75.0, 75.0, 75.0],
}


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def squash(text: str) -> str:
    """Text without any whitespace: rich wraps long lines at the terminal width, anywhere."""
    return "".join(text.split())


def has(result, fragment: str) -> bool:
    return squash(fragment) in squash(result.output)


def assert_clean_failure(result, *fragments: str, code: int | None = None) -> None:
    """Non-zero exit, no Python exception escaped, and every fragment in the output."""
    assert result.exit_code != 0, result.output
    if code is not None:
        assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert has(result, fragment), result.output


def write_json(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def brute_force_sleep_energy_w(p: dict) -> float:
    """Minimum power over all on-sets of a one-point, one-period sleep problem: each active cell draws
    N_TRX (P0 + dp P_max rho), each sleeping one N_TRX P_sleep (EARTH, REFERENCES.md 3.1). For a fixed on-set the
    load term is linear in the Mbit/s a cell carries, so filling the cheapest W-per-Mbit/s cells first is exact."""
    demand = p["demand_mbps"][0][0]
    n = len(p["p0_w"])
    best = np.inf
    for on in itertools.product((False, True), repeat=n):
        cells = [i for i in range(n) if on[i]]
        cap = {i: p["bandwidth_mhz"][i] * p["spectral_efficiency_bps_hz"][i][0] for i in cells}
        if not cells or sum(cap.values()) < demand:
            continue
        power = sum(p["n_trx"][i] * (p["p0_w"][i] if on[i] else p["p_sleep_w"][i]) for i in range(n))
        per_mbps = {i: p["n_trx"][i] * p["delta_p"][i] * p["p_max_w"][i] / cap[i] for i in cells}
        left = demand
        for i in sorted(cells, key=per_mbps.__getitem__):
            carried = min(left, cap[i])
            power += per_mbps[i] * carried
            left -= carried
        best = min(best, power)
    return best


# -- solve --example -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("examples")
    paths = {}
    for kind in ("rru_sleep", "tilt", "power", "spectrum"):
        path = out / f"{kind}.problem.json"
        result = invoke("solve", "--example", kind, "--out", path)
        assert result.exit_code == 0, result.output
        assert has(result, str(path))
        paths[kind] = path
    return paths


def test_example_rru_sleep_is_the_57_cell_day(examples):
    problem = solvers.load_problem(examples["rru_sleep"])
    assert problem.kind == "rru_sleep"
    assert (problem.n_cells, problem.n_periods) == (57, 24)  # default scenario: 19 sites x 3 sectors, 24 h
    assert problem.n_points >= 1 and (problem.demand_mbps >= 0).all() and problem.demand_mbps.sum() > 0


def test_example_tilt_power_spectrum_load_back(examples):
    tilt = solvers.load_problem(examples["tilt"])
    assert tilt.kind == "tilt" and tilt.rx_power_mw.shape[0] == 57
    power = solvers.load_problem(examples["power"])
    assert power.kind == "power" and power.gain.shape[1] == 57
    spectrum = solvers.load_problem(examples["spectrum"])
    assert spectrum.kind == "spectrum"
    # a lossless round trip: problem -> JSON -> problem gives an equal problem
    assert solvers.load_problem(json.loads(spectrum.model_dump_json())) == spectrum
    assert solvers.load_problem(power.model_dump_json()) == power


def test_example_is_deterministic_in_its_seed(tmp_path):
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    for path, seed in ((a, 0), (b, 0), (c, 1)):
        assert invoke("solve", "--example", "spectrum", "--seed", seed, "--out", path).exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_unknown_example_kind_lists_the_kinds(tmp_path):
    result = invoke("solve", "--example", "sleep", "--out", tmp_path / "x.json")
    assert_clean_failure(result, "--example", "rru_sleep, tilt, power, spectrum", "'sleep'", code=2)
    assert not (tmp_path / "x.json").exists()


def test_solve_without_a_problem_says_what_to_give():
    assert_clean_failure(invoke("solve"), "give a problem JSON file, or --example KIND", code=2)


# -- solve a tiny problem --------------------------------------------------------------------------------------
def test_solve_tiny_power_lp_matches_the_closed_form(tmp_path):
    path = write_json(tmp_path / "power.json", POWER_PROBLEM)
    result = invoke("solve", path)
    assert result.exit_code == 0, result.output
    assert "optimal" in result.output and "power" in result.output
    target = tmp_path / "power.solution.json"
    assert target.is_file()
    solution = solvers.PowerSolution.model_validate_json(target.read_text())
    gamma = 10 ** (TARGET_DB / 10)
    p_star = gamma * NOISE_W / (G - gamma * G_LEAK)
    assert solution.status == solvers.SolveStatus.OPTIMAL
    np.testing.assert_allclose(solution.power_w, [p_star, p_star], rtol=1e-6)
    assert solution.objective == pytest.approx(2 * p_star, rel=1e-6)
    # the written solution round-trips: JSON -> model -> JSON -> model gives an equal model
    again = solvers.PowerSolution.model_validate_json(solution.model_dump_json())
    assert again == solution


def test_solve_tiny_rru_sleep_matches_brute_force(tmp_path):
    path = write_json(tmp_path / "sleep.json", RRU_PROBLEM)
    out = tmp_path / "custom_name.json"
    result = invoke("solve", path, "--out", out, "--time-limit-s", "10")
    assert result.exit_code == 0, result.output
    assert "optimal" in result.output and "rru_sleep" in result.output
    solution = solvers.RruSleepSolution.model_validate_json(out.read_text())
    assert solution.status == solvers.SolveStatus.OPTIMAL
    best_w = brute_force_sleep_energy_w(RRU_PROBLEM)
    assert best_w == pytest.approx(150 + 2 * 75 + 4.7 * 20 * 50 / 60)  # hand check: only cell 2 (60 Mbit/s) on
    assert solution.energy_wh == pytest.approx(best_w, rel=1e-6)  # 1 h period: Wh == W
    assert solution.on.tolist() == [[False], [False], [True]]
    assert solution.energy_saving_fraction == pytest.approx(1 - best_w / solution.energy_all_on_wh)
    assert solvers.RruSleepSolution.model_validate_json(solution.model_dump_json()) == solution


def test_infeasible_problem_exits_1_and_names_the_blocking_family(tmp_path):
    # 3 x 40 Mbit/s of capacity cannot carry 500 Mbit/s with no unserved budget
    data = {**RRU_PROBLEM, "demand_mbps": [[500.0]]}
    result = invoke("solve", write_json(tmp_path / "inf.json", data), "--time-limit-s", "10")
    assert result.exit_code == 1, result.output
    assert has(result, "infeasible") and has(result, "capacity")


# -- solve: bad problem files ------------------------------------------------------------------------------------
def test_malformed_json_names_line_and_column(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"kind": "power",\n "gain": [[1, 2],\n  [3 4]]}')
    assert_clean_failure(invoke("solve", path), f"{path}:3:6: malformed JSON", code=2)
    assert not (tmp_path / "bad.solution.json").exists()


@pytest.mark.parametrize(("change", "fragments"), [
    ({"colour": "red"}, ["colour", "Extra inputs are not permitted"]),
    ({"noise_w": "loud"}, ["noise_w", "expected an array of numbers"]),
    ({"serving_cell": [0, 5]}, ["serving_cell[1]", "expected a cell index 0..1"]),
    ({"gain": [[G, -1.0], [G_LEAK, G]]}, ["gain[0,1]", "expected >= 0.0"]),
    ({"sinr_target_db": [10.0]}, ["sinr_target_db", "expected shape (2,)"]),
    ({"gain": [[G, G_LEAK], [G_LEAK]]}, ["gain", "rectangular"]),
], ids=["unknown-key", "string", "index", "negative", "shape", "ragged"])
def test_schema_errors_name_the_field(tmp_path, change, fragments):
    path = write_json(tmp_path / "p.json", {**POWER_PROBLEM, **change})
    assert_clean_failure(invoke("solve", path), str(path), *fragments, code=2)


def test_nan_and_negative_demand_are_refused_with_the_index(tmp_path):
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(POWER_PROBLEM).replace(f'[{G}, {G_LEAK}]', f'[{G}, NaN]', 1))
    assert_clean_failure(invoke("solve", path), "gain[0,1]", "NaN", code=2)
    neg = write_json(tmp_path / "neg.json", {**RRU_PROBLEM, "demand_mbps": [[-5.0]]})
    assert_clean_failure(invoke("solve", neg), "demand_mbps[0,0]", "expected >= 0", "found -5.0", code=2)


@pytest.mark.parametrize(("text", "fragment"), [
    ('{"kind": "warp_drive"}', "no solver registered for 'warp_drive'"),
    ("[1, 2]", "expected a JSON object with a 'kind' field"),
    ('{"gain": []}', "expected a JSON object with a 'kind' field"),
])
def test_wrong_document_shapes(tmp_path, text, fragment):
    path = tmp_path / "p.json"
    path.write_text(text)
    assert_clean_failure(invoke("solve", path), fragment, code=2)


def test_missing_problem_file(tmp_path):
    assert_clean_failure(invoke("solve", tmp_path / "nope.json"), "nope.json: file not found", code=2)


def test_bad_time_limit_is_refused_before_solving(tmp_path):
    path = write_json(tmp_path / "p.json", POWER_PROBLEM)
    assert_clean_failure(invoke("solve", path, "--time-limit-s", "-1"), "time_limit_s", code=2)
    assert not (tmp_path / "p.solution.json").exists()


# -- validate ----------------------------------------------------------------------------------------------------
DMN = REPO / "decisions" / "tables" / "energy_saving.dmn"

TABLE_YAML = """\
name: tiny
input_data: [{name: load, type: number}]
decisions:
  - name: act
    requires: {inputs: [load]}
    table:
      hit_policy: UNIQUE
      inputs: [{expression: load, type: number, values: "[0..1]"}]
      outputs: [{name: action, type: string}]
      rules:
        - {when: ["< 0.2"], then: ['"sleep"']}
        - {when: [">= 0.2"], then: ['"keep"']}
"""


def test_validate_bundled_dmn_tables():
    tables = sorted((REPO / "decisions" / "tables").glob("*.dmn"))
    assert len(tables) >= 6
    result = invoke("validate", *tables)
    assert result.exit_code == 0, result.output
    assert squash(result.output).count("ok(decisionmodel)") == len(tables)


def test_validate_yaml_decision_table(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TABLE_YAML)
    result = invoke("validate", path)
    assert result.exit_code == 0, result.output
    assert has(result, "ok (decision model)")


@pytest.mark.parametrize(("mutate", "fragments"), [
    (lambda t: t[:3000], [":50: error", "malformed XML"]),
    (lambda t: t.replace('hitPolicy="FIRST"', 'hitPolicy="BOGUS"'), [":36: error", "unknown hitPolicy 'BOGUS'"]),
    (lambda t: t.replace("<text>cell_load</text>", "<text>cell_lod</text>", 1), [":47: error", "'cell_lod'"]),
    (lambda t: '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>' + t[t.index("<definitions"):],
     [":1: error", "DOCTYPE"]),
    (lambda t: "", [":1: error", "malformed XML"]),
], ids=["truncated", "hit-policy", "unknown-name", "doctype", "empty"])
def test_validate_broken_dmn_names_file_and_line(tmp_path, mutate, fragments):
    path = tmp_path / "broken.dmn"
    path.write_text(mutate(DMN.read_text(encoding="utf-8")), encoding="utf-8")
    result = invoke("validate", path)
    assert_clean_failure(result, f"{path}", *fragments, code=1)


def test_validate_feel_syntax_error_names_rule_input_and_column(tmp_path):
    path = tmp_path / "feel.yaml"
    path.write_text(TABLE_YAML.replace('"< 0.2"', '"< 0.2 +"'))
    assert_clean_failure(invoke("validate", path), f"{path}:11", "rule 1, input 1", "column 8", "'< 0.2 +'",
                         code=1)


def test_validate_finding_shows_decision_rule_and_column(tmp_path):
    path = tmp_path / "mismatch.yaml"
    path.write_text(TABLE_YAML.replace('["< 0.2"]', '[\'"abc"\']'))
    result = invoke("validate", path)
    assert_clean_failure(result, "type-mismatch", code=1)
    assert has(result, "[decision 'act', rule 1, column 'load']")


def test_validate_scenario_reports_every_problem_with_line_and_field(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: t\nseed: 1\narea: {width_m: 1000, height_m: 1000, resolution_m: 20}\nnetwork:\n"
        "  layout: {hex: {rings: 0, isd_m: 500, sectors: 3}}\n"
        '  carrier: {fc_ghz: "3.5GHz", bandwidth_mhz: -5}\n  colour: blue\n')
    result = invoke("validate", path)
    assert_clean_failure(result, f"{path}:6 network.carrier.fc_ghz: expected a number in (0.5, 100], found '3.5GHz'",
                         f"{path}:6 network.carrier.bandwidth_mhz", f"{path}:7 network.colour: unknown key", code=1)


def test_validate_several_files_fails_if_any_fails(tmp_path):
    good = tmp_path / "tiny.yaml"
    good.write_text(TABLE_YAML)
    bad = tmp_path / "bad.dmn"
    bad.write_text("not xml")
    result = invoke("validate", good, bad)
    assert_clean_failure(result, "ok (decision model)", f"{bad}:1: error", code=1)


SCENARIO = {
    "name": "qa-tiny", "seed": 3,
    "area": {"width_m": 600, "height_m": 600, "resolution_m": 50},
    "network": {"layout": {"sites": "sites.csv"}, "carrier": {"fc_ghz": 3.5, "bandwidth_mhz": 20}},
}


def write_sites_scenario(tmp_path: Path, csv_text: str) -> Path:
    (tmp_path / "sites.csv").write_text(csv_text)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    return path


BAD_SITES = "site,x_m,y_m,azimuth_deg\nA,0,0,0\nB,100,abc,120\n"


def test_validate_reads_the_sites_csv(tmp_path):
    path = write_sites_scenario(tmp_path, BAD_SITES)
    assert_clean_failure(invoke("validate", path), "sites.csv:3 y_m", code=1)


def test_run_with_a_bad_sites_row_fails_cleanly(tmp_path):
    path = write_sites_scenario(tmp_path, BAD_SITES)
    result = invoke("run", path, "--out", tmp_path / "runs")
    assert_clean_failure(result, "sites.csv:3 y_m: expected a number", code=2)


def test_run_with_a_negative_seed_fails_cleanly(tmp_path):
    path = write_sites_scenario(tmp_path, "site,x_m,y_m,azimuth_deg\nA,0,0,0\n")
    assert_clean_failure(invoke("run", path, "--out", tmp_path / "runs", "--seed", "-1"), "seed", code=2)


def clock_scenario(tmp_path: Path, **extra) -> Path:
    data = {**SCENARIO, "clock": {"duration": "30min", "tick": "15min"},
            "network": {**SCENARIO["network"], "layout": {"hex": {"rings": 0, "isd_m": 500, "sectors": 3}}},
            "population": [{"archetype": "pedestrian", "count": 5}], **extra}
    path = tmp_path / "clock.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


BAD_EVENT = {"events": [{"at": "00:15", "kind": "site_failure", "site": 50}]}  # the network has one site


def test_validate_checks_event_targets(tmp_path):
    assert_clean_failure(invoke("validate", clock_scenario(tmp_path, **BAD_EVENT)), "events[0].site", code=1)


def test_run_with_a_bad_event_fails_cleanly(tmp_path):
    result = invoke("run", clock_scenario(tmp_path, **BAD_EVENT), "--out", tmp_path / "runs")
    assert_clean_failure(result, "events[0].site: expected a site index in [0, 0], found 50", code=2)


def test_failed_run_leaves_no_empty_run_dir(tmp_path):
    path = write_sites_scenario(tmp_path, BAD_SITES)
    runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "runs")])
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_run_with_a_clock_prints_its_kpis(tmp_path):
    result = invoke("run", clock_scenario(tmp_path), "--out", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run / "summary.json").read_text())["summary"]
    assert has(result, "energy_kwh") and has(result, f"{summary['energy_kwh']:.4g}")


# -- runs in the store -------------------------------------------------------------------------------------------
def loop_scenario(tmp_path: Path) -> Path:
    from test_twin_telemetry import TINY

    path = tmp_path / "loop.yaml"
    path.write_text(yaml.safe_dump({**TINY, "clock": {**TINY["clock"], "duration": "1h"}}))
    return path


@pytest.fixture()
def in_tmp(tmp_path, monkeypatch) -> Path:
    """Run in an empty working directory with no DIENTINE_STORE set."""
    monkeypatch.delenv("DIENTINE_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_run_registers_a_store_run_in_the_working_directory(in_tmp):
    from dientine.store import Store

    result = invoke("run", loop_scenario(in_tmp), "--seed", "11")
    assert result.exit_code == 0, result.output
    with Store(in_tmp / "dientine_store") as store:
        (row,) = store.list_runs()
        assert row["scenario"] == "tiny-live" and row["seed"] == 11 and row["variant"] == ""
        assert has(result, f"run {row['run_id']} registered in the store {store.root}")
        run_dir = Path(row["path"])
        summary = json.loads((run_dir / "summary.json").read_text())["summary"]
        assert row["summary"]["energy_kwh"] == pytest.approx(summary["energy_kwh"])
        assert row["summary"]["n_decisions"] == summary["n_decisions"] > 0
        decisions = store.list_decisions(run_id=row["run_id"], limit=1000)
        assert len(decisions) == summary["n_decisions"] and {d["table"] for d in decisions} == {"energy_saving"}
        assert sum(bool(d["adopted"]) for d in decisions) == summary["n_actions_applied"]
        assert store.read_run_table(row["run_id"], "decisions").num_rows == len(decisions)
        traj = store.run_thresholds(row["run_id"])
        assert len(traj) == store.read_run_table(row["run_id"], "thresholds").num_rows > 0
    assert not list((in_tmp / "dientine_store" / "runs").glob(".tmp-*"))
    result = invoke("report", row["run_id"])  # a run id of the store, not a path
    assert result.exit_code == 0, result.output
    assert (run_dir / "report.html").read_text(encoding="utf-8").startswith("<!doctype html>")


def test_run_with_store_option_env_and_out_copy(in_tmp, monkeypatch):
    from dientine.store import Store

    path = clock_scenario(in_tmp)
    result = invoke("run", path, "--store", in_tmp / "s1", "--out", in_tmp / "copies")
    assert result.exit_code == 0, result.output
    with Store(in_tmp / "s1") as store:
        (row,) = store.list_runs()
    (copy,) = (in_tmp / "copies").iterdir()
    assert copy.name == row["run_id"] and (copy / "summary.json").read_bytes() == (
        Path(row["path"]) / "summary.json").read_bytes()
    monkeypatch.setenv("DIENTINE_STORE", str(in_tmp / "s2"))
    assert invoke("run", path).exit_code == 0
    with Store(in_tmp / "s2") as store:
        assert len(store.list_runs()) == 1
    assert not (in_tmp / "dientine_store").exists()


def test_run_with_out_only_stays_outside_the_store(in_tmp):
    result = invoke("run", clock_scenario(in_tmp), "--out", in_tmp / "runs")
    assert result.exit_code == 0 and has(result, "not registered in a store")
    (run,) = (in_tmp / "runs").iterdir()
    assert (run / "summary.json").is_file() and not (run / "manifest.json").exists()
    assert not (in_tmp / "dientine_store").exists()


@pytest.mark.parametrize("error", [ValueError("events[0]: broken halfway"), RuntimeError("worker died")])
def test_a_run_that_fails_midway_leaves_no_run(in_tmp, monkeypatch, error):
    """Raise inside the run after it wrote files: no run directory, no temp directory, no catalog row."""
    import dientine.runner
    from dientine.store import Store

    real = dientine.runner.run_scenario

    def crashing(scenario, out_dir, *, progress=False):
        real(scenario, out_dir, progress=progress)  # every file of the run is written ...
        raise error  # ... and then it fails

    monkeypatch.setattr(dientine.runner, "run_scenario", crashing)
    result = invoke("run", loop_scenario(in_tmp), "--store", in_tmp / "st")
    if isinstance(error, ValueError):
        assert_clean_failure(result, "broken halfway", code=2)
    else:
        assert isinstance(result.exception, RuntimeError)
    assert list((in_tmp / "st" / "runs").iterdir()) == []
    with Store(in_tmp / "st") as store:
        assert store.list_runs() == [] and store.count_decisions() == 0 and store.recover_runs() == []
        assert store.query("SELECT count(*) AS n FROM run_thresholds")[0]["n"] == 0


def test_run_on_a_store_held_by_another_process_is_refused(in_tmp):
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from dientine.store import Store; s = Store(sys.argv[1]); "
                               "print('ready', flush=True); time.sleep(30)", str(in_tmp / "st")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        result = invoke("run", clock_scenario(in_tmp), "--store", in_tmp / "st")
    finally:
        holder.kill()
        holder.wait()
    assert_clean_failure(result, f"is in use by process {holder.pid}", "another --store", code=2)
    assert list((in_tmp / "st" / "runs").iterdir()) == []  # refused before running: nothing written


def test_whatif_runs_are_store_runs_per_variant(in_tmp):
    from concurrent.futures import ThreadPoolExecutor

    from dientine.runner import whatif_to_store
    from dientine.store import Store

    data = yaml.safe_load(clock_scenario(in_tmp).read_text())
    data["variants"] = {"seed9": {"seed": 9}, "crowded": {"population": [{"archetype": "pedestrian", "count": 40}]}}
    path = in_tmp / "wi.yaml"
    path.write_text(yaml.safe_dump(data))
    with ThreadPoolExecutor(max_workers=1) as pool:
        stored, result = whatif_to_store(path, root=in_tmp / "st", executor=pool)
    assert stored.registered and sorted(result["variants"]) == ["crowded", "seed9"]
    with Store(in_tmp / "st") as store:
        runs = {r["variant"]: r for r in store.list_runs()}
        assert set(runs) == {"baseline", "seed9", "crowded", "comparison"}
        assert runs["seed9"]["seed"] == 9 and runs["baseline"]["seed"] == runs["crowded"]["seed"] == 3
        assert stored.summary["runs"] == {v: runs[v]["run_id"] for v in ("baseline", "seed9", "crowded")}
        assert (Path(runs["comparison"]["path"]) / "comparison.json").is_file()
        row = next(r for r in result["rows"] if r["variant"] == "crowded" and r["kpi"] == "energy_kwh")
        assert runs["crowded"]["summary"]["energy_kwh"] == pytest.approx(row["value"])
        variants = {v["name"]: v for v in store.list_variants()}
        assert variants["crowded"]["params"] == data["variants"]["crowded"] and variants["baseline"]["params"] == {}


# -- report ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("run")
    path = write_sites_scenario(tmp, "site,x_m,y_m,azimuth_deg\nA,0,0,0\nA,0,0,120\nA,0,0,240\n")
    result = invoke("run", path, "--out", tmp / "runs")
    assert result.exit_code == 0, result.output
    (run,) = (tmp / "runs").iterdir()
    return run


def test_report_on_a_run_dir(run_dir):
    result = invoke("report", run_dir)
    assert result.exit_code == 0, result.output
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    kpis = json.loads((run_dir / "kpis.json").read_text())
    assert page.startswith("<!doctype html>") and run_dir.name in page
    assert "Summary (kpis.json)" in page and "coverage_pct" in page
    # the four maps are embedded, so the page stands alone
    assert page.count("<img src=\"data:image/png;base64,") == len(list(run_dir.glob("*.png"))) == 4
    assert 0.0 <= kpis["coverage_pct"] <= 100.0


def test_report_to_another_file(run_dir, tmp_path):
    out = tmp_path / "r.html"
    assert invoke("report", run_dir, "--out", out).exit_code == 0
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")


def test_report_on_a_directory_without_outputs(tmp_path):
    assert_clean_failure(invoke("report", tmp_path), "no run outputs found", code=2)
    assert_clean_failure(invoke("report", tmp_path / "missing"), "not a run directory", code=2)


def test_report_on_a_corrupt_run_fails_cleanly(tmp_path):
    (tmp_path / "kpis.json").write_text("{bad")
    assert_clean_failure(invoke("report", tmp_path), "kpis.json", code=2)


# -- keys --------------------------------------------------------------------------------------------------------
def test_keys_create_with_a_bad_scope_fails_cleanly(tmp_path):
    result = invoke("keys", "create", "bob", "--scope", "god", "--store", tmp_path / "store")
    assert_clean_failure(result, "scopes", "'god'", "read", "admin", code=2)


def test_keys_create_prints_a_key_the_store_verifies(tmp_path):
    from dientine.api.keys import KeyVerifier
    from dientine.store import Store

    store_dir = tmp_path / "store"
    result = invoke("keys", "create", "ops", "--scope", "read", "--scope", "decide", "--store", store_dir)
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1].strip()
    assert key.startswith("dtn_") and has(result, "decide, read")
    store = Store(str(store_dir))
    try:
        info = KeyVerifier(store).verify(key)
        assert info is not None and set(info.scopes) == {"read", "decide"}
        assert KeyVerifier(store).verify(key + "x") is None
    finally:
        store.close()


def test_keys_create_needs_a_scope(tmp_path):
    assert_clean_failure(invoke("keys", "create", "bob", "--store", tmp_path / "s"), "--scope", code=2)


@pytest.mark.parametrize("bad_out", ["a_file", "a_file/sub"])
def test_run_with_an_unusable_out_fails_before_running(in_tmp, bad_out):
    """``--out`` that cannot take the copy was found only after the run, with a traceback."""
    (in_tmp / "a_file").write_text("x")
    result = invoke("run", clock_scenario(in_tmp), "--store", in_tmp / "st", "--out", in_tmp / bad_out)
    assert_clean_failure(result, f"--out {in_tmp / bad_out}", code=2)
    assert not (in_tmp / "st" / "runs").exists() or list((in_tmp / "st" / "runs").iterdir()) == []


def test_run_whose_copy_fails_says_where_the_stored_run_is(in_tmp, monkeypatch):
    import dientine.runner
    from dientine.store import Store

    def failing_copy(run_dir, out):
        raise PermissionError(13, "Permission denied", str(out))

    monkeypatch.setattr(dientine.runner, "copy_run", failing_copy)
    result = invoke("run", clock_scenario(in_tmp), "--store", in_tmp / "st", "--out", in_tmp / "copies")
    with Store(in_tmp / "st") as store:
        (row,) = store.list_runs()  # the run is kept and registered
    assert_clean_failure(result, "copying it failed", "Permission denied", f"saved in the store at {row['path']}")


def test_run_and_report_on_a_store_that_is_a_file(in_tmp):
    (in_tmp / "st").write_text("not a store")
    result = invoke("run", clock_scenario(in_tmp), "--store", in_tmp / "st")
    assert_clean_failure(result, f"--store {in_tmp / 'st'}: is a file, not a store directory", code=2)
    assert (in_tmp / "st").read_text() == "not a store"
    assert_clean_failure(invoke("report", "some-run", "--store", in_tmp / "st"), "is a file, not a store directory")


def test_report_of_an_unknown_run_id_names_the_store(in_tmp):
    (in_tmp / "st" / "runs").mkdir(parents=True)
    assert_clean_failure(invoke("report", "no-such-run", "--store", in_tmp / "st"),
                         f"the store {in_tmp / 'st'} has no run 'no-such-run'", code=2)
    assert_clean_failure(invoke("report", "no-such-run", "--store", in_tmp / "none"),
                         f"the store {in_tmp / 'none'} does not exist", code=2)
    assert not (in_tmp / "none").exists() and not (in_tmp / "dientine_store").exists()


def test_report_to_an_unusable_out_fails_cleanly(run_dir, tmp_path):
    """``--out`` a directory or under a file raised IsADirectoryError / NotADirectoryError tracebacks."""
    (tmp_path / "a_file").write_text("x")
    assert_clean_failure(invoke("report", run_dir, "--out", tmp_path), "is a directory", code=2)
    assert_clean_failure(invoke("report", run_dir, "--out", tmp_path / "a_file" / "r.html"),
                         "is not an existing directory", code=2)
    assert (tmp_path / "a_file").read_text() == "x"


def test_run_with_a_seed_beyond_the_scenarios_range_fails_before_running(in_tmp):
    """--seed 10**23 was copied in unvalidated: the run completed, then its registration raised a DuckDB
    ConversionException traceback and left an unregistrable run directory."""
    result = invoke("run", clock_scenario(in_tmp), "--store", in_tmp / "st", "--seed", str(10**23))
    assert_clean_failure(result, f"--seed {10**23}", "less than or equal to 9223372036854775807", code=2)
    assert not (in_tmp / "st").exists()


def test_run_of_a_directory_fails_cleanly(in_tmp):
    (in_tmp / "scen.yaml").mkdir()
    assert_clean_failure(invoke("run", in_tmp / "scen.yaml", "--store", in_tmp / "st"),
                         "cannot read the scenario file", code=2)


def test_a_catalog_that_refuses_a_run_is_a_clean_error_naming_the_files(in_tmp, monkeypatch):
    import duckdb

    from dientine.store import Store

    def refuse(self, run_id):
        raise duckdb.ConversionException("value out of range")

    monkeypatch.setattr(Store, "register_run", refuse)
    result = invoke("run", clock_scenario(in_tmp), "--store", in_tmp / "st")
    assert_clean_failure(result, "the catalog refused them: value out of range", f"under {in_tmp / 'st' / 'runs'}")
    assert len([d for d in (in_tmp / "st" / "runs").iterdir() if not d.name.startswith(".")]) == 1


def test_run_on_a_store_whose_catalog_is_not_duckdb_fails_cleanly(in_tmp):
    (in_tmp / "st").mkdir()
    (in_tmp / "st" / "catalog.duckdb").write_text("garbage")
    result = invoke("run", clock_scenario(in_tmp), "--store", in_tmp / "st")
    assert_clean_failure(result, "cannot open the store's catalog", "not a valid DuckDB database file", code=2)
    assert (in_tmp / "st" / "catalog.duckdb").read_text() == "garbage"
