"""A corpus of malformed inputs: each gives its own specific error (file, row, column, value, expectation)
and leaves the store exactly as it was, on DuckDB and on PostgreSQL.

Each case goes three ways: ``read_table`` (reading + validation), the store's own ``ingest`` of the frame as
read (validation happens inside the store's transaction, so the "unchanged" half can fail) and the store's
``ingest_csv`` fast path.  Every canonical table holds a row before, so "unchanged" covers all of them."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest

from coreduce.errors import InputError
from coreduce.ingest.files import read_raw, read_table

ACT_HEAD = "entity,sector,period_start,period_end,activity_type,amount,unit"
OK_ACT = "plant_a,power,2022-01-01,2023-01-01,coal_bituminous,100,kt"
OBS_HEAD = "site_id,ts,variable,value,unit"
OK_OBS = "dongsi,2016-01-01T08:00:00+08:00,PM2.5,35,ug/m3"
EF_HEAD = "activity_type,pollutant,value,unit,source"
SITE_HEAD = "site_id,name,kind,lat,lon"

# (id, table, file text, expected row, expected column, text the message must contain)
CASES = [
    (
        "missing_column",
        "activity",
        "entity,sector,period_start,period_end,activity_type,amount\n"
        "plant_a,power,2022-01-01,2023-01-01,coal_bituminous,100",
        1,
        "unit",
        "required column(s) unit",
    ),
    ("empty_file", "activity", "", None, None, "file is empty"),
    ("header_only", "activity", ACT_HEAD, None, None, "at least one data row"),
    (
        "negative_amount",
        "activity",
        f"{ACT_HEAD}\n{OK_ACT}\nplant_b,power,2022-01-01,2023-01-01,coal_bituminous,-5,kt",
        3,
        "amount",
        "got -5.0, expected a non-negative activity amount",
    ),
    (
        "text_amount",
        "activity",
        f"{ACT_HEAD}\nplant_a,power,2022-01-01,2023-01-01,coal_bituminous,ten,kt",
        2,
        "amount",
        "got 'ten', expected a number",
    ),
    (
        "comma_decimal",
        "activity",
        f'{ACT_HEAD}\nplant_a,power,2022-01-01,2023-01-01,coal_bituminous,"1,5",kt',
        2,
        "amount",
        "got '1,5', expected a number",
    ),
    (
        "infinite_amount",
        "activity",
        f"{ACT_HEAD}\nplant_a,power,2022-01-01,2023-01-01,coal_bituminous,inf,kt",
        2,
        "amount",
        "expected a finite number",
    ),
    (
        "unknown_unit",
        "activity",
        f"{ACT_HEAD}\nplant_a,power,2022-01-01,2023-01-01,coal_bituminous,100,tonnez",
        2,
        "unit",
        "got 'tonnez', expected a unit pint understands",
    ),
    (
        "wrong_dimension_unit",
        "activity",
        f"{ACT_HEAD}\nplant_a,power,2022-01-01,2023-01-01,coal_bituminous,100,km",
        2,
        "unit",
        "expected a unit of mass or energy",
    ),
    (
        "missing_unit",
        "activity",
        f"{ACT_HEAD}\nplant_a,power,2022-01-01,2023-01-01,coal_bituminous,100,",
        2,
        "unit",
        "this column is required",
    ),
    (
        "bad_date",
        "activity",
        f"{ACT_HEAD}\nplant_a,power,2022-13-01,2023-01-01,coal_bituminous,100,kt",
        2,
        "period_start",
        "got '2022-13-01', expected a valid ISO 8601",
    ),
    (
        "naive_datetime_period",
        "activity",
        f"{ACT_HEAD}\nplant_a,power,2022-01-01 08:00,2023-01-01,coal_bituminous,100,kt",
        2,
        "period_start",
        "expected a timezone-aware timestamp (e.g. 2019-01-01T08:00:00+08:00 or ...Z), not a naive date-time",
    ),
    (
        "end_before_start",
        "activity",
        f"{ACT_HEAD}\nplant_a,power,2023-01-01,2022-01-01,coal_bituminous,100,kt",
        2,
        "period_end",
        "expected period_end after period_start",
    ),
    ("duplicate_key", "activity", f"{ACT_HEAD}\n{OK_ACT}\n{OK_ACT}", 3, "entity", "same key as row 2"),
    (
        "ragged_row",
        "activity",
        f"{ACT_HEAD}\n{OK_ACT}\nplant_a,power,2022-01-01,2023-01-01,coal,1,kt,extra,more",
        3,
        None,
        "7 fields as in the header line (found 9)",
    ),
    (
        "missing_entity",
        "activity",
        f"{ACT_HEAD}\n,power,2022-01-01,2023-01-01,coal_bituminous,100,kt",
        2,
        "entity",
        "this column is required",
    ),
    (
        "naive_observation_ts",
        "observations",
        f"{OBS_HEAD}\n{OK_OBS}\ndongsi,2016-01-01 09:00:00,PM2.5,35,ug/m3",
        3,
        "ts",
        "expected a timezone-aware timestamp",
    ),
    (
        "negative_concentration",
        "observations",
        f"{OBS_HEAD}\n{OK_OBS}\ndongsi,2016-01-01T09:00:00+08:00,NO2,-3,ug/m3",
        3,
        "value",
        "expected a non-negative concentration",
    ),
    (
        "implausible_pm25",
        "observations",
        f"{OBS_HEAD}\ndongsi,2016-01-01T09:00:00+08:00,PM2.5,35,mg/m3",
        2,
        "value",
        "PM2.5 within plausible bounds [0, 3000] ug/m^3, value read in mg/m3",
    ),
    (
        "temperature_out_of_range",
        "observations",
        f"{OBS_HEAD}\ndongsi,2016-01-01T09:00:00+08:00,TEMP,80,degC",
        2,
        "value",
        "TEMP within plausible bounds [-90, 60] degC",
    ),
    (
        "wrong_unit_for_variable",
        "observations",
        f"{OBS_HEAD}\ndongsi,2016-01-01T09:00:00+08:00,TEMP,20,ug/m3",
        2,
        "unit",
        "expected a unit of temperature for TEMP",
    ),
    (
        "bad_quality_flag",
        "observations",
        f"{OBS_HEAD},quality\ndongsi,2016-01-01T09:00:00+08:00,PM2.5,35,ug/m3,great",
        2,
        "quality",
        "expected a quality flag",
    ),
    (
        "factor_not_a_rate",
        "emission_factors",
        f"{EF_HEAD}\ncoal_bituminous,SO2,16,kg,AP-42",
        2,
        "unit",
        "expected a factor unit <mass>/<activity unit>",
    ),
    (
        "factor_unknown_pollutant",
        "emission_factors",
        f"{EF_HEAD}\ncoal_bituminous,SOx,16,kg/t,AP-42",
        2,
        "pollutant",
        "got 'SOx', expected one of CO2",
    ),
    (
        "factor_negative",
        "emission_factors",
        f"{EF_HEAD}\ncoal_bituminous,SO2,-16,kg/t,AP-42",
        2,
        "value",
        "expected a non-negative factor",
    ),
    (
        "factor_without_source",
        "emission_factors",
        f"{EF_HEAD}\ncoal_bituminous,SO2,16,kg/t,",
        2,
        "source",
        "this column is required",
    ),
    (
        "latitude_out_of_range",
        "sites",
        f"{SITE_HEAD}\ndongsi,Dongsi,station,139.9,116.4",
        2,
        "lat",
        "expected a latitude in [-90, 90]",
    ),
    (
        "unknown_site_kind",
        "sites",
        f"{SITE_HEAD}\ndongsi,Dongsi,tower,39.9,116.4",
        2,
        "kind",
        "expected one of station, facility",
    ),
]


GOOD = {
    "sites": f"{SITE_HEAD}\ndongsi,Dongsi,station,39.9,116.4\n",
    "observations": f"{OBS_HEAD}\n{OK_OBS}\n",
    "activity": f"{ACT_HEAD}\n{OK_ACT}\n",
    "emission_factors": f"{EF_HEAD}\ncoal_bituminous,SO2,16,kg/t,AP-42\n",
    "inventory": "entity,sector,period_start,period_end,pollutant,amount,unit\nplant_a,power,2022-01-01,2023-01-01,CO2,5,t\n",
}


def _seed(store, tmp_path) -> dict[str, pd.DataFrame]:
    for t, text in GOOD.items():
        good = tmp_path / f"good_{t}.csv"
        good.write_text(text)
        store.ingest({t: read_table(good, t)}, source=str(good), validate=False)
    before = _snapshot(store)
    assert all(len(f) == 1 for f in before.values())  # the comparison below is not vacuous
    return before


def _snapshot(store) -> dict[str, pd.DataFrame]:
    return {t: store.read(t) for t in GOOD}


def _check(e: InputError, path, row, column, needle) -> None:
    assert e.source == str(path)
    assert e.row == row
    assert e.column == column
    assert needle in str(e), str(e)
    assert str(e).startswith(str(path))


@pytest.mark.parametrize(("case", "table", "text", "row", "column", "needle"), CASES, ids=[c[0] for c in CASES])
def test_malformed_input_is_rejected_and_store_unchanged(store, tmp_path, case, table, text, row, column, needle):
    # the store already holds good data in every table; the bad file must not change any of it
    before = _seed(store, tmp_path)
    path = tmp_path / f"{case}.csv"
    path.write_text(textwrap.dedent(text) + ("\n" if text else ""))

    with pytest.raises(InputError) as err:
        read_table(path, table)
    _check(err.value, path, row, column, needle)

    # the store's own ingest of the frame as read: validation runs inside the store's transaction
    try:
        raw = read_raw(path)
    except InputError:
        raw = None  # a reading error (empty file, ragged row): covered by ingest_csv below
    if raw is not None:
        with pytest.raises(InputError) as err:
            store.ingest({"sites": read_raw(tmp_path / "good_sites.csv"), table: raw}, source=str(path))
        _check(err.value, path, row, column, needle)

    with pytest.raises(InputError) as err:
        store.ingest_csv(path, table)
    _check(err.value, path, row, column, needle)

    after = _snapshot(store)
    for t in before:
        pd.testing.assert_frame_equal(after[t], before[t])


def test_corpus_has_at_least_twenty_cases():
    assert len({c[0] for c in CASES}) >= 20
