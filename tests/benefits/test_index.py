"""Entropy weights, TOPSIS and coupling coordination on a small matrix by hand (issue 17 item 3)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from coreduce.benefits import coupling_coordination, entropy_weights, normalise, topsis
from coreduce.benefits.index import ees_index

M = pd.DataFrame({"cut": [10.0, 20.0, 30.0], "cost": [5.0, 3.0, 4.0]}, index=["a", "b", "c"])


def test_normalise_benefit_and_cost():
    n = normalise(M, {"cut": "benefit", "cost": "cost"})
    assert list(n["cut"]) == [0.0, 0.5, 1.0]
    assert list(n["cost"]) == [0.0, 1.0, 0.5]  # (5-x)/(5-3)


def test_entropy_weights_by_hand():
    n = normalise(M, {"cut": "benefit", "cost": "cost"})
    # cut: p = 0, 1/3, 2/3; cost: p = 0, 2/3, 1/3 -> same entropy -> equal weights
    e = -(1 / 3 * math.log(1 / 3) + 2 / 3 * math.log(2 / 3)) / math.log(3)
    w = entropy_weights(n)
    assert w["cut"] == pytest.approx(0.5) and w["cost"] == pytest.approx(0.5)
    # an unequal case: x = [1, 1, 2] -> p = .25, .25, .5
    w2 = entropy_weights(pd.DataFrame({"x": [1.0, 1.0, 2.0], "y": [0.0, 1.0, 2.0]}))
    ex = -(2 * 0.25 * math.log(0.25) + 0.5 * math.log(0.5)) / math.log(3)
    ey = e
    assert w2["x"] == pytest.approx((1 - ex) / ((1 - ex) + (1 - ey)))


def test_topsis_by_hand():
    n = normalise(M, {"cut": "benefit", "cost": "cost"})
    t = topsis(n, {"cut": 0.5, "cost": 0.5})
    # v: a (0,0), b (.25,.5), c (.5,.25); ideal (.5,.5), anti (0,0)
    dpa, dma = math.hypot(0.5, 0.5), 0.0
    dpb, dmb = 0.25, math.hypot(0.25, 0.5)
    assert t.loc["a", "score"] == pytest.approx(dma / (dpa + dma))
    assert t.loc["b", "score"] == pytest.approx(dmb / (dpb + dmb))
    assert t.loc["c", "score"] == pytest.approx(t.loc["b", "score"])  # symmetric
    assert t.loc["a", "rank"] == 3


def test_coupling_coordination_by_hand():
    r = coupling_coordination([0.4, 0.9])
    c = 2 * math.sqrt(0.36) / 1.3
    t = 0.65
    assert r["C"] == pytest.approx(c) and r["T"] == pytest.approx(t) and r["D"] == pytest.approx(math.sqrt(c * t))
    r3 = coupling_coordination([0.5, 0.5, 0.5])
    assert r3["C"] == pytest.approx(1.0) and r3["D"] == pytest.approx(math.sqrt(0.5))


def test_ees_index_with_subsystems():
    out = ees_index(M, {"cut": "benefit", "cost": "cost"}, {"cut": "environment", "cost": "economy"})
    assert list(out["environment"]) == [0.0, 0.5, 1.0]
    assert out.loc["b", "coordination"] == pytest.approx(coupling_coordination([0.5, 1.0])["D"])
