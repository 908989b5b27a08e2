"""Drones as a structure of arrays: 3-D positions following waypoint loops at their altitude band.

Flight patterns (``drones.archetypes`` in ``agents/catalog.yaml``):
* ``corridor`` (delivery): depot -> drop point along an L-shaped corridor (first along x, then along y, the
  way a route follows a street grid), split into ``legs`` segments, at one altitude drawn in the band; then
  back the same way. Registered.
* ``survey`` (inspection): a lawn-mower pattern of ``legs`` passes over a square of side ``survey_side_m``
  (assumption: default a fifth of the area's shorter side; pass ``survey_side_m``) at one altitude in the
  band, then back to the start.
* ``zigzag`` (intruder): ``legs`` waypoints drawn uniformly over the whole area, each at its own altitude in
  the band: an unregistered path nobody filed. Not registered.

Each drone flies at a speed drawn once from its archetype's distribution, waypoint to waypoint in straight
3-D lines, looping. Several waypoints may be passed in one tick; a step never exceeds ``speed * dt``.

Drones are aerial UEs for the radio kernels (heights above 22.5 m use 3GPP TR 36.777 Annex B path loss,
REFERENCES.md §2): :meth:`DroneArrays.ue_view` gives their positions, heights and which of them are served
(registered and with a traffic class); :func:`aerial_path_loss_db` evaluates the link loss to given sites.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

PATTERNS = ("corridor", "survey", "zigzag")


@dataclass
class DroneArrays:
    """All drones of a run (few: tens to hundreds)."""

    names: tuple[str, ...]           # archetype names, index = archetype id
    x_m: np.ndarray
    y_m: np.ndarray
    z_m: np.ndarray                  # height above ground
    speed_mps: np.ndarray
    archetype: np.ndarray            # int16
    registered: np.ndarray           # bool
    served: np.ndarray               # bool: registered and has a traffic class
    traffic: np.ndarray              # int16 traffic id, -1 none
    rcs_dbsm: np.ndarray             # per-drone mean RCS (component A + a per-drone log-normal draw)
    waypoints: np.ndarray            # (n, max_wp, 3)
    n_waypoints: np.ndarray          # int32
    next_wp: np.ndarray              # int32 index of the waypoint being flown to
    active: np.ndarray               # bool
    demand_mbps: np.ndarray

    @property
    def n(self) -> int:
        return self.x_m.shape[0]

    def is_intruder(self) -> np.ndarray:
        return ~self.registered

    def ue_view(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(x_m, y_m, height_m, served) for the radio kernels: aerial UEs."""
        return self.x_m, self.y_m, self.z_m, self.served & self.active

    def max_speed_mps(self) -> float:
        return float(self.speed_mps.max()) if self.n else 0.0


def _speed(dist, rng: np.random.Generator, k: int) -> np.ndarray:
    a, b = dist.as_pair()
    if dist.kind == "normal":
        v = rng.normal(a, b, size=k)
        v = np.clip(v, 1e-3 * max(a, 1e-3), a + 6 * b)
        return v
    return a + (b - a) * rng.random(k)


def _corridor(rng, area, legs: int, z: float) -> np.ndarray:
    x0, y0, w, h = area
    a = np.array([x0 + w * rng.random(), y0 + h * rng.random()])
    b = np.array([x0 + w * rng.random(), y0 + h * rng.random()])
    corner = np.array([b[0], a[1]])
    la = np.linalg.norm(corner - a)
    lb = np.linalg.norm(b - corner)
    total = la + lb
    pts = [a]
    for j in range(1, legs + 1):
        s = total * j / legs
        if s <= la and la > 0:
            pts.append(a + (corner - a) * (s / la))
        else:
            pts.append(corner + (b - corner) * ((s - la) / lb if lb > 0 else 0.0))
    out = pts + pts[-2:0:-1]  # forward, then back (loop closes at the depot)
    return np.column_stack([np.array(out), np.full(len(out), z)])


def _survey(rng, area, legs: int, z: float, side: float) -> np.ndarray:
    x0, y0, w, h = area
    side = min(side, w, h)
    cx = x0 + side / 2 + (w - side) * rng.random()
    cy = y0 + side / 2 + (h - side) * rng.random()
    xs = cx - side / 2 + side * (np.arange(legs) + 0.5) / legs
    pts = []
    for j, x in enumerate(xs):
        ylo, yhi = cy - side / 2, cy + side / 2
        pts += [(x, ylo), (x, yhi)] if j % 2 == 0 else [(x, yhi), (x, ylo)]
    return np.column_stack([np.array(pts), np.full(len(pts), z)])


def _zigzag(rng, area, legs: int, zlo: float, zhi: float) -> np.ndarray:
    x0, y0, w, h = area
    k = max(legs, 2)
    return np.column_stack([x0 + w * rng.random(k), y0 + h * rng.random(k), zlo + (zhi - zlo) * rng.random(k)])


