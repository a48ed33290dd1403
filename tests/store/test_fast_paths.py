"""The store's fast paths give what the careful staging gives: counts from the statements, every error with its
line and column, nothing written on an error (each test runs on DuckDB and PostgreSQL; on DuckDB the optimistic
CSV load also serves a table that holds rows, and canonical frames go into an empty table without a staging copy)."""

import numpy as np
import pandas as pd
import pytest

from coreduce import schema
from coreduce.errors import InputError, InputErrors

OBS = """site_id,ts,variable,value,unit
s1,2019-01-01T08:00:00+08:00,PM2.5,12,ug/m3
s1,2019-01-01T08:00:00+08:00,CO,0.8,mg/m3
s1,2019-01-01T09:00:00+08:00,PM2.5,15,ug/m3
"""


def test_csv_reingest_counts_new_changed_matched(store, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(OBS)
    assert store.ingest_csv(a, "observations").inserted == {"observations": 3}
    same = store.ingest_csv(a, "observations")
    assert (same.inserted["observations"], same.matched["observations"], same.changed["observations"]) == (0, 3, 0)
    # CO corrected (0.9 mg/m3 = 900 ug/m3), one new reading, one unchanged row
    b.write_text(OBS.replace("CO,0.8", "CO,0.9") + "s1,2019-01-01T10:00:00+08:00,PM2.5,20,ug/m3\n")
    rep = store.ingest_csv(b, "observations")
    assert rep.rows == {"observations": 4}
    assert (rep.inserted["observations"], rep.matched["observations"], rep.changed["observations"]) == (1, 3, 1)
    got = store.read("observations")
    assert got["value"].tolist() == pytest.approx([900.0, 12.0, 15.0, 20.0])  # key order: ts, then variable
    assert store.count("observations") == 4


def test_csv_reingest_with_errors_reports_all_and_writes_nothing(store, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(OBS)
    store.ingest_csv(a, "observations")
    before = store.read("observations")
    b.write_text(
        "site_id,ts,variable,value,unit\n"
        "s1,2019-01-01T08:00:00+08:00,PM2.5,13,ug/m3\n"
        "s1,2019-01-01T09:00:00,PM2.5,15,ug/m3\n"  # line 3: no offset
        "s1,2019-01-01T10:00:00+08:00,PM2.5,abc,ug/m3\n"  # line 4: not a number
    )
    with pytest.raises(InputErrors) as exc:
        store.ingest_csv(b, "observations")
    found = {(e.row, e.column) for e in exc.value.errors}
    assert found == {(3, "ts"), (4, "value")}
    assert exc.value.errors[0].source == str(b)
    pd.testing.assert_frame_equal(store.read("observations"), before)


ACT = pd.DataFrame({
    "entity": ["plant_a", "plant_a", "homes"], "sector": ["power", "power", "residential"],
    "period_start": ["2022-01-01", "2022-02-01", "2022-01-01"],
    "period_end": ["2022-02-01", "2022-03-01", "2023-01-01"],
    "activity_type": ["coal_bituminous", "coal_bituminous", "natural_gas"], "amount": ["100", "50.5", "2"],
    "unit": ["kt", "kt", "TJ"],
})  # fmt: skip


def test_frame_upsert_into_empty_table_checks_like_staging(store):
    df = schema.validate(ACT, "activity")
    with store.transaction() as tx:
        assert tx.upsert("activity", df) == (3, 0)
    fast = store.read("activity")
    store.drop_all()
    store.create_tables()
    store.ingest({"activity": ACT})  # the careful staging
    pd.testing.assert_frame_equal(fast, store.read("activity"))
    store.drop_all()
    store.create_tables()
    # a missing amount (row 3 of the frame: line 3 counting the header) and a repeated key: reported, nothing written
    bad = df.assign(amount=[100.0, np.nan, 2.0])
    with pytest.raises(InputError, match="row 3, column 'amount'"):
        with store.transaction() as tx:
            tx.upsert("activity", bad)
    assert store.count("activity") == 0
    with pytest.raises(InputError, match="same key as row 2"):
        with store.transaction() as tx:
            tx.upsert("activity", pd.concat([df.iloc[[0]], df.iloc[[0]]]))
    assert store.count("activity") == 0
    nul = df.assign(entity=["plant_a", "pl\x00ant", "homes"])
    with pytest.raises(InputError, match="row 3, column 'entity'"):
        with store.transaction() as tx:
            tx.upsert("activity", nul)
    assert store.count("activity") == 0


def test_decoded_text_has_64_bit_offsets():
    """Dictionary text is decoded into ``large_string`` before the fast insert: a 7.9M-row inventory of ~270-character
    citations holds more than 2 GiB of text, past what 32-bit offsets address (a ``string`` decode raised
    "Take operation overflowed binary array capacity"). Nulls stay null."""
    import pyarrow as pa

    from coreduce.store.duckdb import _decoded

    d = pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 0], pa.int32()), pa.array(["a" * 300, "b"]))
    got = _decoded(pa.chunked_array([d]))
    assert got.type == pa.large_string()
    assert got.to_pylist() == ["a" * 300, "b", None, "a" * 300]
    plain = pa.chunked_array([pa.array([1.5, None])])
    assert _decoded(plain) is plain


