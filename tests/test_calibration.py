"""The calibration checks `mnistq evaluate` reports: how much to review to find the errors."""

from __future__ import annotations

import numpy as np
import pytest

from core.calibration import review_catch, review_to_catch

CONFIDENCE = np.array([0.2, 0.35, 0.5, 0.6, 0.61234, 0.7, 0.8, 0.9, 0.95, 0.99])
CORRECT = np.array([False, True, False, True, False, True, True, False, True, True])
"""Ten answers, four of them wrong (at 0.2, 0.5, 0.61234 and 0.9)."""


def test_the_review_that_finds_three_quarters_of_the_errors_and_its_threshold() -> None:
    confidence, correct = CONFIDENCE, CORRECT
    share, below = review_to_catch(confidence, correct)
    assert below == 0.6124  # just above the third of the four errors, on the 4-decimal grid
    assert share == 0.5  # five answers flagged under it, three of them wrong
    flagged = confidence < below
    assert (~correct & flagged).sum() / (~correct).sum() >= 0.75
    assert review_catch(confidence, correct, fraction=share) == 0.75


@pytest.mark.parametrize("goal, below", [(0.25, 0.2001), (1.0, 0.9001)])
def test_the_goal_moves_the_threshold(goal: float, below: float) -> None:
    assert review_to_catch(CONFIDENCE, CORRECT, goal)[1] == below


def test_nothing_to_review_without_errors_and_never_a_threshold_above_one() -> None:
    assert review_to_catch(np.array([0.4, 0.9]), np.array([True, True])) == (0.0, 0.0)
    share, below = review_to_catch(np.array([0.5, 1.0]), np.array([True, False]))
    assert below == 1.0 and share == 0.5  # an error read as surely as can be is not flagged