def build_drones(catalog, groups, area, rng: np.random.Generator, *, survey_side_m: float | None = None,
                 traffic_names: tuple[str, ...] | None = None) -> DroneArrays:
    """Drones for ``groups`` = [(drone archetype, count), ...] (or dicts ``{archetype, count}``) in ``area``
    (a ``dientine.grid.Grid`` or ``(x0, y0, width, height)``)."""
    from agents.users import area_of  # noqa: PLC0415  (avoid a cycle at import time)

    box = area_of(area)
    names = tuple(catalog.drones.archetypes)
    tnames = traffic_names or tuple(catalog.users.traffic_classes)
    side = survey_side_m if survey_side_m is not None else min(box[2], box[3]) / 5.0
    if not side > 0:
        raise ValueError(f"survey_side_m must be > 0, found {side!r}")
    paths, arch, speed, reg, traffic, rcs = [], [], [], [], [], []
    for g in groups:
        name, count = (g["archetype"], g["count"]) if isinstance(g, dict) else g
        if name not in catalog.drones.archetypes:
            raise KeyError(f"unknown drone archetype '{name}'; known: {sorted(names)}")
        if int(count) != count or count < 0:
            raise ValueError(f"drone group '{name}': count must be an integer >= 0, found {count!r}")
        dc = catalog.drones.archetypes[name]
        legs = int(float(dc.legs))
        zlo, zhi = float(dc.altitude_m.low), float(dc.altitude_m.high)
        for _ in range(int(count)):
            z = zlo + (zhi - zlo) * rng.random()
            if dc.pattern == "corridor":
                paths.append(_corridor(rng, box, legs, z))
            elif dc.pattern == "survey":
                paths.append(_survey(rng, box, legs, z, side))
            else:
                paths.append(_zigzag(rng, box, legs, zlo, zhi))
        k = int(count)
        arch += [names.index(name)] * k
        speed.append(_speed(dc.speed_mps, rng, k))
        reg += [dc.registered] * k
        traffic += [tnames.index(dc.traffic) if dc.traffic is not None else -1] * k
        rcs.append(float(dc.rcs_dbsm) + float(dc.rcs_std_db) * rng.standard_normal(k))
    n = len(paths)
    max_wp = max((p.shape[0] for p in paths), default=1)
    wp = np.zeros((n, max_wp, 3))
    nwp = np.zeros(n, np.int32)
    for i, p in enumerate(paths):
        wp[i, :p.shape[0]] = p
        nwp[i] = p.shape[0]
    start = wp[:, 0, :] if n else np.zeros((0, 3))
    registered = np.array(reg, bool)
    traffic_a = np.array(traffic, np.int16)
    return DroneArrays(
        names, start[:, 0].copy(), start[:, 1].copy(), start[:, 2].copy(),
        np.concatenate(speed) if speed else np.zeros(0), np.array(arch, np.int16), registered,
        registered & (traffic_a >= 0), traffic_a, np.concatenate(rcs) if rcs else np.zeros(0), wp, nwp,
        np.minimum(1, nwp - 1).astype(np.int32), np.ones(n, bool), np.zeros(n))


@numba.njit(cache=True)
def _fly(x, y, z, speed, wp, nwp, nxt, active, dt):
    for i in range(x.shape[0]):
        if not active[i] or nwp[i] < 2 or speed[i] <= 0.0:
            continue
        rem = speed[i] * dt
        for _ in range(100_000):
            if rem <= 0.0:
                break
            k = nxt[i]
            dx = wp[i, k, 0] - x[i]
            dy = wp[i, k, 1] - y[i]
            dz = wp[i, k, 2] - z[i]
            d = np.sqrt(dx * dx + dy * dy + dz * dz)
            if d <= rem:
                x[i] = wp[i, k, 0]
                y[i] = wp[i, k, 1]
                z[i] = wp[i, k, 2]
                rem -= d
                nxt[i] = (k + 1) % nwp[i]
            else:
                f = rem / d
                x[i] += dx * f
                y[i] += dy * f
                z[i] += dz * f
                rem = 0.0


def step_drones(drones: DroneArrays, dt_s: float) -> None:
    """Fly every active drone for ``dt_s`` seconds along its waypoint loop (deterministic)."""
    if not np.isfinite(dt_s) or dt_s < 0:
        raise ValueError(f"step_drones: dt_s must be a finite number >= 0, found {dt_s!r}")
    if drones.n == 0 or dt_s == 0:
        return
    _fly(drones.x_m, drones.y_m, drones.z_m, drones.speed_mps, drones.waypoints, drones.n_waypoints,
         drones.next_wp, drones.active, float(dt_s))


def aerial_path_loss_db(drones: DroneArrays, bs_x_m, bs_y_m, bs_h_m, fc_ghz: float, *, scenario: str = "UMa-AV",
                        los=True) -> np.ndarray:
    """Mean path loss (dB) from every drone (rows) to every base station (columns), treating drones as aerial
    UEs: ``dientine.radio.path_loss_db`` with a ``-AV`` scenario, i.e. 3GPP TR 36.777 Table B-2 above the
    TR 38.901 UE-height range and TR 38.901 below it (REFERENCES.md §2). ``los`` broadcasts to (n, m)."""
    from dientine.radio import path_loss_db  # noqa: PLC0415  (radio is heavy; import on use)

    bx = np.atleast_1d(np.asarray(bs_x_m, dtype=np.float64))
    by = np.atleast_1d(np.asarray(bs_y_m, dtype=np.float64))
    bh = np.broadcast_to(np.asarray(bs_h_m, dtype=np.float64), bx.shape)
    d2d = np.hypot(drones.x_m[:, None] - bx[None, :], drones.y_m[:, None] - by[None, :])
    los_b = np.broadcast_to(np.asarray(los, dtype=bool), d2d.shape)
    return path_loss_db(scenario, d2d, bh[None, :], drones.z_m[:, None], fc_ghz, los_b)


@numba.njit(cache=True)
def _demand(served, active, traffic, rate_mbps, out):
    for i in range(served.shape[0]):
        out[i] = rate_mbps[traffic[i]] if served[i] and active[i] else 0.0


def update_drone_demand(drones: DroneArrays, table) -> None:
    """Served drones demand their traffic class's constant rate (``cbr``/``xr`` rate, Mbit/s); others 0."""
    _demand(drones.served, drones.active, drones.traffic, table.rate_mbps, drones.demand_mbps)


__all__ = ["DroneArrays", "PATTERNS", "aerial_path_loss_db", "build_drones", "step_drones", "update_drone_demand"]
