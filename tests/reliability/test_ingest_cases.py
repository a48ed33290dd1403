"""Issue 12's malformed inputs as a second corpus, through the store's OWN ingest on both backends.

Each case: the located error (file, row = line of the file, column, what was expected), and every canonical
table unchanged afterwards (frames compared before/after; every table holds a row before, so the comparison
is not vacuous).  The frame path (``store.ingest`` of the frame as read, validation inside the store's
transaction) and the file path (``store.ingest_csv``) are both exercised.
"""

from __future__ import annotations

import os
import time
import warnings

import pandas as pd
import pytest

from coreduce import schema
from coreduce.errors import InputError, InputErrors, StoreError
from coreduce.ingest.files import read_raw, read_table

ACT = "entity,sector,period_start,period_end,activity_type,amount,unit"
OBS = "site_id,ts,variable,value,unit"
SEED = {
    "sites": "site_id,name,kind\ndongsi,Dongsi,station\n",
    "observations": f"{OBS}\ndongsi,2016-01-01T08:00:00+08:00,PM2.5,35,ug/m3\n",
    "activity": f"{ACT}\nplant_a,power,2022-01-01,2023-01-01,coal_bituminous,100,kt\n",
    "emission_factors": "activity_type,pollutant,value,unit,source\ncoal_bituminous,SO2,16,kg/t,AP-42\n",
    "inventory": "entity,sector,period_start,period_end,pollutant,amount,unit\n"
    "plant_a,power,2022-01-01,2023-01-01,CO2,5,t\n",
}

# (id, table, file bytes, expected row, column, text in the message)
CASES = [
    ("nul_byte_in_field", "activity", f"{ACT}\npl\0ant,power,2022-01-01,2023-01-01,coal,1,t\n".encode(), 2, "entity",
     "expected text without NUL bytes"),
    ("duplicated_header_column", "activity", f"{ACT},amount\nplant,power,2022-01-01,2023-01-01,coal,1,t,2\n".encode(),
     1, "amount", "unique column names"),
    ("blank_line_before_bad_row", "activity",
     f"{ACT}\nplant,power,2022-01-01,2023-01-01,coal,1,t\n\nplant2,power,2022-01-01,2023-01-01,coal,-1,t\n".encode(),
     4, "amount", "got -1.0, expected a non-negative activity amount"),
    ("one_extra_field", "activity",
     f"{ACT}\nplant,power,2022-01-01,2023-01-01,coal,1,t\nplant2,power,2022-01-01,2023-01-01,coal,1,t,x\n".encode(),
     3, None, "7 fields as in the header line (found 8)"),
    ("one_extra_field_first_row", "activity", f"{ACT}\nplant,power,2022-01-01,2023-01-01,coal,1,t,x\n".encode(),
     2, None, "7 fields as in the header line (found 8)"),
    ("date_1500", "activity", f"{ACT}\nplant,power,1500-01-01,2023-01-01,coal,1,t\n".encode(), 2, "period_start",
     "got '1500-01-01', expected a date/time between 1677-09-22 and 2262-04-11 (out of the supported range"),
    ("date_9999", "activity", f"{ACT}\nplant,power,2022-01-01,9999-12-31,coal,1,t\n".encode(), 2, "period_end",
     "got '9999-12-31', expected a date/time between 1677-09-22 and 2262-04-11"),
    ("unknown_variable_bad_unit", "observations", f"{OBS}\ndongsi,2016-01-01T09:00:00Z,FLOW,3,bananas\n".encode(),
     2, "unit", "got 'bananas', expected a unit pint understands"),
    ("unknown_variable_negative_concentration", "observations",
     f"{OBS}\ndongsi,2016-01-01T09:00:00Z,HCl,-3,mg/m3\n".encode(), 2, "value", "a non-negative concentration"),
    ("unit_power_bomb", "activity", f"{ACT}\nplant,power,2022-01-01,2023-01-01,coal,1,10**10**10*t\n".encode(),
     2, "unit", "powers of one digit at most"),
    ("negative_amount_late_row", "activity",
     (f"{ACT}\n" + "".join(f"p{i},power,2022-01-01,2023-01-01,coal,1,t\n" for i in range(9))
      + "p9,power,2022-01-01,2023-01-01,coal,-1*1,t\n").encode(), 11, "amount", "got '-1*1', expected a number"),
    ("quoted_line_break_then_bad_row", "activity",
     f'{ACT}\n"plant\nA",power,2022-01-01,2023-01-01,coal,1,t\nplant_b,power,2022-01-01,2023-01-01,coal,x,t\n'.encode(),
     4, "amount", "got 'x', expected a number"),
    ("not_utf8", "activity",
     f"{ACT}\nplant,power,2022-01-01,2023-01-01,coal,1,t\n".encode() + b"pl\xffant,p,2022-01-01,2023-01-01,c,1,t\n",
     3, "entity", "UTF-8 text"),
]  # fmt: skip


