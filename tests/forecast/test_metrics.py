"""Metrics against hand calculations on a four-point series."""

import math

import numpy as np
import pytest

from coreduce.forecast import metrics as M

Y = [1.0, 2.0, 3.0, 4.0]
F = [2.0, 2.0, 2.0, 2.0]  # errors y - f: -1, 0, 1, 2


def test_point_metrics_by_hand():
    assert M.mae(Y, F) == pytest.approx((1 + 0 + 1 + 2) / 4)  # 1.0
    assert M.rmse(Y, F) == pytest.approx(math.sqrt((1 + 0 + 1 + 4) / 4))  # sqrt(1.5)
    # sMAPE = 200 * mean(|e| / (|y| + |f|)) = 200 * (1/3 + 0 + 1/5 + 2/6) / 4
    assert M.smape(Y, F) == pytest.approx(200 * (1 / 3 + 0 + 1 / 5 + 2 / 6) / 4)
    # MAPE = 100 * mean(|e| / y) = 100 * (1 + 0 + 1/3 + 1/2) / 4
    assert M.mape(Y, F) == pytest.approx(100 * (1 + 0 + 1 / 3 + 1 / 2) / 4)


def test_mase_scale_is_in_sample_seasonal_naive():
    # history 1, 3, 2, 5, 4 with season 1: |3-1|, |2-3|, |5-2|, |4-5| = 2, 1, 3, 1 -> 7/4
    assert M.naive_scale([1, 3, 2, 5, 4], season=1) == pytest.approx(1.75)
    assert M.mase(Y, F, 1.75) == pytest.approx(1.0 / 1.75)


def test_pinball_and_coverage_by_hand():
    # tau 0.9, d = y - q = -1, 0, 1, 2: max(0.9 d, -0.1 d) = 0.1, 0, 0.9, 1.8 -> 2.8 / 4
    assert M.pinball(Y, F, 0.9) == pytest.approx(0.7)
    # 1 in [0, 1.5], 2 in [2, 2], 3 in [2.5, 3], 4 not in [5, 6] -> 3/4
    assert M.coverage(Y, [0, 2, 2.5, 5], [1.5, 2, 3, 6]) == pytest.approx(0.75)


def test_brier_and_skill_by_hand():
    # (0.9 - 1)^2 = 0.01, (0.2 - 0)^2 = 0.04 -> 0.025
    assert M.brier([0.9, 0.2], [True, False]) == pytest.approx(0.025)
    assert M.skill(8.0, 10.0) == pytest.approx(0.2)


def test_gaps_are_not_scored():
    assert M.mae([1.0, np.nan, 3.0], [2.0, 5.0, np.nan]) == pytest.approx(1.0)
    assert math.isnan(M.mae([np.nan], [1.0]))
