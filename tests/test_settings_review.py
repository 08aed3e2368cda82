"""MNISTQ_REVIEW_BELOW: the confidence under which the page flags a result for a second look."""

from __future__ import annotations

import pytest

from common.settings import Settings


def test_review_below_defaults_to_the_measured_value_and_can_be_set() -> None:
    assert Settings.from_env({}).review_below == 0.9
    assert Settings.from_env({"MNISTQ_REVIEW_BELOW": "0.75"}).review_below == 0.75


@pytest.mark.parametrize("raw", ["1.5", "-0.1", "high"])
def test_a_review_threshold_outside_0_to_1_is_refused_with_its_name(raw: str) -> None:
    with pytest.raises(ValueError, match="MNISTQ_REVIEW_BELOW"):
        Settings.from_env({"MNISTQ_REVIEW_BELOW": raw})
