"""The activity × factor join as one Ibis expression (``compute_inventory(..., on=engine)`` and
``compute_inventory(store.table("activity"))``): the same rows, to the last bit, as the in-process expansion of the
same per-key factor table, on DuckDB and PostgreSQL (Spark: tests/store/test_spark.py); the row arithmetic against
hand calculations."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from coreduce.account import FactorLibrary, compute_inventory
from coreduce.account.expression import activity_table, plan_inventory
from coreduce.account.inventory import _Accountant
from coreduce.errors import InputError


def _rows() -> pd.DataFrame:
    """Every kind of row the engine knows: coal with controls, sulfur and ash; gas in m³ (a volumetric calorific
    value) and in GJ on a gross basis; diesel; purchased electricity and heat; a US plant; two spellings of one
    region; a carbon sink over half a leap year and over a whole year."""
    rows = [
        ("plant_a", "power", "2022-01-01", "2023-01-01", "coal_bituminous", 1200.0, "kt", "Hebei",
         "ESP+FGD_wet_limestone+SCR", None, 1.2, 18.0),
        ("plant_b", "power", "2022-01-01", "2023-01-01", "coal_bituminous", 300.0, "kt", "河北", "ESP", None, None,
         20.0),
        ("plant_b", "power", "2022-01-01", "2023-01-01", "natural_gas", 1500.0, "TJ", "CN-HE", None, None, None, None),
        ("works_c", "industry", "2022-01-01", "2022-02-01", "natural_gas", 2.5e6, "m^3", "Guangdong", None, None,
         None, None),
        ("works_c", "industry", "2022-01-01", "2022-02-01", "diesel", 40.0, "t", "Guangdong", None, None, None, None),
        ("works_c", "industry", "2022-01-01", "2022-02-01", "electricity_purchased", 900.0, "MWh", "Guangdong", None,
         None, None, None),
        ("mall_d", "commercial", "2022-03-01", "2022-04-01", "natural_gas", 5000.0, "GJ", "CN-GD", None, "gross",
         None, None),
        ("mall_d", "commercial", "2022-03-01", "2022-04-01", "heat_purchased", 700.0, "GJ", "CN-GD", None, None, None,
         None),
        ("us_plant", "power", "2022-01-01", "2023-01-01", "coal_bituminous", 50.0, "kt", "US-TX", "SCR", None, 2.0,
         None),
        ("county", "land", "2020-01-01", "2020-07-01", "forest_test", 10.0, "km^2", None, None, None, None, None),
        ("county", "land", "2022-01-01", "2023-01-01", "forest_test", 1000.0, "ha", None, None, None, None, None),
    ]  # fmt: skip
    cols = ["entity", "sector", "period_start", "period_end", "activity_type", "amount", "unit", "region", "control",
            "energy_basis", "sulfur_pct", "ash_pct"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


@pytest.fixture
def lib(tmp_path) -> FactorLibrary:
    rates = tmp_path / "rates.csv"
    rates.write_text("land_type,region,value,unit,source\nforest_test,*,4.0,t/ha,hand-made test rate\n")
    return FactorLibrary.from_csv(rates, base=FactorLibrary.default())


def _duck() -> ibis.BaseBackend:
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")
    return con


@pytest.mark.parametrize(("gwp", "pollutants"), [("AR5", None), ("AR6", ["CO2", "SO2", "CO2e", "PM2.5"]), (None, None)])
def test_engine_join_is_the_in_process_expansion(lib, gwp, pollutants):
    act = _rows()
    ref = compute_inventory(act, lib, gwp=gwp, pollutants=pollutants)
    got = compute_inventory(act, lib, gwp=gwp, pollutants=pollutants, on=_duck())
    assert len(got) == len(ref) > 0
    pd.testing.assert_frame_equal(got, ref, check_exact=True)  # same IEEE products, same order
    pd.testing.assert_frame_equal(got.attrs["gaps"], ref.attrs["gaps"], check_dtype=False)
    assert got.attrs["factor_version"] == ref.attrs["factor_version"]


def test_engine_arithmetic_by_hand(lib):
    inv = compute_inventory(_rows(), lib, gwp="AR5", on=_duck())

    def one(entity, activity_type, pollutant):
        sel = inv[(inv["entity"] == entity) & (inv["activity_type"] == activity_type) & (inv["pollutant"] == pollutant)]
        assert len(sel) == 1, sel
        return sel.iloc[0]

    # sinks: area × rate × years; 10 km² = 1000 ha × 4 t/ha/yr × 182/366 yr (2020 H1, a leap year), negative
    sinks = inv[(inv["scope"] == "sink") & (inv["pollutant"] == "CO2")].sort_values("period_start")
    assert sinks["amount"].tolist() == pytest.approx([-1000 * 4.0 * 182 / 366, -4000.0], rel=1e-12)
    # 1500 TJ gas, net basis, factor in kg/TJ: A × EF / 1000 (the row's own factor, by hand)
    gas = one("plant_b", "natural_gas", "CO2")
    assert gas["factor_unit"] == "kg/TJ"
    assert gas["amount"] == pytest.approx(1500.0 * gas["factor_value"] / 1000.0, rel=1e-12)
    # the two spellings of Hebei are one region code
    assert set(inv.loc[inv["entity"].isin(["plant_a", "plant_b"]), "region"]) == {"CN-HE"}
    # E = A × EF × k × (1 − η): SO2 of plant_a is its uncontrolled SO2 × (1 − η) with η the row's own
    so2 = one("plant_a", "coal_bituminous", "SO2")
    plain = compute_inventory(_rows().iloc[[0]].assign(control=None), lib, gwp=None, on=_duck())
    plain_so2 = plain.loc[plain["pollutant"] == "SO2", "amount"].iloc[0]
    assert so2["amount"] == pytest.approx(plain_so2 * (1 - so2["removal_efficiency"]), rel=1e-12)


def test_engine_errors_name_the_input_line(lib):
    act = _rows()
    act.loc[4, "region"] = "Atlantis"
    with pytest.raises(InputError) as err:
        compute_inventory(act, lib, on=_duck())
    assert err.value.row == 6 and err.value.column == "region"  # header is line 1, row index 4 is line 6
    act = _rows()
    act.loc[2, "energy_basis"] = "lower"
    with pytest.raises(InputError, match="net or gross"):
        compute_inventory(act, lib, on=_duck())


def test_plan_is_one_expression_on_the_store(lib, store):
    """On a store (DuckDB file, PostgreSQL): the activity as stored, the join in the database, the same rows."""
    act = pd.concat([_rows().assign(entity=lambda d, i=i: d["entity"] + f"_{i}") for i in range(3)], ignore_index=True)
    ref = compute_inventory(act, lib, gwp="AR5")
    store.ingest({"activity": act}, source="rows")
    acc = _Accountant(lib, gwp="AR5", electricity="location", pollutants=None, source="activity")
    plan = plan_inventory(store.table("activity"), acc)
    # the per-key factor table is small: one row per distinct key × pollutant, whatever the number of entities
    assert len(plan.factors) * 3 == len(ref)
    got = compute_inventory(store.table("activity"), lib, gwp="AR5")
    pd.testing.assert_frame_equal(got, ref, check_exact=False, rtol=1e-12, atol=0)
    # and a frame shipped to the store's engine
    shipped = compute_inventory(act, lib, gwp="AR5", on=store)
    pd.testing.assert_frame_equal(shipped, ref, check_exact=False, rtol=1e-12, atol=0)


def test_activity_table_keeps_empty_columns_typed():
    t = activity_table(_rows().drop(columns=["control", "energy_basis", "sulfur_pct"]).assign(region=None))
    assert t.schema()["control"].is_string() and t.schema()["sulfur_pct"].is_floating()
