"""The coverage study behind `make run`: files, KPIs, determinism, CLI."""

import json

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from dientine.cli import app
from dientine.coverage import compute_coverage, coverage_kpis, run_coverage
from dientine.scenario import validate_data

SMALL = {
    "name": "small", "seed": 3,
    "area": {"width_m": 1400, "height_m": 1200, "resolution_m": 25},
    "network": {"layout": {"hex": {"rings": 1, "isd_m": 500}},
                "carrier": {"fc_ghz": 3.5, "bandwidth_mhz": 100, "scenario": "UMa"}},
}


def small(**changes):
    data = yaml.safe_load(yaml.safe_dump(SMALL))
    data.update(changes)
    return validate_data(data)


def test_run_writes_maps_plots_and_kpis(tmp_path):
    kpis = run_coverage(small(), tmp_path)
    for name in ("maps.npz", "rsrp.png", "sinr.png", "server.png", "rate.png", "kpis.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    maps = np.load(tmp_path / "maps.npz")
    n = 56 * 48
    assert maps["sinr_db"].shape == (n,) and kpis["n_pixels"] == n and kpis["n_cells"] == 21
    assert set(np.unique(maps["serving_cell"])) <= set(range(21))
    assert json.loads((tmp_path / "kpis.json").read_text())["coverage_pct"] == kpis["coverage_pct"]
    # thermal noise over 100 MHz with NF 9 dB: -174 + 80 + 9 = -85 dBm (REFERENCES.md §4.4)
    assert kpis["noise_dbm"] == pytest.approx(-85.0, abs=1e-6)
    assert kpis["sinr_p5_db"] < kpis["sinr_p50_db"] < kpis["sinr_p95_db"]
    assert 0 < kpis["coverage_pct"] <= 100


def test_same_seed_same_maps_other_seed_other_maps():
    a = compute_coverage(small())["result"]
    b = compute_coverage(small())["result"]
    c = compute_coverage(small(seed=4))["result"]
    np.testing.assert_array_equal(a.sinr_db, b.sinr_db)
    np.testing.assert_array_equal(a.serving_cell, b.serving_cell)
    assert not np.array_equal(a.sinr_db, c.sinr_db)


def test_indoor_pixels_lose_signal():
    outdoor = compute_coverage(small())["result"]
    net = dict(SMALL["network"], indoor_fraction=1.0)
    indoor = compute_coverage(small(network=net))["result"]
    # O2I low-loss at 3.5 GHz: PL_tw 12.698 dB + PL_in >= 0 (REFERENCES.md §1.4), sigma_P 4.4 dB on top
    assert np.median(outdoor.rsrp_dbm - indoor.rsrp_dbm) > 12.0


def test_coverage_kpis_hand_checked():
    sinr = np.array([-20.0, -10.0, 0.0, 10.0])
    kpis = coverage_kpis(sinr, np.array([-120.0, -110, -100, -90]), np.array([0.0, 1, 2, 3]))
    assert kpis["coverage_pct"] == 75.0  # -10 dB is covered (SINR_MIN inclusive)
    assert kpis["rate_p50_mbps"] == 1.5


def test_cli_run_and_validate(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(SMALL))
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(f), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "coverage" in result.output and len(list((tmp_path / "runs").iterdir())) == 1
    assert runner.invoke(app, ["validate", str(f)]).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(SMALL).replace("fc_ghz: 3.5", "fc_ghz: '3.5GHz'"))
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1 and "network.carrier.fc_ghz: expected a number in (0.5, 100]" in result.output
    result = runner.invoke(app, ["run", str(bad), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2 and len(list((tmp_path / "runs").iterdir())) == 1


def test_cli_decide_with_threshold_defaults_and_explanation():
    runner = CliRunner()
    args = ["decide", "energy_saving", "--set", "cell_load=0.05", "--set", "hour=3", "--set",
            "neighbour_headroom=0.6", "--set", "is_coverage_cell=false", "--set", "cell_asleep=false", "--explain"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert '"energy_saving": "rru_sleep"' in result.output and "selected rule 4" in result.output
    # above the default sleep threshold (0.15 of PRBs) the cell stays on
    result = runner.invoke(app, [a if a != "cell_load=0.05" else "cell_load=0.5" for a in args])
    assert '"energy_saving": "keep"' in result.output
    result = runner.invoke(app, ["decide", "energy_saving", "--set", "cell_lod=0.1"])
    assert result.exit_code == 2 and "['cell_lod'] are not read by energy_saving.dmn" in result.output
    assert runner.invoke(app, ["decide", "no_such_table"]).exit_code == 2