def _seed(store, tmp_path):
    for t, text in SEED.items():
        p = tmp_path / f"seed_{t}.csv"
        p.write_text(text)
        store.ingest_csv(p, t)
    before = {t: store.read(t) for t in SEED}
    assert all(len(f) == 1 for f in before.values())
    return before


def _unchanged(store, before):
    for t, frame in before.items():
        pd.testing.assert_frame_equal(store.read(t), frame)


def _located(e: InputError, path, row, column, needle):
    assert (e.source, e.row, e.column) == (str(path), row, column), str(e)
    assert needle in str(e), str(e)


@pytest.mark.parametrize(("case", "table", "data", "row", "column", "needle"), CASES, ids=[c[0] for c in CASES])
def test_case_located_and_store_unchanged(store, tmp_path, case, table, data, row, column, needle):
    before = _seed(store, tmp_path)
    path = tmp_path / f"{case}.csv"
    path.write_bytes(data)
    with pytest.raises(InputError) as err:
        store.ingest_csv(path, table)
    _located(err.value, path, row, column, needle)
    try:
        frame = read_raw(path)
    except InputError as exc:  # a reading error: the same location
        _located(exc, path, row, column, needle)
    else:
        with pytest.raises(InputError) as err:
            store.ingest({table: frame}, source=str(path))
        _located(err.value, path, row, column, needle)
    _unchanged(store, before)


def test_unknown_variable_with_good_unit_is_accepted_without_range_check(store, tmp_path):
    """Documented rule (coreduce.schema): a variable not in bounds.csv gets the unit check only."""
    p = tmp_path / "obs.csv"
    p.write_text(f"{OBS}\ns1,2016-01-01T09:00:00Z,FLOW,1e9,m^3\ns1,2016-01-01T09:00:00Z,HCl,2,mg/m3\n")
    rep = store.ingest_csv(p, "observations")
    assert rep.inserted == {"observations": 2}
    got = store.read("observations").set_index("variable")
    assert got.loc["FLOW", "value"] == 1e9
    assert got.loc["HCl", "value"] == 2000.0 and got.loc["HCl", "unit"] == "ug/m^3"  # 2 mg/m3 = 2 * 1000 ug/m3


def test_all_errors_reported_first_50_listed(store, tmp_path):
    before = _seed(store, tmp_path)
    rows = [f"p{i},power,2022-01-01,2023-01-01,coal,{-i - 1},t" for i in range(60)]
    p = tmp_path / "many.csv"
    p.write_text(ACT + "\n" + "\n".join(rows) + "\np0,power,2022-01-01,2023-01-01,coal,1,t\n")
    with pytest.raises(InputErrors) as err:
        store.ingest_csv(p, "activity")
    e = err.value
    assert e.count == 61  # 60 negative amounts + the duplicate key on line 62
    assert len(e.errors) == 50
    assert [x.row for x in e.errors] == list(range(2, 52))
    first, *rest = str(e).splitlines()
    assert first.startswith(f"{p}, row 2, column 'amount': got -1.0") and "[61 errors" in first
    assert rest[0] == "  row 2, column 'amount': got -1.0, expected a non-negative activity amount"
    assert len(rest) == 50
    _unchanged(store, before)


