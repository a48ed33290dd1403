"""Quota, compliance, carbon cost, trading rule, carbon tax and green power (issue 17 item 4)."""

from __future__ import annotations

import pandas as pd
import pytest

from coreduce import coefficients
from coreduce.account import FactorLibrary
from coreduce.errors import InputError
from coreduce.policy import (
    benchmark_quota,
    carbon_cost,
    carbon_tax,
    compliance_position,
    grandfathering_quota,
    plan_quota,
    scope2_green_power,
    trading_decision,
)


def test_benchmark_quota_by_hand():
    # 2,000,000 MWh x 0.8177 t/MWh x 1.05 (air cooling) x 0.98 + 100,000 GJ x 0.11 t/GJ
    q = benchmark_quota(2e6, 0.8177, cooling=1.05, heat_correction=0.98, heat_gj=1e5, heat_benchmark=0.11)
    assert q == pytest.approx(2e6 * 0.8177 * 1.05 * 0.98 + 1e5 * 0.11)
    with pytest.raises(InputError):
        benchmark_quota(-1, 0.8)


def test_plan_quota_reads_the_cited_benchmark():
    r = plan_quota("coal_conventional_above_300MW", 2022, 1e6)
    assert r["benchmark"] == 0.8177 and r["quota_t"] == pytest.approx(817_700)
    assert "国环规气候〔2023〕1号" in r["source"] and r["verified"] == "no"
    s = coefficients.load("ets_benchmarks")
    assert s.value(plan="cn_ets_2021_2022", unit_class="gas", year=2021, product="electricity") == 0.3920


def test_grandfathering_position_and_cost():
    q = grandfathering_quota([100.0, 120.0, 110.0], reduction=0.05)
    assert q == pytest.approx(110 * 0.95)
    inv = pd.DataFrame({"pollutant": ["CO2", "CO2", "SO2"], "scope": ["1", "2", "1"], "amount": [120.0, 30.0, 1.0]})
    pos = compliance_position(q, inv)
    assert pos["emissions_t"] == 120.0  # scope 1 only
    assert pos["position_t"] == pytest.approx(104.5 - 120)
    cost = carbon_cost(pos["position_t"], {"low": 60, "high": 100})
    assert cost == {"low": pytest.approx(15.5 * 60), "high": pytest.approx(15.5 * 100)}
    assert carbon_cost(10, {"p": 80})["p"] == -800  # a surplus sold is revenue


def test_trading_rule_by_hand():
    # deficit 1000 t, price now 80, carry 5 % -> 84; forecast 85 +/- 10, risk aversion 0.5 -> 90 -> buy now
    d = trading_decision(-1000, 80, 85, 10, risk_aversion=0.5, carry=0.05)
    assert d["action"] == "buy now" and d["price_now_adj"] == pytest.approx(84)
    assert d["risk_adjusted_later"] == pytest.approx(90)
    assert d["expected_gain_vs_other_choice"] == pytest.approx(6000)
    assert trading_decision(-1000, 95, 85, 10, risk_aversion=0.5, carry=0.05)["action"] == "wait"
    # surplus: sell now at 80 vs (85 - 5)/1.05 = 76.19 -> sell
    s = trading_decision(500, 80, 85, 10, risk_aversion=0.5, carry=0.05)
    assert s["action"] == "sell now" and s["risk_adjusted_later"] == pytest.approx(80 / 1.05)


def test_carbon_tax_pass_through_by_hand():
    t = pd.DataFrame(
        {
            "name": ["steel", "cement"],
            "emissions_t": [1000.0, 500.0],
            "output": [400.0, 1000.0],
            "pass_through": [0.6, 0.9],
        }
    )
    r = carbon_tax(t, 50).set_index("name")
    assert r.loc["steel", "tax"] == 50_000 and r.loc["steel", "passed"] == pytest.approx(30_000)
    assert r.loc["steel", "borne"] == pytest.approx(20_000)
    assert r.loc["steel", "price_increase"] == pytest.approx(0.6 * 50_000 / 400)
    assert r.loc["cement", "cost_per_output"] == pytest.approx(25)
    bad = t.assign(pass_through=[0.5, 1.5])
    with pytest.raises(InputError) as e:
        carbon_tax(bad, 50)
    assert (e.value.row, e.value.column) == (3, "pass_through")


def test_green_power_location_vs_market_uses_the_one_resolver():
    lib = FactorLibrary.default()
    loc = lib.resolve_grid_factor("CN", 2022, "location")
    mkt = lib.resolve_grid_factor("CN", 2022, "market")
    r = scope2_green_power(1000, 300, "CN", 2022, lib=lib)
    assert (loc.value, mkt.value) == (0.5366, 0.5856)  # MEE & NBS 2022 national; excl. market-traded non-fossil
    assert r["location_t"] == pytest.approx(1000 * 0.5366)
    assert r["market_t"] == pytest.approx(700 * 0.5856)
    with pytest.raises(InputError):
        scope2_green_power(100, 200, "CN", 2022, lib=lib)