def test_csv_text_needing_trim_or_empty_gives_what_careful_staging_gives(store, tmp_path):
    # the optimistic load stores text as read; a value with surrounding spaces or a quoted empty string must not
    # be stored as is: the input goes the careful way, which trims and reads "" as missing
    p = tmp_path / "padded.csv"
    p.write_text(
        "site_id,ts,variable,value,unit,source\n"
        ' s1 ,2019-01-01T08:00:00+08:00,PM2.5,12,ug/m3,""\n'
        "s1,2019-01-01T09:00:00+08:00, PM2.5,15,ug/m3 ,station\n"
    )
    assert store.ingest_csv(p, "observations").inserted == {"observations": 2}
    got = store.read("observations").sort_values("ts")
    assert got["site_id"].tolist() == ["s1", "s1"]
    assert got["variable"].tolist() == ["PM2.5", "PM2.5"]
    assert got["unit"].tolist() == ["ug/m^3", "ug/m^3"]
    assert got["source"].tolist() == ["unknown", "station"]  # "" read as missing: the column's default


def test_frame_text_checked_per_distinct_value_gives_what_staging_gives(store):
    """Text columns are typed and checked once per distinct value (dictionary entries) on the fast path: padding
    trimmed, blanks to the default or null, and a key that repeats only after trimming is still a repeated key."""
    df = schema.validate(ACT, "activity")
    padded = df.assign(entity=[" plant_a", "plant_a ", "homes"], region=["  ", None, " CN-GD "],
                       control=["ESP", "", None])  # fmt: skip
    with store.transaction() as tx:
        assert tx.upsert("activity", padded) == (3, 0)
    fast = store.read("activity")
    by_entity = fast.sort_values(["entity", "period_start"]).reset_index(drop=True)
    assert by_entity["entity"].tolist() == ["homes", "plant_a", "plant_a"]
    assert by_entity["region"].tolist() == ["CN-GD", "*", "*"]  # blank -> the default '*'
    assert by_entity["control"].isna().tolist() == [True, False, True] and by_entity["control"][1] == "ESP"
    store.drop_all()
    store.create_tables()
    store.ingest({"activity": padded})  # the careful staging
    pd.testing.assert_frame_equal(fast, store.read("activity"))
    store.drop_all()
    store.create_tables()
    # the same key once padding is trimmed (" plant_a" and "plant_a", same period): a repeated key
    dup = df.assign(entity=[" plant_a", "plant_a", "homes"], period_start=df["period_start"].iloc[[0, 0, 2]].to_numpy(),
                    period_end=df["period_end"].iloc[[0, 0, 2]].to_numpy())  # fmt: skip
    with pytest.raises(InputError, match="same key as row 2"):
        with store.transaction() as tx:
            tx.upsert("activity", dup)
    assert store.count("activity") == 0
    # a required text value that is blank once trimmed (the only row using that dictionary entry)
    blank = df.assign(sector=["power", "   ", "residential"])
    with pytest.raises(InputError, match="row 3, column 'sector'"):
        with store.transaction() as tx:
            tx.upsert("activity", blank)
    assert store.count("activity") == 0


def _batch(k: int, n: int = 40, **cols) -> pd.DataFrame:
    """A stream's batch of stack readings (mg/m^3, converted to ug/m^3 by the store)."""
    ts = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(k * n + np.arange(n), unit="s")
    df = pd.DataFrame({"site_id": [f"s{i % 4}" for i in range(n)], "ts": ts, "variable": "stack_NOx",
                       "value": np.linspace(1.0, 40.0, n), "unit": "mg/m^3", "source": "mqtt://x",
                       "quality": "ok"})  # fmt: skip
    return df.assign(**cols)


def test_frame_batches_into_a_table_with_rows_give_what_staging_gives(store):
    # new batches, a redelivered batch, then one that changes stored values: the counts of the careful path
    reps = [store.ingest({"observations": _batch(k)}) for k in (0, 1, 1)]
    assert [r.inserted["observations"] for r in reps] == [40, 40, 0]
    rep = store.ingest({"observations": _batch(1, value=np.linspace(2.0, 41.0, 40))})
    assert (rep.inserted["observations"], rep.changed["observations"]) == (0, 40)
    fast = store.read("observations")
    assert len(fast) == 80 and set(fast["unit"]) == {schema.CONCENTRATION_UNIT}
    assert fast["value"].iloc[0] == pytest.approx(1000.0)  # 1 mg/m^3 stored as 1,000 ug/m^3
    # the same inputs through the careful staging (an outer transaction: no fast path) give the same table
    store.drop_all()
    store.create_tables()
    for df in (_batch(0), _batch(1), _batch(1), _batch(1, value=np.linspace(2.0, 41.0, 40))):
        with store.transaction():
            store.ingest({"observations": df})
    pd.testing.assert_frame_equal(fast, store.read("observations"))


def test_frame_batch_needing_staging_is_trimmed_or_refused_as_staging_does(store):
    store.ingest({"observations": _batch(0)})
    # padded text: staged (trimmed), not stored as read
    store.ingest({"observations": _batch(1, site_id=" s9 ")})
    assert set(store.read("observations")["site_id"]) == {"s0", "s1", "s2", "s3", "s9"}
    # a negative concentration in row 5 of the frame (line 6 counting a header): reported, nothing of it written
    bad = _batch(2)
    bad.loc[4, "value"] = -3.0
    with pytest.raises(InputErrors) as err:
        store.ingest({"observations": bad})
    assert err.value.errors[0].row == 6 and err.value.errors[0].column == "value"
    assert store.count("observations") == 80
