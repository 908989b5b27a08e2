"""Threshold feedback: adapt a decision table's threshold inputs from the measured outcomes of its decisions.

A threshold (e.g. ``threshold_sleep_load``) makes a policy more or less *aggressive*: a higher sleep-load
threshold puts more cells to sleep, saving more energy and risking more QoS. Each outcome window reports the
QoS measure the policy must keep (e.g. the share of demand left unserved, or the 5th-percentile rate deficit)
and its target. The update is a projected stochastic-approximation step on the constraint
``qos_measure <= qos_target`` (Robbins & Monro, "A stochastic approximation method", Ann. Math. Statist. 22(3),
1951; projection onto a box as in Kushner & Yin, "Stochastic Approximation and Recursive Algorithms and
Applications", 2nd ed., Springer 2003, ch. 5):

    slack_k   = (qos_target − qos_measure_k) / qos_scale          (> 0: QoS to spare, < 0: violated)
    θ_{k+1}   = Π_[min, max]( θ_k + s · clip(a_k · slack_k · span, −step, +step) ),   a_k = a_0 / (k + 1)^γ

with ``s`` = +1 when raising θ is more aggressive and −1 otherwise, ``span = max − min``. Violations move θ
towards the conservative side at once, with the undecayed gain ``a_0`` (``a_k`` is replaced by
``max(a_k, a_0)`` when slack < 0: safety does not fade with the number of updates); slack moves it towards the
aggressive side, with steps that shrink (Σ a_k = ∞, Σ a_k² < ∞ for 1/2 < γ ≤ 1) so that θ settles where
violations stop. A violation larger than ``hard_violation``
(in units of ``qos_scale``) takes the full conservative step regardless of a_k (safety first). Every change is
recorded with its version, reason and evidence, and can be reverted. θ never leaves [min, max].

``a_0``, ``γ``, ``step`` and the bounds are policy parameters (operator-tunable assumptions), not physics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ThresholdSpec(BaseModel):
    """Bounds and adaptation settings of one threshold input."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    default: float
    min: float
    max: float
    step: float = Field(gt=0, description="largest change in one update")
    aggressive: Literal["up", "down"] = Field(
        "up", description="which way of moving the threshold makes the policy act more often")
    gain: float = Field(0.5, gt=0, description="a_0 of the step-size sequence a_k = a_0/(k+1)^gamma")
    gamma: float = Field(0.7, gt=0.5, le=1.0, description="step-size decay exponent (1/2 < gamma <= 1)")
    hard_violation: float = Field(1.0, gt=0, description="slack below -hard_violation takes a full safe step")

    @model_validator(mode="after")
    def _bounds(self) -> ThresholdSpec:
        if not (math.isfinite(self.min) and math.isfinite(self.max) and self.min < self.max):
            raise ValueError(f"{self.name}: expected finite min < max, found min={self.min}, max={self.max}")
        if not (self.min <= self.default <= self.max):
            raise ValueError(f"{self.name}: default {self.default} outside [{self.min}, {self.max}]")
        if self.step > self.max - self.min:
            raise ValueError(f"{self.name}: step {self.step} larger than the range {self.max - self.min}")
        return self


