"""Citizen carbon credits: calculator, pseudonymous ledger on the hash chain, aggregation (issue 17 item 6)."""

from __future__ import annotations

import pandas as pd
import pytest

from coreduce.errors import InputError
from coreduce.ledger import Ledger
from coreduce.policy.credits import aggregate_credits, green_travel, pseudonym, record_credits
from coreduce.store import Store

TRIPS = pd.DataFrame({"citizen": ["alice", "bob", "alice"], "mode": ["metro"] * 3, "trips": [10, 4, 6]})


def test_green_travel_per_trip_by_hand():
    r = green_travel(TRIPS, "guangzhou_metro_2015_mean")
    assert list(r["reduction_kg"]) == pytest.approx([10 * 0.5155, 4 * 0.5155, 6 * 0.5155])
    with pytest.raises(InputError) as e:
        green_travel(TRIPS.assign(mode=["metro", "car", "metro"]), "guangzhou_metro_2015_mean")
    assert (e.value.row, e.value.column, e.value.value) == (3, "mode", "car")


def test_user_methodology_with_per_km_factors(tmp_path):
    f = tmp_path / "city.csv"
    f.write_text("methodology,mode,basis,value,unit,verified,source\nmycity,bike,per_km,0.1,kg CO2,no,test set\n")
    r = green_travel(pd.DataFrame({"citizen": ["c"], "mode": ["bike"], "km": [12.5]}), "mycity", user_paths=(f,))
    assert r["reduction_kg"].iloc[0] == pytest.approx(1.25)


def test_pseudonyms_are_keyed_and_stable():
    assert pseudonym("alice", "k1") == pseudonym("alice", "k1") != pseudonym("alice", "k2")
    assert "alice" not in pseudonym("alice", "k1") and len(pseudonym("alice", "k1")) == 16


def test_credits_on_the_ledger_and_aggregated(tmp_path):
    led = Ledger(Store(str(tmp_path / "w.duckdb")))
    r1 = record_credits(led, TRIPS, "guangzhou_metro_2015_mean", "secret", period="2026-11")
    r2 = record_credits(led, TRIPS.iloc[:1], "guangzhou_metro_2015_mean", "secret", period="2026-12")
    assert r1["total_kg"] == pytest.approx(20 * 0.5155) and r1["citizens"] == 2
    agg = aggregate_credits(led).set_index("citizen")["reduction_kg"]
    a = pseudonym("alice", "secret")
    assert agg[a] == pytest.approx(16 * 0.5155 + 10 * 0.5155)
    assert aggregate_credits(led, by="all")["reduction_kg"].iloc[0] == pytest.approx(30 * 0.5155)
    claims = led.claims(r2["run_id"])
    assert list(claims["unit"]) == ["kg"] and "alice" not in " ".join(claims["note"])
    assert led.verify().ok


@pytest.mark.postgres
def test_credits_on_postgres(pg_url):
    led = Ledger(Store(pg_url))
    r = record_credits(led, TRIPS, "guangzhou_metro_2015_substitution", "secret")
    assert r["total_kg"] == pytest.approx(20 * 0.5419)
    agg = aggregate_credits(led, by="mode").set_index("mode")["reduction_kg"]
    assert agg["metro"] >= 20 * 0.5419 - 1e-9
    assert led.verify().ok
