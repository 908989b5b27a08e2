"""User mobility kernels (Numba, structure of arrays): random waypoint, Manhattan street grid, stationary.

Randomness. Kernels take one 64-bit ``key`` per tick, drawn by the caller from the run's
``numpy.random.Generator`` (:func:`tick_key`), and turn ``(key, user index, draw counter)`` into uniforms with
the SplitMix64 finaliser (Steele, Lea, Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014).
Results depend only on the seed, never on thread scheduling, so the parallel variants give the same numbers
as the serial ones.

Models.
* Random waypoint (Johnson & Maltz 1996; Camp, Boleng, Davies, "A survey of mobility models for ad hoc network
  research", WCMC 2(5), 2002): walk in a straight line at the user's speed to a target drawn uniformly in the
  area, pause ``U(0, pause_max_s)``, draw a new target and speed. Several legs may fit in one tick; the path
  stays in the (convex) area and every step is at most ``speed * dt``.
* Street grid ("Manhattan"): streets every ``block_m`` in x and y, the first ``block_m / 2`` in from the area's
  south-west corner (so every street lies strictly inside the area); users move
  along streets and at every crossing go straight with probability 0.5, turn left 0.25, right 0.25 (ETSI TR 101
  112 / UMTS 30.03 Annex B Manhattan model; verify), choosing among the streets that exist at the area edge
  and turning back only at a corner with no other way.
* Stationary: never moves.
"""

from __future__ import annotations

import numba
import numpy as np

MOB_STATIONARY = 0
MOB_RANDOM_WAYPOINT = 1
MOB_STREET_GRID = 2
MOBILITY_CODES = {"stationary": MOB_STATIONARY, "random_waypoint": MOB_RANDOM_WAYPOINT,
                  "street_grid": MOB_STREET_GRID}

SPEED_UNIFORM = 0  # fixed speed is uniform with low == high
SPEED_NORMAL = 1

_MAX_LEGS_PER_TICK = 10_000  # loop guard only; legs are bounded by speed * dt / (leg length)
_P_STRAIGHT = 0.5  # UMTS 30.03 Manhattan model (verify)
_P_LEFT = 0.25


_U64_MAX = np.iinfo(np.uint64).max


def tick_key(rng: np.random.Generator) -> np.uint64:
    """One 64-bit key for a kernel call, drawn from the run's generator."""
    return np.uint64(rng.integers(0, _U64_MAX, dtype=np.uint64, endpoint=True))


@numba.njit(cache=True, inline="always")
def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, inline="always")
def hash64(key, i, c):
    """64 random bits from (key, stream i, counter c): SplitMix64 finaliser of a Weyl-sequence position."""
    z = key + np.uint64(i) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(c) * np.uint64(0xD1B54A32D192ED03)
    return _mix64(z)


@numba.njit(cache=True, inline="always")
def hash_uniform(key, i, c):
    """Uniform in [0, 1) (53 bits) from (key, stream i, counter c)."""
    return np.float64(hash64(key, i, c) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True, inline="always")
def _draw_speed(key, i, c, kind, p1, p2):
    """Speed for stream i: uniform [p1, p2] or normal(p1, p2) truncated to (0, p1 + 6 p2]. Uses draws c.."""
    if kind == SPEED_UNIFORM:
        return p1 + (p2 - p1) * hash_uniform(key, i, c)
    for k in range(16):
        u1 = hash_uniform(key, i, c + 2 * k)
        u2 = hash_uniform(key, i, c + 2 * k + 1)
        z = np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(2.0 * np.pi * u2)
        v = p1 + p2 * z
        if v > 0.0 and v <= p1 + 6.0 * p2:
            return v
    return max(p1, 0.0)


@numba.njit(cache=True, inline="always")
def _rwp_one(i, x, y, tx, ty, speed, pause, arch, spd_kind, spd_p1, spd_p2, pause_max,
             x0, y0, w, h, dt, key):
    t = dt
    c = np.uint64(0)
    for _ in range(_MAX_LEGS_PER_TICK):
        if t <= 0.0:
            break
        if pause[i] > 0.0:
            p = min(pause[i], t)
            pause[i] -= p
            t -= p
            continue
        v = speed[i]
        if v <= 0.0:
            break
        dx = tx[i] - x[i]
        dy = ty[i] - y[i]
        d = np.sqrt(dx * dx + dy * dy)
        if d <= v * t:
            x[i] = tx[i]
            y[i] = ty[i]
            t -= d / v
            a = arch[i]
            tx[i] = x0 + w * hash_uniform(key, i, c)
            ty[i] = y0 + h * hash_uniform(key, i, c + np.uint64(1))
            pause[i] = pause_max[a] * hash_uniform(key, i, c + np.uint64(2))
            speed[i] = _draw_speed(key, i, c + np.uint64(3), spd_kind[a], spd_p1[a], spd_p2[a])
            c += np.uint64(40)
        else:
            f = v * t / d
            x[i] += dx * f
            y[i] += dy * f
            t = 0.0


