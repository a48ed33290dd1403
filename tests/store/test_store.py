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


def test_ledger_tables_cannot_be_ingested(store, tmp_path):
    # only the ledger writes ledger/claims (append-only, hash-chained): ingest and ingest_csv refuse them
    store.create_tables()
    before = (store.count("ledger"), store.count("claims"))
    claims = pd.DataFrame({"run_id": ["r1"], "pollutant": ["SO2"], "amount": [1.0], "unit": ["t"], "basis": ["x"]})
    for table in ("ledger", "claims"):
        with pytest.raises(StoreError, match=f"table '{table}' is written only by the ledger"):
            store.ingest({table: claims})
        f = tmp_path / f"{table}.csv"
        claims.to_csv(f, index=False)
        with pytest.raises(StoreError, match=f"table '{table}' is written only by the ledger"):
            store.ingest_csv(f, table)
    with pytest.raises(StoreError, match="table 'claims'"):  # mixed with a canonical table: nothing written
        store.ingest({"activity": ACTIVITY, "claims": claims})
    assert (store.count("ledger"), store.count("claims"), store.count("activity")) == (*before, 0)


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


def test_counts_come_from_the_statements(store):
    """inserted / matched / changed per table: 3 new; then 1 changed + 1 new + 2 unchanged."""
    rep = store.ingest({"activity": ACTIVITY}, source="a.csv")
    assert (rep.inserted, rep.matched, rep.changed) == ({"activity": 3}, {"activity": 0}, {"activity": 0})
    more = pd.concat([ACTIVITY.assign(amount=["100", "60", "2"]), ACTIVITY.iloc[[0]].assign(entity="plant_b")])
    rep = store.ingest({"activity": more}, source="b.csv")
    assert rep.rows == {"activity": 4}
    assert rep.inserted == {"activity": 1}  # plant_b
    assert rep.matched == {"activity": 3}  # 4 - 1
    assert rep.changed == {"activity": 1}  # plant_a February: 50.5 -> 60
    assert store.count("activity") == 4


def test_tx_upsert_and_lock(store):
    from coreduce import schema

    df = schema.validate(ACTIVITY, "activity")
    with store.transaction() as tx:
        tx.lock("activity")  # exclusive append lock on PostgreSQL, a no-op on DuckDB: same call either way
        assert tx.upsert("activity", df) == (3, 0)
        assert tx.upsert("activity", df.assign(amount=df["amount"] * 2)) == (0, 3)
    assert sorted(store.read("activity")["amount"]) == [4.0, 101.0, 200.0]
    with pytest.raises(InputError, match="same key as row 2"):
        with store.transaction() as tx:
            tx.upsert("activity", pd.concat([df.iloc[[0]], df.iloc[[0]]]))
    assert store.count("activity") == 3


def test_ingest_csv_matches_frame_ingest(store, tmp_path):
    p = tmp_path / "a.csv"
    ACTIVITY.to_csv(p, index=False)
    rep = store.ingest_csv(p, "activity")
    assert rep.inserted == {"activity": 3}
    via_csv = store.read("activity")
    store.drop_all()
    store.create_tables()
    store.ingest({"activity": ACTIVITY})
    pd.testing.assert_frame_equal(via_csv, store.read("activity"))


def test_display_url_masks_password(tmp_path):
    with Store(tmp_path / "ws.duckdb") as st:
        assert st.display_url == str(tmp_path / "ws.duckdb")


OBS_CSV = """site_id,ts,variable,value,unit
s1,2019-01-01T08:00:00+08:00,PM2.5,12,ug/m3
s1,2019-01-01T08:00:00+08:00,CO,0.8,mg/m3
s1,2019-01-01T09:00:00+08:00,PM2.5,15,µg/m³
s1,2019-01-01T09:00:00+08:00,NO2,0.00004,g/m^3
s1,2019-01-01T01:00:00Z,TEMP, -3.5 ,degC
"""


