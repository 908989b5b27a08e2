"""From a scenario's ``network`` section to the radio kernels' plain arrays.

Builds the cell table (hexagonal layout or sites CSV), the :class:`dientine.radio.network_arrays.CellArrays`
the kernels take, and the wrap-around translations of a hexagonal layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dientine.grid import Grid
from dientine.layout import CellTable, hex_layout, load_sites_csv
from dientine.radio.network_arrays import CellArrays
from dientine.scenario import Network, Scenario

#: Maximum transmission bandwidth configuration N_RB per (channel bandwidth MHz, SCS kHz), FR1,
#: 3GPP TS 38.101-1 Table 5.3.2-1. Rates use the occupied bandwidth 12 · N_RB · SCS (REFERENCES.md §4.1:
#: 273 PRB × 12 × 30 kHz = 98.28 MHz in 100 MHz NR).
N_RB_FR1 = {
    15: {5: 25, 10: 52, 15: 79, 20: 106, 25: 133, 30: 160, 40: 216, 50: 270},
    30: {5: 11, 10: 24, 15: 38, 20: 51, 25: 65, 30: 78, 40: 106, 50: 133, 60: 162, 70: 189, 80: 217, 90: 245,
         100: 273},
}


@dataclass(frozen=True)
class NetworkArrays:
    table: CellTable
    cells: CellArrays
    wrap_offsets_m: np.ndarray | None


def n_prb_for(bandwidth_mhz: float, scs_khz: int) -> int | None:
    """N_RB of TS 38.101-1 Table 5.3.2-1, or None for a combination it does not list (rates then use the whole
    channel bandwidth)."""
    bw = int(round(bandwidth_mhz))
    if abs(bw - bandwidth_mhz) > 1e-9:
        return None
    return N_RB_FR1.get(int(scs_khz), {}).get(bw)


def build_network(network: Network, *, load: float = 1.0) -> NetworkArrays:
    """Cells of ``network`` as kernel arrays, all active, every cell at ``load`` (1.0 = full-buffer interference,
    the TR 38.901 §7.8 / ITU-R M.2412 calibration assumption)."""
    antenna = network.antenna
    if network.layout.hex is not None:
        h = network.layout.hex
        table = hex_layout(h.rings, h.isd_m, sectors=h.sectors, height_m=network.bs_height_m,
                           tx_power_dbm=network.tx_power_dbm, mech_tilt_deg=antenna.mech_tilt_deg,
                           elec_tilt_deg=antenna.elec_tilt_or_default_deg, wrap_around=h.wrap_around)
    else:
        table = load_sites_csv(network.layout.sites, default_height_m=network.bs_height_m,
                               default_tx_power_dbm=network.tx_power_dbm,
                               default_mech_tilt_deg=antenna.mech_tilt_deg,
                               default_elec_tilt_deg=antenna.elec_tilt_or_default_deg)
    carrier = network.carrier
    n = table.n_cells
    cells = CellArrays(
        x_m=table.x_m, y_m=table.y_m, height_m=table.height_m, azimuth_deg=table.azimuth_deg,
        mech_tilt_deg=table.mech_tilt_deg, elec_tilt_deg=table.elec_tilt_deg, tx_power_dbm=table.tx_power_dbm,
        active=np.ones(n, bool), load=np.full(n, float(load)), offset_db=np.zeros(n), site_index=table.site_id,
        fc_ghz=carrier.fc_ghz, bandwidth_hz=carrier.bandwidth_mhz * 1e6, scenario=carrier.scenario,
        antenna_model=antenna.model, n_prb=n_prb_for(carrier.bandwidth_mhz, carrier.scs_khz),
        subcarrier_spacing_khz=float(carrier.scs_khz),
    )
    return NetworkArrays(table, cells, table.wrap_offsets_m)


def grid_for(scenario: Scenario, table: CellTable) -> Grid:
    """The scenario's raster: centred on the hexagonal layout's centre site, or on the middle of the CSV sites'
    bounding box."""
    a = scenario.area
    if scenario.network.layout.hex is not None:
        return Grid.centred(a.width_m, a.height_m, a.resolution_m)
    cx = 0.5 * (float(table.x_m.min()) + float(table.x_m.max()))
    cy = 0.5 * (float(table.y_m.min()) + float(table.y_m.max()))
    return Grid(cx - a.width_m / 2.0, cy - a.height_m / 2.0, a.width_m, a.height_m, a.resolution_m)
