"""Threshold feedback: bounded, step-limited, moves the right way, settles, versioned and revertible."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decisions.feedback import Outcome, ThresholdBook, ThresholdSpec, propose

SLEEP = ThresholdSpec(name="threshold_sleep_load", default=0.10, min=0.02, max=0.40, step=0.05, aggressive="up")


def outcome(measure, target=0.01, scale=0.01):
    return Outcome(qos_measure=measure, qos_target=target, qos_scale=scale)


def test_moves_towards_aggressive_with_slack_and_back_on_violation():
    up, _ = propose(SLEEP, 0.10, 0, outcome(0.0))
    assert up > 0.10 and up - 0.10 <= SLEEP.step + 1e-12
    down, why = propose(SLEEP, 0.10, 0, outcome(0.015))
    assert down < 0.10 and "violated" in why
    hard, why = propose(SLEEP, 0.10, 50, outcome(0.5))  # far beyond the target: full safe step despite small a_k
    assert hard == pytest.approx(0.05) and "full safe step" in why


def test_direction_down_mirrors():
    spec = SLEEP.model_copy(update={"aggressive": "down"})
    assert propose(spec, 0.10, 0, outcome(0.0))[0] < 0.10
    assert propose(spec, 0.10, 0, outcome(0.05))[0] > 0.10


def test_hand_checked_step():
    # a_0 = 0.5, k = 3, gamma = 0.7: a_k = 0.5 / 4^0.7; slack 0.5; span 0.38 -> delta = a_k * 0.5 * 0.38
    new, _ = propose(SLEEP, 0.10, 3, outcome(0.005))
    assert new == pytest.approx(0.10 + 0.5 / 4 ** 0.7 * 0.5 * 0.38)


@settings(max_examples=300, deadline=None)
@given(st.floats(0.02, 0.40), st.integers(0, 1000), st.floats(-10, 10), st.floats(0.001, 1))
def test_never_leaves_bounds_nor_exceeds_step(value, k, measure, scale):
    new, _ = propose(SLEEP, value, k, Outcome(qos_measure=measure, qos_target=0.0, qos_scale=scale))
    assert SLEEP.min <= new <= SLEEP.max
    assert abs(new - value) <= SLEEP.step + 1e-12


def test_settles_near_the_qos_boundary_of_a_monotone_plant():
    # unserved share grows with the sleep threshold: f(theta) = 0.1 * theta**2; target 0.004 -> theta* = 0.2
    book = ThresholdBook({"threshold_sleep_load": SLEEP})
    trajectory = []
    for _day in range(60):
        theta = book.values["threshold_sleep_load"]
        book.update(["threshold_sleep_load"], outcome(0.1 * theta ** 2, target=0.004, scale=0.004))
        trajectory.append(book.values["threshold_sleep_load"])
    assert trajectory[-1] == pytest.approx(0.2, abs=0.01)
    late_moves = [abs(b - a) for a, b in zip(trajectory[-11:-1], trajectory[-10:], strict=True)]
    assert max(late_moves) < 0.005  # settled


def test_history_versions_and_revert():
    book = ThresholdBook.from_mapping({"threshold_sleep_load": {"default": 0.1, "min": 0.02, "max": 0.4,
                                                                "step": 0.05, "unit": "fraction"}})
    book.update(["threshold_sleep_load"], outcome(0.0))
    book.update(["threshold_sleep_load"], outcome(0.0))
    assert book.version("threshold_sleep_load") == 2
    first = book.history[0].new
    change = book.revert("threshold_sleep_load", 1)
    assert book.values["threshold_sleep_load"] == first and change.version == 3 and change.reverted_from == 2
    book.revert("threshold_sleep_load", 0)
    assert book.values["threshold_sleep_load"] == 0.1
    with pytest.raises(ValueError, match="version 9 does not exist"):
        book.revert("threshold_sleep_load", 9)
    with pytest.raises(KeyError, match="unknown threshold"):
        book.update(["threshold_nope"], outcome(0.0))


@pytest.mark.parametrize("body, message", [
    ({"default": 0.5, "min": 0.0, "max": 0.4, "step": 0.1}, "default 0.5 outside"),
    ({"default": 0.1, "min": 0.4, "max": 0.0, "step": 0.1}, "expected finite min < max"),
    ({"default": 0.1, "min": 0.0, "max": 0.4, "step": 1.0}, "step 1.0 larger than the range"),
])
def test_bad_specs_are_refused(body, message):
    with pytest.raises(ValueError, match=message):
        ThresholdSpec(name="t", **body)
