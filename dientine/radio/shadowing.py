"""Spatially correlated shadow fading and LOS state per site on a :class:`dientine.grid.Grid`.

TR 38.901 §7.5 / Table 7.5-6: shadow fading is log-normal (Gaussian in dB), zero mean, σ per scenario and LOS
state, with exponential autocorrelation exp(−Δd/d_corr) (LOS/NLOS/O2I distances UMa 37/50/7 m, UMi 10/13/7 m,
RMa 37/120/120 m). One independent field per *site* (links to the cells of one site share it) and per state.

LOS state (TR 38.901 §7.6.3.3 idea): a correlated uniform field u per site, u = Φ(z) with z a correlated
Gaussian field; a link is LOS iff u < P_LOS(d2D, h_UT). The state therefore does not flicker from pixel to pixel
and the LOS fraction equals P_LOS. The correlation distance of z is a configurable **assumption** (default: the
scenario's NLOS shadow-fading distance); TR 38.901 Table 7.6.3.1-2 lists a LOS-state correlation distance
(verify and set ``los_corr_distance_m`` to it).

Generation: circulant embedding on a padded torus (exact covariance exp(−r/d) on the torus; the padding of
``pad_corr_lengths`` × d_corr bounds the wrap error of far pairs by exp(−pad_corr_lengths)); one complex FFT gives
two independent real fields. Fields are stored pixel-major, shape ``(n_pixels, n_sites)`` float32, so that a
kernel reading all sites of one pixel touches contiguous memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from ..grid import Grid
from .constants import SCENARIOS, SF_CORR_DISTANCE_M, family_of
from .errors import require_choice, require_range

PAD_CORR_LENGTHS = 6.0
"""Torus padding in correlation lengths; wrap-around correlation error ≤ exp(−6) ≈ 0.0025 (numerical choice)."""


def _next_fast_len(n: int) -> int:
    """Smallest m ≥ n with no prime factor above 5 (fast FFT sizes)."""
    m = n
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def correlated_gaussian_fields(shape: tuple[int, int], resolution_m: float, corr_distance_m: float,
                               n_fields: int, rng: np.random.Generator,
                               pad_corr_lengths: float = PAD_CORR_LENGTHS) -> np.ndarray:
    """``n_fields`` independent zero-mean unit-variance Gaussian fields on a ``shape`` raster with
    autocorrelation exp(−r/corr_distance_m), r the distance between pixel centres. Returns float32
    ``(n_fields, rows, cols)``. Deterministic given ``rng``."""
    require_range("resolution_m", resolution_m, 1e-9, None)
    require_range("corr_distance_m", corr_distance_m, 1e-9, None)
    if n_fields < 0:
        raise ValueError(f"n_fields: expected a non-negative integer, found {n_fields!r}")
    rows, cols = shape
    pad = int(math.ceil(pad_corr_lengths * corr_distance_m / resolution_m))
    n1, n2 = _next_fast_len(rows + pad), _next_fast_len(cols + pad)
    i = np.minimum(np.arange(n1), n1 - np.arange(n1)) * resolution_m
    j = np.minimum(np.arange(n2), n2 - np.arange(n2)) * resolution_m
    acf = np.exp(-np.hypot(i[:, None], j[None, :]) / corr_distance_m)
    lam = np.fft.fft2(acf).real
    lam = np.maximum(lam, 0.0)  # circulant embedding; negatives are round-off for the exponential ACF
    amp = np.sqrt(lam / (n1 * n2))
    out = np.empty((n_fields, rows, cols), dtype=np.float32)
    for k in range(0, n_fields, 2):
        z = rng.standard_normal((n1, n2)) + 1j * rng.standard_normal((n1, n2))
        y = np.fft.fft2(amp * z)
        out[k] = y.real[:rows, :cols]
        if k + 1 < n_fields:
            out[k + 1] = y.imag[:rows, :cols]
    return out


@numba.njit(cache=True)
def _std_normal_cdf_f32(z):
    """Φ(z) elementwise (float32 out), clipped below 1 so that ``u < P_LOS = 1`` always holds."""
    flat = z.ravel()
    out = np.empty(flat.shape[0], np.float32)
    top = np.float32(0.99999994)  # largest float32 below 1
    for i in range(flat.shape[0]):
        u = np.float32(0.5 * (1.0 + math.erf(flat[i] * 0.7071067811865476)))
        out[i] = min(u, top)
    return out.reshape(z.shape)


@dataclass(frozen=True)
class SiteFields:
    """Per-site random fields on ``grid``; every array is pixel-major ``(grid.n_pixels, n_sites)`` float32.

    ``los_uniform``: correlated U(0, 1) for the LOS draw (LOS iff u < P_LOS). ``sf_los``/``sf_nlos``/``sf_o2i``:
    standard normal fields with the Table 7.5-6 decorrelation distance of that state (scale by σ_SF in dB).
    ``sf_o2i`` has 0 columns when built without indoor support.
    """

    grid: Grid
    scenario: str
    n_sites: int
    los_uniform: np.ndarray
    sf_los: np.ndarray
    sf_nlos: np.ndarray
    sf_o2i: np.ndarray
    corr_distance_m: dict

    @property
    def has_o2i(self) -> bool:
        return self.sf_o2i.shape[1] == self.n_sites

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.los_uniform, self.sf_los, self.sf_nlos, self.sf_o2i))


def _pixel_major(fields: np.ndarray) -> np.ndarray:
    n = fields.shape[0]
    return np.ascontiguousarray(fields.reshape(n, -1).T)


def build_site_fields(grid: Grid, n_sites: int, scenario: str, rng: np.random.Generator, *,
                      include_o2i: bool = False, los_corr_distance_m: float | None = None) -> SiteFields:
    """Draw the LOS-uniform and shadow-fading fields of ``n_sites`` sites on ``grid`` (see module doc).

    Aerial UEs of "-AV" scenarios reuse the 38.901 fields of their family (assumption: TR 36.777 gives σ_SF per
    height, REFERENCES.md gives no aerial decorrelation distance).
    """
    require_choice("scenario", scenario, SCENARIOS)
    if int(n_sites) < 1:
        raise ValueError(f"n_sites: expected a positive integer, found {n_sites!r}")
    fam = family_of(scenario)
    dc = dict(SF_CORR_DISTANCE_M[fam])
    dc["los_state"] = float(dc["nlos"] if los_corr_distance_m is None else los_corr_distance_m)
    shape, res = grid.shape, grid.resolution_m
    z_los_state = correlated_gaussian_fields(shape, res, dc["los_state"], n_sites, rng)
    u = _std_normal_cdf_f32(_pixel_major(z_los_state))
    del z_los_state
    sf_los = _pixel_major(correlated_gaussian_fields(shape, res, dc["los"], n_sites, rng))
    sf_nlos = _pixel_major(correlated_gaussian_fields(shape, res, dc["nlos"], n_sites, rng))
    if include_o2i:
        sf_o2i = _pixel_major(correlated_gaussian_fields(shape, res, dc["o2i"], n_sites, rng))
    else:
        sf_o2i = np.zeros((grid.n_pixels, 0), dtype=np.float32)
    return SiteFields(grid, scenario, int(n_sites), np.ascontiguousarray(u), sf_los, sf_nlos, sf_o2i, dc)
