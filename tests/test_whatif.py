"""What-if variants: same seeds, overrides applied, comparison rows, report."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from dientine.report import render_report
from dientine.scenario import ScenarioError, load_variants
from dientine.whatif import compare, run_whatif

BASE = {
    "name": "wi", "seed": 5,
    "area": {"width_m": 1400, "height_m": 1200, "resolution_m": 25},
    "network": {"layout": {"hex": {"rings": 1, "isd_m": 500}},
                "carrier": {"fc_ghz": 3.5, "bandwidth_mhz": 100, "scenario": "UMa"}},
    "variants": {"low_power": {"network.tx_power_dbm": 30.0}, "same": {}},
}


def write(tmp_path, data):
    f = tmp_path / "wi.yaml"
    f.write_text(yaml.safe_dump(data))
    return f


def test_variants_share_the_seed_and_apply_overrides(tmp_path):
    scenarios = load_variants(write(tmp_path, BASE))
    assert set(scenarios) == {"baseline", "low_power", "same"}
    assert scenarios["low_power"].network.tx_power_dbm == 30.0
    assert scenarios["baseline"].network.tx_power_dbm == 46.0
    assert len({s.seed for s in scenarios.values()}) == 1


def test_bad_variant_is_named(tmp_path):
    data = dict(BASE, variants={"broken": {"network.carrier.fc_ghz": 500}})
    with pytest.raises(ScenarioError, match=r"variant broken.*fc_ghz: expected a number in \(0.5, 100\]"):
        load_variants(write(tmp_path, data))
    data = dict(BASE, variants={"typo": {"network.carier.fc_ghz": 2}})
    with pytest.raises(ScenarioError, match="variants.typo: .*no key 'carier'"):
        load_variants(write(tmp_path, data))


def test_run_whatif_compares_against_baseline(tmp_path):
    with ThreadPoolExecutor(max_workers=1) as pool:
        result = run_whatif(write(tmp_path, BASE), tmp_path / "out", executor=pool)
    rows = {(r["variant"], r["kpi"]): r for r in result["rows"]}
    # identical variant: identical KPIs (same seed, same draws)
    assert rows[("same", "coverage_pct")]["delta"] == 0.0
    # 16 dB less power: RSRP drops by exactly 16 dB at every percentile (gains unchanged)
    assert rows[("low_power", "rsrp_p50_dbm")]["delta"] == pytest.approx(-16.0, abs=1e-3)
    assert rows[("low_power", "sinr_p5_db")]["delta"] < 0  # noise matters more at the cell edge
    assert (tmp_path / "out" / "comparison.json").is_file()
    page = render_report(tmp_path / "out").read_text()
    assert "What-if comparison" in page and "low_power" in page


def test_compare_skips_non_numeric_and_handles_zero_baseline():
    rows = compare({"a": 0.0, "b": "x", "c": 2.0}, {"v": {"a": 1.0, "b": "y", "c": 3.0}})
    assert rows == [{"variant": "v", "kpi": "a", "baseline": 0.0, "value": 1.0, "delta": 1.0, "delta_pct": None},
                    {"variant": "v", "kpi": "c", "baseline": 2.0, "value": 3.0, "delta": 1.0, "delta_pct": 50.0}]


def test_run_whatif_in_its_own_process_pool_after_numba_threads_started(tmp_path):
    """The default executor (spawned worker processes) works in a process whose Numba thread pool already runs
    (a forked worker could not set its NUMBA_NUM_THREADS)."""
    import numba
    import numpy as np

    @numba.njit(parallel=True)
    def _touch(a):
        for i in numba.prange(a.shape[0]):
            a[i] += 1.0
        return a

    _touch(np.zeros(8))  # starts the thread layer in this process
    data = dict(BASE, area={"width_m": 800, "height_m": 700, "resolution_m": 50},
                variants={"low_power": {"network.tx_power_dbm": 30.0}})
    result = run_whatif(write(tmp_path, data), tmp_path / "out", max_workers=2)
    rows = {(r["variant"], r["kpi"]): r for r in result["rows"]}
    assert rows[("low_power", "rsrp_p50_dbm")]["delta"] == pytest.approx(-16.0, abs=1e-3)
    assert (tmp_path / "out" / "low_power" / "summary.json").is_file()
