"""Temporal downscaling: totals conserved, hand-made profiles followed, bad input named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from coreduce.account.temporal import downscale
from coreduce.errors import CoreduceError


def _inv(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    """entity, sector, period (start/end dates), amount [t]."""
    return pd.DataFrame(
        {
            "entity": [r[0] for r in rows],
            "sector": [r[1] for r in rows],
            "period_start": pd.to_datetime([r[2].split("/")[0] for r in rows], utc=True),
            "period_end": pd.to_datetime([r[2].split("/")[1] for r in rows], utc=True),
            "pollutant": "CO2",
            "amount": [r[3] for r in rows],
            "unit": "t",
            "method": "A*EF*(1-eta)",
        }
    )


PROFILE = pd.DataFrame(
    {
        "sector": "power",
        "date": pd.date_range("2019-01-01", periods=4, freq="D"),
        # weights 1:2:4:1 -> shares 1/8, 2/8, 4/8, 1/8 (dyadic: exact in floating point)
        "share": [1.0, 2.0, 4.0, 1.0],
        "source": "hand-made",
    }
)


def test_follows_profile_exactly():
    inv = _inv([("plant", "power", "2019-01-01/2019-01-05", 8.0)])
    out = downscale(inv, PROFILE)
    # 8 t x (1/8, 2/8, 4/8, 1/8) = 1, 2, 4, 1 t
    assert out["amount"].tolist() == [1.0, 2.0, 4.0, 1.0]
    assert out["period_start"].dt.strftime("%Y-%m-%d").tolist() == [
        "2019-01-01",
        "2019-01-02",
        "2019-01-03",
        "2019-01-04",
    ]
    assert (out["period_end"] - out["period_start"] == pd.Timedelta(days=1)).all()
    assert (out["method"] == "A*EF*(1-eta) + downscaled(hand-made)").all()
    assert out["amount"].sum() == 8.0


def test_shares_renormalised_over_the_rows_own_period():
    # A row covering only Jan 2-3 gets weights 2:4 -> 1/3, 2/3 of 3 t = 1, 2 t
    inv = _inv([("plant", "power", "2019-01-02/2019-01-04", 3.0)])
    out = downscale(inv, PROFILE)
    np.testing.assert_allclose(out["amount"], [1.0, 2.0], rtol=1e-15)


def test_flat_where_no_profile_and_short_rows_pass_through():
    inv = _inv(
        [
            ("home", "residential", "2019-01-01/2019-01-05", 10.0),  # no residential profile: 2.5 t/day
            ("plant", "power", "2019-01-03/2019-01-04", 7.0),  # already one day: unchanged
        ]
    )
    out = downscale(inv, PROFILE)
    flat = out[out["entity"] == "home"]
    assert flat["amount"].tolist() == [2.5, 2.5, 2.5, 2.5]
    assert (flat["method"] == "A*EF*(1-eta) + downscaled(flat)").all()
    day = out[out["entity"] == "plant"]
    assert day["amount"].tolist() == [7.0]
    assert day["method"].tolist() == ["A*EF*(1-eta)"]


def test_conserves_totals_of_a_year():
    rng = np.random.default_rng(7)
    days = pd.date_range("2019-01-01", "2019-12-31", freq="D")
    prof = pd.DataFrame({"sector": "industry", "date": days, "share": rng.uniform(0.5, 1.5, len(days))})
    amounts = rng.uniform(1e3, 1e7, 50)
    inv = _inv(
        [(f"e{i}", "industry" if i % 2 else "transport", "2019-01-01/2020-01-01", a) for i, a in enumerate(amounts)]
    )
    out = downscale(inv, prof)
    assert len(out) == 50 * 365
    per_row = out.groupby("entity", sort=False)["amount"].sum()
    np.testing.assert_allclose(per_row.loc[inv["entity"]].to_numpy(), amounts, rtol=1e-13)
    assert out["amount"].sum() == pytest.approx(amounts.sum(), rel=1e-13)


def test_missing_profile_day_is_an_error():
    inv = _inv([("plant", "power", "2019-01-01/2019-01-07", 6.0)])  # profile stops on Jan 4
    with pytest.raises(CoreduceError, match=r"'power' has no value for 2019-01-05"):
        downscale(inv, PROFILE)


def test_unaligned_multi_day_row_is_an_error():
    inv = _inv([("plant", "power", "2019-01-01T06:00:00/2019-01-04", 6.0)])
    with pytest.raises(CoreduceError, match="must start and end at 00:00 UTC"):
        downscale(inv, PROFILE)


def test_unknown_freq():
    with pytest.raises(CoreduceError, match="freq 'hour'"):
        downscale(_inv([("p", "power", "2019-01-01/2019-01-03", 1.0)]), PROFILE, freq="hour")