class Outcome(BaseModel):
    """What one decision window measured for the thresholds that fed it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    qos_measure: float = Field(description="the QoS quantity the policy must keep low (e.g. unserved share)")
    qos_target: float = Field(description="its target: qos_measure <= qos_target")
    qos_scale: float = Field(gt=0, description="a normalising scale of the QoS quantity (same unit)")
    benefit: float | None = Field(None, description="what the action gained (e.g. energy saved, kWh); logged")
    window: str = Field("", description="label of the outcome window, e.g. the simulated interval")

    @model_validator(mode="after")
    def _finite(self) -> Outcome:
        for name in ("qos_measure", "qos_target"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name}: expected a finite number, found {getattr(self, name)!r}")
        return self

    @property
    def slack(self) -> float:
        return (self.qos_target - self.qos_measure) / self.qos_scale


@dataclass(frozen=True)
class ThresholdChange:
    """One versioned change of a threshold."""

    name: str
    version: int
    old: float
    new: float
    reason: str
    slack: float
    benefit: float | None
    window: str
    reverted_from: int | None = None


def propose(spec: ThresholdSpec, value: float, n_updates: int, outcome: Outcome) -> tuple[float, str]:
    """The next value of a threshold now at ``value`` after ``n_updates`` earlier updates, and the reason."""
    if not (spec.min <= value <= spec.max):
        raise ValueError(f"{spec.name}: current value {value} outside [{spec.min}, {spec.max}]")
    if n_updates < 0:
        raise ValueError(f"{spec.name}: n_updates must be >= 0, found {n_updates}")
    sign = 1.0 if spec.aggressive == "up" else -1.0
    slack = outcome.slack
    span = spec.max - spec.min
    if slack < -spec.hard_violation:
        delta = -spec.step
        why = f"QoS violated by {-slack:.3g} x scale (> {spec.hard_violation:g}): full safe step"
    else:
        a_k = spec.gain / (n_updates + 1) ** spec.gamma
        if slack < 0:
            # safety first: a violation moves back with the undecayed gain a_0, however many updates came before
            a_k = max(a_k, spec.gain)
            why = f"QoS violated by {-slack:.3g} x scale: step {a_k:.3g} towards conservative"
        else:
            why = f"QoS slack {slack:.3g} x scale: step {a_k:.3g} towards aggressive"
        delta = max(-spec.step, min(spec.step, a_k * slack * span))
    new = min(spec.max, max(spec.min, value + sign * delta))
    if new in (spec.min, spec.max) and new != value + sign * delta:
        why += f"; held at the bound {new:g}"
    return new, why


@dataclass
class ThresholdBook:
    """Current threshold values with their full, versioned history (in memory; the engine persists it)."""

    specs: dict[str, ThresholdSpec]
    values: dict[str, float] = field(default_factory=dict)
    history: list[ThresholdChange] = field(default_factory=list)
    n_updates: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, spec in self.specs.items():
            self.values.setdefault(name, spec.default)
            self.n_updates.setdefault(name, 0)
            if not (spec.min <= self.values[name] <= spec.max):
                raise ValueError(f"{name}: value {self.values[name]} outside [{spec.min}, {spec.max}]")

    @classmethod
    def from_mapping(cls, specs: dict[str, dict]) -> ThresholdBook:
        """From ``{name: {default, min, max, step, aggressive?, ...}}`` (e.g. the bundled thresholds.yaml);
        keys the spec does not know (unit, source, rationale) are ignored."""
        known = set(ThresholdSpec.model_fields)
        return cls({name: ThresholdSpec(name=name, **{k: v for k, v in body.items() if k in known})
                    for name, body in specs.items()})

    def version(self, name: str) -> int:
        return sum(1 for c in self.history if c.name == name)

    def update(self, names: list[str], outcome: Outcome) -> list[ThresholdChange]:
        """Adapt each named threshold from one outcome; returns the changes (unchanged values are not logged)."""
        changes = []
        for name in names:
            if name not in self.specs:
                raise KeyError(f"unknown threshold {name!r}; known: {sorted(self.specs)}")
            old = self.values[name]
            new, why = propose(self.specs[name], old, self.n_updates[name], outcome)
            self.n_updates[name] += 1
            if new != old:
                change = ThresholdChange(name, self.version(name) + 1, old, new, why, outcome.slack,
                                         outcome.benefit, outcome.window)
                self.values[name] = new
                self.history.append(change)
                changes.append(change)
        return changes

    def revert(self, name: str, to_version: int, reason: str = "reverted by operator") -> ThresholdChange:
        """Set ``name`` back to its value at ``to_version`` (0 = default); recorded as a new version."""
        if name not in self.specs:
            raise KeyError(f"unknown threshold {name!r}")
        current = self.version(name)
        if not 0 <= to_version <= current:
            raise ValueError(f"{name}: version {to_version} does not exist (latest is {current})")
        target = self.specs[name].default
        for change in self.history:
            if change.name == name and change.version <= to_version:
                target = change.new
        change = ThresholdChange(name, current + 1, self.values[name], target, reason, 0.0, None, "",
                                 reverted_from=current)
        self.values[name] = target
        self.history.append(change)
        return change