def test_optimistic_and_staged_loads_agree(store, tmp_path):
    """ingest_csv into an empty table (DuckDB: the optimistic load) and into a table holding rows (staging)
    give the same rows: 0.8 mg/m3 = 800 ug/m3; 0.00004 g/m^3 = 40 ug/m3; 12 ug/m3 stays 12, unit ug/m^3."""
    p = tmp_path / "obs.csv"
    p.write_text(OBS_CSV)
    store.ingest_csv(p, "observations")
    fresh = store.read("observations")
    # key order: ts (UTC: 00:00 CO, PM2.5; 01:00 NO2, PM2.5, TEMP) then variable
    assert fresh["value"].tolist() == pytest.approx([800.0, 12.0, 40.0, 15.0, -3.5])
    assert fresh["unit"].tolist() == ["ug/m^3", "ug/m^3", "ug/m^3", "ug/m^3", "degC"]
    store.drop_all()
    store.create_tables()
    seed = tmp_path / "seed.csv"
    seed.write_text("site_id,ts,variable,value,unit\ns0,2000-01-01T00:00:00Z,PM2.5,1,ug/m3\n")
    store.ingest_csv(seed, "observations")
    store.ingest_csv(p, "observations")
    staged = store.read("observations")
    staged = staged[staged["site_id"] != "s0"].reset_index(drop=True)
    pd.testing.assert_frame_equal(staged, fresh)


def test_bare_date_in_observation_ts_rejected_on_empty_table(store, tmp_path):
    p = tmp_path / "obs.csv"
    p.write_text("site_id,ts,variable,value,unit\ns1,2019-01-01T00:00:00Z,PM2.5,1,ug/m3\ns1,2019-01-02,PM2.5,1,ug/m3\n")
    with pytest.raises(InputError, match="row 3, column 'ts': got '2019-01-02', expected a timezone-aware timestamp"):
        store.ingest_csv(p, "observations")
    assert store.count("observations") == 0


def test_exists_without_creating(tmp_path, pg_url):
    from coreduce.store import exists

    path = tmp_path / "ws.duckdb"
    assert not exists(path) and not path.exists()
    Store(path).close()
    assert exists(path) and exists(":memory:") and exists(pg_url)


def test_empty_canonical_frames_write_nothing(store):
    from coreduce import schema

    with store.transaction() as tx:
        assert tx.upsert("inventory", schema.empty("inventory")) == (0, 0)
    rep = store.ingest({"inventory": schema.empty("inventory")}, validate=False)
    assert rep.inserted == {"inventory": 0}


def test_mixed_object_column_is_read_as_text(store):
    """A column of Python objects mixing numbers and text (as Excel readers give) is typed like CSV text."""
    df = ACTIVITY.assign(
        amount=pd.Series([100, "50.5", 2.0], dtype=object), source=pd.Series([1, "x", None], dtype=object)
    )
    store.ingest({"activity": df})
    got = store.read("activity")
    assert got["amount"].tolist() == [2.0, 100.0, 50.5]
    assert got["source"].tolist() == [None, "1", "x"]


def test_mixed_offsets_in_one_file(store, tmp_path):
    """The first row's offset is tried first; other offsets still count and a naive time is still refused."""
    head = "site_id,ts,variable,value,unit\n"
    rows = "s,2019-01-01T08:00:00+08:00,PM2.5,1,ug/m3\ns,2019-01-01T01:00:00Z,PM2.5,2,ug/m3\n"
    rows += "s,2018-12-31T21:00:00-05:00,PM2.5,3,ug/m3\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(head + rows + "s,2019-01-01T05:00:00,PM2.5,4,ug/m3\n")
    with pytest.raises(InputError, match="row 5, column 'ts': got '2019-01-01T05:00:00', expected a timezone-aware"):
        store.ingest_csv(bad, "observations")
    ok = tmp_path / "ok.csv"
    ok.write_text(head + rows)
    store.ingest_csv(ok, "observations")
    got = store.read("observations")
    # 08:00+08:00 = 00:00Z; 01:00Z; 21:00-05:00 = 02:00Z (next day)
    assert [t.isoformat() for t in got["ts"]] == [
        "2019-01-01T00:00:00+00:00",
        "2019-01-01T01:00:00+00:00",
        "2019-01-01T02:00:00+00:00",
    ]
    assert got["value"].tolist() == [1.0, 2.0, 3.0]


def test_missing_psycopg_names_the_extra(monkeypatch):
    import sys

    from coreduce.extras import MissingExtraError

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if coreduce[postgres] were not installed
    with pytest.raises(MissingExtraError) as exc:
        Store("postgresql://postgres@127.0.0.1:5432/test")
    assert str(exc.value) == (
        "a PostgreSQL store needs the optional package 'psycopg': pip install 'coreduce[postgres]'"
    )