@numba.njit(cache=True, inline="always")
def _grid_valid(dirn, kx, ky, kmax, lmax):
    if dirn == 0:
        return kx < kmax
    if dirn == 1:
        return ky < lmax
    if dirn == 2:
        return kx > 0
    return ky > 0


@numba.njit(cache=True, inline="always")
def _grid_turn(dirn, kx, ky, kmax, lmax, u):
    """Direction taken at crossing (kx, ky) arriving with heading ``dirn``; ``u`` uniform in [0, 1)."""
    straight = dirn
    left = (dirn + 1) % 4
    right = (dirn + 3) % 4
    ps = _P_STRAIGHT if _grid_valid(straight, kx, ky, kmax, lmax) else 0.0
    pl = _P_LEFT if _grid_valid(left, kx, ky, kmax, lmax) else 0.0
    pr = (1.0 - _P_STRAIGHT - _P_LEFT) if _grid_valid(right, kx, ky, kmax, lmax) else 0.0
    tot = ps + pl + pr
    if tot <= 0.0:
        return (dirn + 2) % 4
    v = u * tot
    if v < ps:
        return straight
    if v < ps + pl:
        return left
    return right


@numba.njit(cache=True, inline="always")
def _grid_one(i, x, y, heading, speed, x0, y0, block, kmax, lmax, dt, key):
    """Move user i along the street grid for dt. heading: 0 +x, 1 +y, 2 -x, 3 -y. Streets at x0 + k block
    (k = 0..kmax) and y0 + l block (l = 0..lmax)."""
    rem = speed[i] * dt
    if rem <= 0.0:
        return
    dirn = heading[i]
    # phase 1: from anywhere on a street to the next crossing ahead
    k = 0.0
    d = 0.0
    for _ in range(2):
        fx = (x[i] - x0) / block
        fy = (y[i] - y0) / block
        if dirn == 0:
            k = np.floor(fx + 1e-9) + 1.0
            d = x0 + k * block - x[i]
        elif dirn == 2:
            k = np.ceil(fx - 1e-9) - 1.0
            d = x[i] - (x0 + k * block)
        elif dirn == 1:
            k = np.floor(fy + 1e-9) + 1.0
            d = y0 + k * block - y[i]
        else:
            k = np.ceil(fy - 1e-9) - 1.0
            d = y[i] - (y0 + k * block)
        if k < 0.0 or (dirn == 0 and k > kmax) or (dirn == 1 and k > lmax):
            dirn = (dirn + 2) % 4  # placed at the edge facing out: turn back
            continue
        break
    if d > rem:
        if dirn == 0:
            x[i] += rem
        elif dirn == 2:
            x[i] -= rem
        elif dirn == 1:
            y[i] += rem
        else:
            y[i] -= rem
        heading[i] = dirn
        return
    rem -= d
    if dirn == 0 or dirn == 2:
        kx = int(k)
        ky = int(np.rint((y[i] - y0) / block))
    else:
        kx = int(np.rint((x[i] - x0) / block))
        ky = int(k)
    # phase 2: crossing to crossing on the integer lattice. Two random bits per crossing pick straight (00, 01),
    # left (10) or right (11): exactly 0.5 / 0.25 / 0.25. If that street does not exist (area edge) a fresh
    # uniform picks among the streets that do, with the probabilities renormalised.
    word = np.uint64(0)
    bits = hash64(key, i, word)
    used = 0
    fallback = np.uint64(1) << np.uint64(40)
    while True:
        if used == 32:
            word += np.uint64(1)
            bits = hash64(key, i, word)
            used = 0
        b = (bits >> np.uint64(2 * used)) & np.uint64(3)
        used += 1
        cand = dirn if b < np.uint64(2) else ((dirn + 1) % 4 if b == np.uint64(2) else (dirn + 3) % 4)
        if _grid_valid(cand, kx, ky, kmax, lmax):
            dirn = cand
        else:
            dirn = _grid_turn(dirn, kx, ky, kmax, lmax, hash_uniform(key, i, fallback))
            fallback += np.uint64(1)
        if rem >= block:
            if dirn == 0:
                kx += 1
            elif dirn == 1:
                ky += 1
            elif dirn == 2:
                kx -= 1
            else:
                ky -= 1
            rem -= block
            continue
        xs = x0 + kx * block
        ys = y0 + ky * block
        if dirn == 0:
            xs += rem
        elif dirn == 1:
            ys += rem
        elif dirn == 2:
            xs -= rem
        else:
            ys -= rem
        x[i] = xs
        y[i] = ys
        heading[i] = dirn
        return