def test_long_entity(store, tmp_path):
    """PostgreSQL's B-tree index holds ~2.7 kB per key: a longer entity is a located InputError there (the
    server's ProgramLimitExceeded before); DuckDB stores it."""
    before = _seed(store, tmp_path)
    p = tmp_path / "long.csv"
    p.write_text(
        f"{ACT}\nplant,power,2022-01-01,2023-01-01,coal,1,t\n{'x' * 3000},power,2022-01-01,2023-01-01,coal,1,t\n"
    )
    if store.backend == "postgres":
        with pytest.raises(InputError) as err:
            store.ingest_csv(p, "activity")
        assert (err.value.row, err.value.column) == (3, None)
        assert "at most 2600 bytes together (PostgreSQL's index limit)" in str(err.value)
        _unchanged(store, before)
    else:
        assert store.ingest_csv(p, "activity").inserted == {"activity": 2}


def test_nul_in_parquet_string(store, tmp_path):
    before = _seed(store, tmp_path)
    p = tmp_path / "act.parquet"
    pd.DataFrame({"entity": ["ok", "pl\0ant"], "sector": ["power"] * 2, "period_start": ["2022-01-01"] * 2,
                  "period_end": ["2023-01-01"] * 2, "activity_type": ["coal"] * 2, "amount": [1.0, 2.0],
                  "unit": ["t"] * 2}).to_parquet(p)  # fmt: skip
    with pytest.raises(InputError) as err:
        store.ingest({"activity": read_raw(p)}, source=str(p))
    assert (err.value.row, err.value.column, err.value.value) == (3, "entity", "pl\0ant")
    _unchanged(store, before)


def test_unknown_table_is_a_store_error(store, tmp_path):
    p = tmp_path / "a.csv"
    p.write_text(SEED["activity"])
    for call in (lambda: store.ingest_csv(p, "activites"), lambda: read_table(p, "activites"),
                 lambda: store.ingest({"activites": read_raw(p)})):  # fmt: skip
        with pytest.raises(StoreError, match=r"unknown table.*activites.*canonical tables"):
            call()


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "directory"])
def test_non_regular_files_refused_at_once(store, tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "pipe.csv"
        os.mkfifo(path)
        expected = "a FIFO"
    elif kind == "dev_zero":
        path = "/dev/zero"
        expected = "a device"
    else:
        path = tmp_path / "dir.csv"
        path.mkdir()
        expected = "a directory"
    start = time.monotonic()
    for call in (lambda: read_table(path, "activity"), lambda: store.ingest_csv(path, "activity")):
        with pytest.raises(InputError, match=f"expected a regular file \\(this is {expected}"):
            call()
    assert time.monotonic() - start < 5  # never blocks on the FIFO / reads /dev/zero


def test_no_warning_or_repr_leaks(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text(f"{ACT}\nplant,power,2023-01-01,2022-01-01,coal,1e308,kt\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError) as err:
            read_table(p, "activity")
    assert "Timestamp(" not in str(err.value) and "numpy" not in str(err.value)
    assert "got '2022-01-01T00:00:00+00:00', expected period_end after period_start" in str(err.value)


def test_validation_has_no_python_per_row(tmp_path):
    """A frame of 200,000 rows with one bad value deep inside: all typed and checked in SQL (the message
    names the right line); the same frame validates clean once fixed."""
    n = 200_000
    df = pd.DataFrame({"site_id": "s", "ts": pd.date_range("2000-01-01", periods=n, freq="h", tz="UTC").astype(str),
                       "variable": "PM2.5", "value": "10", "unit": "ug/m3"})  # fmt: skip
    df.loc[n - 7, "value"] = "1O"
    with pytest.raises(InputError) as err:
        schema.validate(df, "observations", source="big.csv")
    assert (err.value.row, err.value.column, err.value.value) == (n - 7 + 2, "value", "1O")
    df.loc[n - 7, "value"] = "10"
    out = schema.validate(df, "observations")
    assert len(out) == n and out["value"].sum() == 10 * n
