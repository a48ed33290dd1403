"""The same store behaviour on DuckDB and PostgreSQL (the `store` fixture runs each test on both)."""

import pandas as pd
import pytest

from coreduce.errors import InputError, StoreError
from coreduce.store import Store, parse_url

ACTIVITY = pd.DataFrame(
    {
        "entity": ["plant_a", "plant_a", "homes"],
        "sector": ["power", "power", "residential"],
        "period_start": ["2022-01-01", "2022-02-01", "2022-01-01"],
        "period_end": ["2022-02-01", "2022-03-01", "2023-01-01"],
        "activity_type": ["coal_bituminous", "coal_bituminous", "natural_gas"],
        "amount": ["100", "50.5", "2"],
        "unit": ["kt", "kt", "TJ"],
        "source": ['meter "A", read 2022', None, None],
    }
)


def test_ingest_roundtrip_and_types(store):
    rep = store.ingest({"activity": ACTIVITY}, source="activity.csv")
    assert rep.rows == {"activity": 3}
    assert rep.inserted == {"activity": 3}
    got = store.read("activity")
    assert got["amount"].tolist() == [2.0, 100.0, 50.5]  # ordered by key: homes < plant_a
    assert str(got["period_start"].dtype) == "datetime64[ns, UTC]"
    assert got["period_start"].iloc[2] == pd.Timestamp("2022-02-01", tz="UTC")
    assert got["source"].iloc[1] == 'meter "A", read 2022'  # quotes and commas survive the COPY path
    assert got["region"].tolist() == ["*", "*", "*"]  # default applied


def test_reingest_is_idempotent(store):
    store.ingest({"activity": ACTIVITY}, source="activity.csv")
    before = store.read("activity")
    rep = store.ingest({"activity": ACTIVITY}, source="activity.csv")
    assert rep.inserted == {"activity": 0}
    assert rep.matched == {"activity": 3}
    pd.testing.assert_frame_equal(store.read("activity"), before)


def test_corrected_value_replaces_row(store):
    store.ingest({"activity": ACTIVITY}, source="a.csv")
    fixed = ACTIVITY.assign(amount=["100", "60", "2"])
    rep = store.ingest({"activity": fixed}, source="a_fixed.csv")
    assert rep.inserted == {"activity": 0}
    assert store.count("activity") == 3
    assert sorted(store.read("activity")["amount"]) == [2.0, 60.0, 100.0]


def test_multi_table_ingest_is_one_transaction(store):
    sites = pd.DataFrame({"site_id": ["s1"], "name": ["Dongsi"], "kind": ["station"]})
    bad_obs = pd.DataFrame(
        {
            "site_id": ["s1", "s1"],
            "ts": ["2019-01-01T00:00:00Z", "2019-01-01T01:00:00Z"],
            "variable": ["PM2.5", "PM2.5"],
            "value": ["12", "-4"],
            "unit": ["ug/m3", "ug/m3"],
        }
    )
    with pytest.raises(InputError, match="row 3, column 'value'"):
        store.ingest({"sites": sites, "observations": bad_obs}, source="obs.csv")
    assert store.count("sites") == 0  # the valid sites frame was not written either
    assert store.count("observations") == 0


def test_failure_inside_transaction_rolls_back(store):
    store.ingest({"activity": ACTIVITY}, source="a.csv")
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.execute("DELETE FROM activity")
        raise RuntimeError("boom")
    assert store.count("activity") == 3


def test_ibis_query_same_on_both_backends(store):
    store.ingest({"activity": ACTIVITY}, source="a.csv")
    t = store.table("activity")
    res = t.group_by("entity").aggregate(total=t.amount.sum()).order_by("entity").to_pandas()
    assert res["entity"].tolist() == ["homes", "plant_a"]
    assert res["total"].tolist() == [2.0, 150.5]


def test_unknown_table_errors(store):
    with pytest.raises(StoreError, match="unknown table"):
        store.ingest({"activities": ACTIVITY})
    with pytest.raises(StoreError, match="no table 'nope'"):
        store.table("nope")


def test_parse_url():
    assert parse_url("ws.duckdb") == ("duckdb", {"database": "ws.duckdb"})
    assert parse_url("duckdb:///tmp/x.duckdb") == ("duckdb", {"database": "/tmp/x.duckdb"})
    assert parse_url(":memory:") == ("duckdb", {"database": ":memory:"})
    backend, args = parse_url("postgresql://alice:s%40cret@db.local:6543/carbon")
    assert backend == "postgres"
    # the URL goes to libpq as written: every libpq parameter (sslmode, host=/socket/dir, ...) is honoured
    assert args == {"conninfo": "postgresql://alice:s%40cret@db.local:6543/carbon"}
    with pytest.raises(StoreError, match="no database given"):
        parse_url("postgresql://postgres@127.0.0.1")
    with pytest.raises(StoreError, match=r"expected a \.duckdb path"):
        parse_url("mysql://x@y/z")


def test_unreachable_postgres_is_a_clear_error():
    with pytest.raises(StoreError, match="cannot open store"):
        Store("postgresql://postgres@127.0.0.1:1/none")