@numba.njit(cache=True)
def _step_serial(x, y, tx, ty, speed, pause, heading, mobility, active, arch,
                 spd_kind, spd_p1, spd_p2, pause_max, block, x0, y0, w, h, dt, key):
    n = x.shape[0]
    # two passes (random waypoint, then street grid): one loop per model compiles to much faster code
    for i in range(n):
        if active[i] and mobility[i] == MOB_RANDOM_WAYPOINT:
            _rwp_one(i, x, y, tx, ty, speed, pause, arch, spd_kind, spd_p1, spd_p2, pause_max,
                     x0, y0, w, h, dt, key)
    for i in range(n):
        if active[i] and mobility[i] == MOB_STREET_GRID:
            b = block[arch[i]]
            _grid_one(i, x, y, heading, speed, x0 + 0.5 * b, y0 + 0.5 * b, b, _n_streets(w, b) - 1,
                      _n_streets(h, b) - 1, dt, key)


@numba.njit(cache=True, parallel=True)
def _step_parallel(x, y, tx, ty, speed, pause, heading, mobility, active, arch,
                   spd_kind, spd_p1, spd_p2, pause_max, block, x0, y0, w, h, dt, key):
    n = x.shape[0]
    # two passes (random waypoint, then street grid): one loop per model compiles to much faster code
    for i in numba.prange(n):
        if active[i] and mobility[i] == MOB_RANDOM_WAYPOINT:
            _rwp_one(i, x, y, tx, ty, speed, pause, arch, spd_kind, spd_p1, spd_p2, pause_max,
                     x0, y0, w, h, dt, key)
    for i in numba.prange(n):
        if active[i] and mobility[i] == MOB_STREET_GRID:
            b = block[arch[i]]
            _grid_one(i, x, y, heading, speed, x0 + 0.5 * b, y0 + 0.5 * b, b, _n_streets(w, b) - 1,
                      _n_streets(h, b) - 1, dt, key)


@numba.njit(cache=True, inline="always")
def _n_streets(side, b):
    """Streets at offsets b/2, 3b/2, ... strictly inside a side of length ``side``."""
    return int(np.ceil((side - 0.5 * b) / b - 1e-9))


PARALLEL_THRESHOLD = 200_000  # users; below it the serial kernel is faster (thread start-up)


def step_mobility(users, dt_s: float, rng: np.random.Generator, *, parallel: bool | None = None) -> None:
    """Advance every active user of a :class:`agents.users.UserArrays` by ``dt_s`` seconds in place."""
    if not np.isfinite(dt_s) or dt_s < 0:
        raise ValueError(f"step_mobility: dt_s must be a finite number >= 0, found {dt_s!r}")
    if users.n == 0 or dt_s == 0:
        return
    t = users.tables
    x0, y0, w, h = users.area
    key = tick_key(rng)
    if parallel is None:
        parallel = users.n >= PARALLEL_THRESHOLD
    fn = _step_parallel if parallel else _step_serial
    fn(users.x_m, users.y_m, users.target_x_m, users.target_y_m, users.speed_mps, users.pause_s,
       users.heading, users.mobility, users.active, users.archetype,
       t.speed_kind, t.speed_p1, t.speed_p2, t.pause_max_s, t.block_m,
       float(x0), float(y0), float(w), float(h), float(dt_s), key)


@numba.njit(cache=True)
def _init_speeds(idx, speed, arch, spd_kind, spd_p1, spd_p2, key):
    for j in range(idx.shape[0]):
        i = idx[j]
        a = arch[i]
        speed[i] = _draw_speed(key, i, np.uint64(0), spd_kind[a], spd_p1[a], spd_p2[a])


def draw_speeds(users, idx: np.ndarray, rng: np.random.Generator) -> None:
    """Draw the archetype speed of users ``idx`` (used when users are placed)."""
    t = users.tables
    _init_speeds(np.asarray(idx, dtype=np.int64), users.speed_mps, users.archetype,
                 t.speed_kind, t.speed_p1, t.speed_p2, tick_key(rng))


def snap_to_streets(x_m: np.ndarray, y_m: np.ndarray, block_m: float, area: tuple[float, float, float, float],
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Place points on the nearest street of the grid (vertical or horizontal, chosen at random) and give each a
    heading along its street. Returns (x, y, heading)."""
    ax0, ay0, w, h = area
    x0, y0 = ax0 + 0.5 * block_m, ay0 + 0.5 * block_m
    kmax = _n_streets(w, block_m) - 1
    lmax = _n_streets(h, block_m) - 1
    if kmax < 1 or lmax < 1:
        raise ValueError(f"street grid: need at least two streets each way; block_m {block_m} is too large "
                         f"for the area's sides ({w} x {h} m; streets lie at block_m/2 + k block_m)")
    n = x_m.shape[0]
    vertical = rng.random(n) < 0.5
    forward = rng.random(n) < 0.5
    x = np.clip(x_m, x0, x0 + kmax * block_m)
    y = np.clip(y_m, y0, y0 + lmax * block_m)
    kx = np.clip(np.rint((x - x0) / block_m), 0, kmax)
    ky = np.clip(np.rint((y - y0) / block_m), 0, lmax)
    x = np.where(vertical, x0 + kx * block_m, x)
    y = np.where(vertical, y, y0 + ky * block_m)
    heading = np.where(vertical, np.where(forward, 1, 3), np.where(forward, 0, 2)).astype(np.int8)
    return x, y, heading
