"""The columnar accounting engine: against the row-wise engine it replaced, and the cases of issues 11/12
with the arithmetic written out next to each figure."""

from __future__ import annotations

import importlib.util
import signal
from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coreduce.account import FactorLibrary, aggregate_observations, compute_inventory, factor_gaps, write_inventory
from coreduce.errors import FactorError, InputError, UnitError
from coreduce.units import conversion_factor, quantity

_spec = importlib.util.spec_from_file_location("_reference_engine", Path(__file__).with_name("_reference_engine.py"))
old = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(old)


def _act(**over):
    base = {
        "entity": ["plant_a"],
        "sector": ["power"],
        "period_start": ["2022-01-01"],
        "period_end": ["2023-01-01"],
        "activity_type": ["coal_bituminous"],
        "amount": [100.0],
        "unit": ["kt"],
    }
    base.update({k: [v] if not isinstance(v, list) else v for k, v in over.items()})
    return pd.DataFrame(base)


def _get(inv, pollutant, **filters):
    sel = inv[inv["pollutant"] == pollutant]
    for k, v in filters.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, sel
    return sel.iloc[0]


@pytest.fixture(scope="module")
def lib():
    return FactorLibrary.default()


def _eff(lib, control, pollutant):
    r = lib.removal_efficiencies
    return float(r.loc[(r["control"] == control) & (r["pollutant"] == pollutant), "efficiency"].iloc[0])


def _grid(lib, factor_id):
    g = lib.grid_factors
    return g[g["factor_id"] == factor_id].iloc[0]


# ---------------------------------------------------------------- the old engine as the reference
def _same_sets_library(lib: FactorLibrary, region: str) -> FactorLibrary:
    """The library restricted to the sets the new engine uses for ``region``, in its precedence order, so the
    row-wise engine (which knew only one global priority and no fuel-property scaling) makes the same choices.
    The row-wise engine knew only the global ``ncv`` table: the region's jurisdiction's per-mass NCVs
    (``jurisdiction_ncv``, e.g. GB/T 32151 in China) are put first in it, as the columnar engine uses them first."""
    prec = lib.precedence(region)
    sets = [s for s, sc in zip(prec["factor_set"], prec["scales_with"], strict=True) if not sc]
    ef = lib.emission_factors
    jn = lib.jurisdiction_ncv
    own = jn[jn["jurisdiction"] == lib.jurisdiction(lib.resolve_region(region))] if region != "*" else jn.iloc[0:0]
    ncv = pd.concat([own[["activity_type", "value", "unit", "source"]], lib.ncv], ignore_index=True)
    return replace(
        lib,
        emission_factors=ef[ef["factor_set"].isin(sets)].reset_index(drop=True),
        priority=tuple(sets),
        ncv=ncv.drop_duplicates("activity_type").reset_index(drop=True),
    )


def _compare(new: pd.DataFrame, ref: pd.DataFrame) -> None:
    key = ["entity", "sector", "period_start", "period_end", "activity_type", "scope", "pollutant"]
    a = new.sort_values(key).reset_index(drop=True)
    b = ref.sort_values(key).reset_index(drop=True)
    assert len(a) == len(b)
    for c in [*key, "unit", "factor_set", "factor_unit"]:
        assert (a[c].astype(str).to_numpy() == b[c].astype(str).to_numpy()).all(), c
    np.testing.assert_allclose(a["amount"].to_numpy(), b["amount"].to_numpy(), rtol=1e-12, atol=0)
    np.testing.assert_allclose(a["removal_efficiency"], b["removal_efficiency"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(a["factor_value"].fillna(-1), b["factor_value"].fillna(-1), rtol=1e-12, atol=0)


def test_demo_inventory_equals_the_row_wise_engine(lib):
    path = resources.files("coreduce.datasets").joinpath("beijing_2016", "activity.csv.gz")
    act = pd.read_csv(path)
    assert set(act["region"]) == {"Beijing"}
    # the forest sink row: the row-wise engine looked sink rates up by the exact region string, never through the
    # region → jurisdiction fallback (CN-BJ → CN); sinks are compared in the mixed-activity test below
    act = act[act["sector"] != "land"].reset_index(drop=True)
    same = _same_sets_library(lib, "CN-BJ")
    new = compute_inventory(act, same, gwp="AR5", chunk_rows=37)  # several chunks
    ref = old.compute_inventory(act, same, gwp="AR5")
    _compare(new, ref)
    assert set(new["region"]) == {"CN-BJ"}  # the region is written back as its ISO 3166-2 code
    assert len(new) > 1000
    # and the default library (all of CN's precedence) gives the same CO2 as the reference for this fuel mix
    full = compute_inventory(act, lib, gwp="AR5")
    co2 = full[full["pollutant"] == "CO2"]["amount"].sum()
    assert co2 == pytest.approx(ref[ref["pollutant"] == "CO2"]["amount"].sum(), rel=1e-12)


def test_mixed_activity_in_many_chunks_equals_the_row_wise_engine(tmp_path, lib):
    rates = tmp_path / "rates.csv"
    rates.write_text("land_type,region,value,unit,source\nforest_test,*,4.0,t/ha,hand-made test rate\n")
    base = FactorLibrary.from_csv(rates, base=lib)
    rng = np.random.default_rng(7)
    n = 300
    fuels = [("coal_bituminous", "kt", "power"), ("natural_gas", "TJ", "industry"), ("diesel", "t", "industry"),
             ("lpg", "GJ", "residential"), ("electricity_purchased", "MWh", "commercial"),
             ("heat_purchased", "GJ", "commercial"), ("forest_test", "ha", "land"), ("clinker_production", "t",
             "industry")]  # fmt: skip
    pick = rng.integers(0, len(fuels), n)
    months = rng.integers(1, 12, n)
    act = pd.DataFrame(
        {
            "entity": [f"f{i:04d}" for i in range(n)],
            "sector": [fuels[k][2] for k in pick],
            "period_start": [f"2022-{m:02d}-01" for m in months],
            "period_end": [f"2022-{m + 1:02d}-01" for m in months],
            "activity_type": [fuels[k][0] for k in pick],
            "amount": rng.random(n) * 1000,
            "unit": [fuels[k][1] for k in pick],
            "control": rng.choice(["", "ESP", "ESP+FGD_wet_limestone+SCR", "bag_filter+SCR"], n),
        }
    )
    same = _same_sets_library(base, "*")
    new = compute_inventory(act, same, gwp="AR6", chunk_rows=29)
    ref = old.compute_inventory(act, same, gwp="AR6")
    _compare(new, ref)
    assert {"1", "2", "sink"} <= set(new["scope"])


# ---------------------------------------------------------------- scope 2: one resolver
def test_guangdong_500000_mwh_2022_location_based(lib):
    act = _act(entity="mall", sector="commercial", activity_type="electricity_purchased", amount=500_000.0,
               unit="MWh", region="Guangdong")  # fmt: skip
    row = _get(compute_inventory(act, lib, gwp=None), "CO2")
    # grid_factors.csv has Guangdong's own 2022 factor, cn_mee_2022_Guangdong = 0.4403 kg/kWh, marked
    # verified=no (a single transcription); it is used, and the method says it is unverified:
    # 500 000 MWh = 5e8 kWh × 0.4403 kg/kWh = 2.2015e8 kg = 220 150 t
    gd = _grid(lib, "cn_mee_2022_Guangdong")
    assert (gd["region"], float(gd["value"]), gd["verified"]) == ("CN-GD", 0.4403, "no")
    assert row["amount"] == pytest.approx(220_150.0, rel=1e-12)
    assert row["method"].startswith("scope2 location: cn_mee_2022_Guangdong") and "verified=no" in row["method"]
    assert row["region"] == "CN-GD"
    # without unverified rows the South grid factor 0.3869 applies: 5e8 kWh × 0.3869 = 193 450 t —
    # never the national 0.5366 (268 300 t)
    g = lib.grid_factors
    verified = replace(lib, grid_factors=g[g["verified"] != "no"].reset_index(drop=True))
    row2 = _get(compute_inventory(act, verified, gwp=None), "CO2")
    assert float(_grid(lib, "cn_mee_2022_grid_South")["value"]) == 0.3869
    assert row2["amount"] == pytest.approx(193_450.0, rel=1e-12)
    assert "CN-GD has no 2022 location factor: grid CN-GRID-SOUTH used" in row2["method"]
    assert row2["amount"] != pytest.approx(268_300.0)


@pytest.mark.parametrize("spelling", ["CN-GD", "cn-gd", "Guangdong", "广东", "广东省"])
def test_region_spellings(lib, spelling):
    assert lib.resolve_region(spelling) == "CN-GD"
    r = lib.resolve_grid_factor(spelling, 2022, "location")
    assert (r.factor_id, r.level) == ("cn_mee_2022_Guangdong", "region")


def test_unknown_region_lists_close_matches(lib):
    with pytest.raises(FactorError, match=r"unknown region 'Guangdng'; close matches: CN-GD \(Guangdong\)"):
        lib.resolve_region("Guangdng")
    with pytest.raises(InputError, match=r"row 2, column 'region': got 'Guangdng'.*CN-GD \(Guangdong\)"):
        compute_inventory(_act(region="Guangdng"), lib)


def test_grid_year_fallbacks_are_stated(lib):
    # a year with no factor anywhere in the chain: the region's latest year before it, stated
    r = lib.resolve_grid_factor("CN-HE", 2030, "location")
    assert (r.factor_id, r.year) == ("cn_mee_2022_Hebei", 2022) or r.year < 2030
    assert "no 2030 factor" in r.note and "latest year before 2030" in r.note
    # a year before every row: the earliest year, stated
    e = lib.resolve_grid_factor("CN-HE", 1990, "location")
    assert "earliest year" in e.note and e.year == min(
        lib.grid_factors.loc[lib.grid_factors["region"] == "CN-HE", "year"]
    )
    # heat: the national default of the guidelines (2015), fallback stated
    h = lib.resolve_grid_factor("CN-GD", 2022, "heat")
    assert h.factor_id == "cn_heat_default" and "national CN used" in h.note


def test_footprint_uses_the_same_resolver(lib):
    from coreduce import footprint as fp

    f = fp.grid_factor("Guangdong", year=2022)
    r = lib.resolve_grid_factor("Guangdong", 2022, "location")
    assert f.factor_id == r.factor_id
    # 0.4403 kg/kWh (the row's unit is kg/kWh): 2 kWh × 0.4403 = 0.8806 kg
    assert fp.footprint_from_energy(2.0, province="广东").emissions_kg == pytest.approx(0.8806, rel=1e-12)
    with pytest.raises(FactorError, match="unknown province 'Atlantis'"):
        fp.grid_factor("Atlantis")


def test_one_version_on_every_row(lib):
    inv = compute_inventory(_act(), lib)
    assert set(inv["factor_version"]) == {lib.version} == {inv.attrs["factor_version"]}


# ---------------------------------------------------------------- gaps and controls
def test_coal_plant_with_esp_gets_pm_from_uncontrolled_factor(lib):
    act = _act(region="CN-GD", control="ESP", unit="t", amount=100_000.0)
    act["ash_pct"] = 20.0
    inv = compute_inventory(act, lib, gwp=None)
    esp10, esp25 = _eff(lib, "ESP", "PM10"), _eff(lib, "ESP", "PM2.5")
    assert (esp10, esp25) == (0.9765, 0.96)
    # ap42_ash (AP-42 Table 1.1-6): uncontrolled PM10 1.15 kg/t per wt% ash, PM2.5 0.3 kg/t per wt% ash
    # PM10 = 100 000 t × 1.15 kg/t × 20 × (1 − 0.9765) = 2 300 000 kg × 0.0235 = 54 050 kg = 54.05 t
    pm10 = _get(inv, "PM10")
    assert pm10["amount"] == pytest.approx(54.05, rel=1e-12)
    assert pm10["factor_set"] == "ap42_ash" and pm10["removal_efficiency"] == 0.9765
    # PM2.5 = 100 000 × 0.3 × 20 × (1 − 0.96) = 600 000 kg × 0.04 = 24 000 kg = 24 t
    assert _get(inv, "PM2.5")["amount"] == pytest.approx(24.0, rel=1e-12)
    assert not ((inv.attrs["gaps"]["pollutant"].isin(["PM10", "PM2.5"])).any())


def test_factor_gap_is_reported_never_a_silent_zero(lib):
    act = _act(region="CN-GD", control="ESP", unit="t", amount=100_000.0)  # no ash content given
    inv = compute_inventory(act, lib, gwp=None)
    assert not inv["pollutant"].isin(["PM10", "PM2.5"]).any()
    gaps = inv.attrs["gaps"]
    assert list(gaps.columns) == ["activity_type", "pollutant", "sector", "region", "rows", "reason"]
    pm = gaps[gaps["pollutant"].isin(["PM10", "PM2.5"])]
    assert set(pm["pollutant"]) == {"PM10", "PM2.5"}
    assert (pm["activity_type"] == "coal_bituminous").all() and (pm["sector"] == "power").all()
    assert (pm["region"] == "CN-GD").all() and (pm["rows"] == 1).all()
    assert pm["reason"].str.contains("set ap42_ash applies to rows that give ash_pct").all()
    # every expected pollutant is either a row or a gap
    fuels = {"CO2", "CH4", "N2O", "SO2", "NOx", "PM2.5", "PM10", "CO", "VOCs"}
    assert set(inv["pollutant"]) | set(gaps["pollutant"]) == fuels
    assert set(inv["pollutant"]).isdisjoint(set(gaps["pollutant"]))
    fg = factor_gaps(pd.concat([act, act.assign(entity="b")], ignore_index=True), lib)
    assert fg.set_index("pollutant").loc["PM10", "rows"] == 2
    # pd.concat of two inventories keeps working with the gap table in attrs
    assert len(pd.concat([inv, inv])) == 2 * len(inv)


def test_sulfur_mass_balance_preferred_over_emep_when_sulfur_is_given(lib):
    prec = lib.precedence("CN-GD")
    order = list(prec["factor_set"])
    assert order.index("so2_mass_balance") < order.index("emep_eea2023")
    assert prec.set_index("factor_set").loc["so2_mass_balance", "scales_with"] == "sulfur_pct"
    assert "us_40cfr98" not in order  # another jurisdiction's set
    # 100 kt coal, S = 1.0 %: 100 000 t × 19.0 kg/t × 1.0 = 1 900 000 kg = 1 900 t (so2_mass_balance)
    with_s = _act(region="CN-GD").assign(sulfur_pct=1.0)
    so2 = _get(compute_inventory(with_s, lib, gwp=None), "SO2")
    assert (so2["factor_set"], so2["amount"]) == ("so2_mass_balance", pytest.approx(1_900.0, rel=1e-12))
    # without S: EMEP/EEA Tier 1 820 kg/TJ × (100 000 t × 19.570 GJ/t = 1 957 TJ, the GB/T 32151 NCV of a CN
    # activity) = 1 604 740 kg = 1 604.74 t
    so2 = _get(compute_inventory(_act(region="CN-GD"), lib, gwp=None), "SO2")
    assert (so2["factor_set"], so2["amount"]) == ("emep_eea2023", pytest.approx(1_604.74, rel=1e-12))
    # the same coal outside China: IPCC NCV 25.8 GJ/t → 2 580 TJ × 820 kg/TJ = 2 115.6 t
    so2 = _get(compute_inventory(_act(region="DE"), lib, gwp=None), "SO2")
    assert (so2["factor_set"], so2["amount"]) == ("emep_eea2023", pytest.approx(2_115.6, rel=1e-12))


def test_fuel_properties_are_canonical_activity_columns(tmp_path, lib):
    from coreduce import schema

    # validate keeps sulfur_pct / ash_pct (declared in tables.csv) typed as float; a blank is "not given"
    v = schema.validate(_act(sulfur_pct=["1.5"], ash_pct=[""]), "activity")
    assert v["sulfur_pct"].tolist() == [1.5] and v["ash_pct"].isna().all()
    assert schema.spec("activity").column("sulfur_pct").unit == "%"
    # a mass % outside 0..100 is an input error naming the file, its line and the column
    f = tmp_path / "act.csv"
    rows = [_act(entity="a", unit="t", sulfur_pct=1.0), _act(entity="b", unit="t", ash_pct=150.0)]
    pd.concat(rows, ignore_index=True).to_csv(f, index=False)
    with pytest.raises(InputError, match=r"act\.csv, row 3, column 'ash_pct': got 150\.0, expected a fuel ash content"):
        compute_inventory(f, lib, gwp=None)


def test_validated_activity_is_not_validated_again_and_gives_the_same_inventory(lib):
    from coreduce import schema

    path = resources.files("coreduce.datasets").joinpath("beijing_2016", "activity.csv.gz")
    raw = pd.read_csv(path, dtype=str)
    act = schema.validate(raw, "activity")
    a = compute_inventory(raw, lib, gwp="AR5", chunk_rows=97)
    b = compute_inventory(act, lib, gwp="AR5", chunk_rows=97, validated=True)
    pd.testing.assert_frame_equal(a, b)
    assert act.equals(schema.validate(raw, "activity"))  # the caller's frame is left as it was


def test_user_sets_come_first_in_the_precedence(lib):
    user = lib.with_factors(pd.DataFrame({"factor_set": ["mine"], "activity_type": ["coal_bituminous"],
                                          "pollutant": ["SO2"], "value": ["1"], "unit": ["kg/t"],
                                          "source": ["plant test"]}))  # fmt: skip
    assert user.precedence("CN-GD")["factor_set"].iloc[0] == "mine"
    assert user.precedence("US-TX")["factor_set"].iloc[0] == "mine"


# ---------------------------------------------------------------- energy basis and calorific values
def test_gas_on_a_gross_basis_with_ipcc_factors(lib):
    eb = lib.energy_basis.set_index("activity_type")["net_to_gross"]
    assert eb["natural_gas"] == 0.90  # NCV/GCV, IPCC 2006 Vol.2 Ch.1 Sect. 1.4.1.1
    act = _act(activity_type="natural_gas", amount=1000.0, unit="GJ", sector="industry", energy_basis="gross")
    inv = compute_inventory(act, lib, gwp=None)
    # 1 000 GJ gross × 0.90 = 900 GJ net = 0.9 TJ × 56 100 kg/TJ = 50 490 kg = 50.49 t
    assert _get(inv, "CO2")["amount"] == pytest.approx(1000 * 0.90 * 56_100 / 1e6, rel=1e-12)
    net = compute_inventory(act.assign(energy_basis="net"), lib, gwp=None)
    assert _get(net, "CO2")["amount"] == pytest.approx(56.1, rel=1e-12)  # 1 TJ × 56 100 kg/TJ


def test_us_gross_basis_factor_set_gets_gross_energy(lib):
    btu = conversion_factor("MMBtu", "GJ")  # 1.055056 GJ/MMBtu (pint: Btu = 1055.056 J)
    gross = _act(activity_type="natural_gas", amount=1000.0, unit="GJ", sector="industry", region="US-TX",
                 energy_basis="gross")  # fmt: skip
    co2 = _get(compute_inventory(gross, lib, gwp=None), "CO2")
    # 40 CFR 98 Table C-1 53.06 kg/MMBtu (HHV): 1 000 GJ / 1.055056 GJ/MMBtu × 53.06 kg = 50 291.0 kg
    assert co2["factor_set"] == "us_40cfr98"
    assert co2["amount"] == pytest.approx(1000 / btu * 53.06 / 1000, rel=1e-12)
    # the same energy stated net: gross = net / 0.90 → 1 000 / 0.90 / 1.055056 × 53.06 kg
    net = _get(compute_inventory(gross.assign(energy_basis="net"), lib, gwp=None), "CO2")
    assert net["amount"] == pytest.approx(1000 / 0.90 / btu * 53.06 / 1000, rel=1e-12)


def test_gas_in_cubic_metres_uses_the_jurisdictions_volumetric_cv(lib):
    vc = lib.volumetric_cv.set_index(["activity_type", "jurisdiction"])
    assert vc.loc[("natural_gas", "CN"), "value"] == 389.31 and vc.loc[("natural_gas", "CN"), "basis"] == "net"
    cn = _act(activity_type="natural_gas", amount=10_000.0, unit="m^3", sector="industry", region="CN-GD")
    # 10 000 m³ × 389.31 GJ/10⁴ m³ (net) = 389.31 GJ = 0.38931 TJ × 55 539 kg/TJ (cn_enterprise: 15.3 tC/TJ × 0.99
    # × 44/12) = 21 621.88809 kg
    co2 = _get(compute_inventory(cn, lib, gwp=None), "CO2")
    assert co2["factor_set"] == "cn_enterprise"
    assert co2["amount"] == pytest.approx(0.38931 * 55_539 / 1000, rel=1e-12)
    assert co2["amount"] == pytest.approx(21.62188809, rel=1e-12)
    us = _act(activity_type="natural_gas", amount=1.0, unit="1e6*ft^3", sector="industry", region="US-TX")
    # 1e6 scf × 1.026e-3 MMBtu/scf (HHV, gross) = 1 026 MMBtu × 53.06 kg/MMBtu = 54 439.56 kg
    assert _get(compute_inventory(us, lib, gwp=None), "CO2")["amount"] == pytest.approx(54.43956, rel=1e-12)


# ---------------------------------------------------------------- units and bad input (issue 12)
@pytest.mark.parametrize("unit", ["ton", "tons", "kiloton", "mt"])
def test_ambiguous_units_name_the_choices(unit):
    with pytest.raises(UnitError, match=r"ambiguous unit .*'t'"):
        quantity(unit)
    with pytest.raises(InputError, match=r"row 2, column 'unit'.*ambiguous"):
        compute_inventory(_act(unit=unit))


def test_kt_stays_a_kilotonne():
    assert conversion_factor("kt", "t") == 1000.0


def _alarm(seconds):
    def handler(*_):
        raise TimeoutError("unit parsing did not fail fast")

    signal.signal(signal.SIGALRM, handler)
    signal.alarm(seconds)


@pytest.mark.parametrize("unit", ["10**10**10*t", "10^10^10*t", "t^999999", "(10**10)**10*t", "x" * 5000])
def test_unit_expressions_are_bounded(unit):
    _alarm(5)
    try:
        with pytest.raises(UnitError, match=r"exponent|characters long"):
            quantity(unit)
        with pytest.raises(InputError, match="column 'unit'"):
            compute_inventory(_act(unit=unit))
    finally:
        signal.alarm(0)


@pytest.mark.parametrize("unit", ["-1*t", "0*t"])
def test_non_positive_unit_scale_is_an_error(unit):
    with pytest.raises(InputError, match=r"row 2, column 'unit'.*finite positive"):
        compute_inventory(_act(unit=unit))


def test_amount_overflow_names_the_input_row_and_column():
    act = pd.concat([_act(), _act(entity="b", amount=1e308)], ignore_index=True)
    with pytest.raises(InputError, match=r"act.csv, row 3, column 'amount': got 1e\+308"):
        compute_inventory(act, source="act.csv")


def test_electricity_in_tonnes_is_an_input_error():
    # the row-wise engine raised AttributeError: 'Pandas' object has no attribute '_line'
    act = _act(entity="office", sector="commercial", activity_type="electricity_purchased", unit="t", amount=5.0)
    with pytest.raises(InputError, match=r"act.csv, row 2, column 'unit': got 't', expected an energy unit"):
        compute_inventory(act, source="act.csv")


def test_sink_rate_only_for_another_region_is_a_clear_error(tmp_path, lib):
    # the row-wise engine raised IndexError
    rates = tmp_path / "rates.csv"
    rates.write_text("land_type,region,value,unit,source\nforest_test,CN-BJ,4.0,t/ha,hand-made test rate\n")
    act = _act(entity="county", sector="land", activity_type="forest_test", amount=10.0, unit="ha", region="CN-GD")
    with pytest.raises(FactorError, match=r"row 2, column 'region': no sink rate for land type 'forest_test'.*CN-BJ"):
        compute_inventory(act, FactorLibrary.from_csv(rates, base=lib))
    # Beijing's own rate: 10 ha × 4 t/ha/yr × 1 yr = 40 t removed
    inv = compute_inventory(act.assign(region="Beijing"), FactorLibrary.from_csv(rates, base=lib), gwp=None)
    assert _get(inv, "CO2")["amount"] == pytest.approx(-40.0, rel=1e-12)


def test_bad_energy_basis():
    with pytest.raises(InputError, match=r"row 2, column 'energy_basis': got 'HHV', expected net or gross"):
        compute_inventory(_act(energy_basis="HHV"))


# ---------------------------------------------------------------- streaming
def test_write_inventory_streams_the_same_rows(tmp_path, lib):
    act = pd.concat([_act(entity=f"p{i}", amount=float(i + 1)) for i in range(23)], ignore_index=True)
    act.to_parquet(tmp_path / "act.parquet")
    act.to_csv(tmp_path / "act.csv", index=False)
    mem = compute_inventory(act, lib)
    for src in ("act.parquet", "act.csv"):
        info = write_inventory(tmp_path / src, tmp_path / f"out_{src}", lib, chunk_rows=5)
        back = pd.read_parquet(tmp_path / f"out_{src}")
        assert info["parts"] == 5 and info["rows"] == len(mem) == len(back) and info["activity_rows"] == 23
        key = ["entity", "pollutant"]
        a, b = mem.sort_values(key).reset_index(drop=True), back.sort_values(key).reset_index(drop=True)
        np.testing.assert_allclose(a["amount"], b["amount"], rtol=1e-12)
        assert (a["entity"] == b["entity"]).all()
    # an error leaves nothing behind, and the row number is the file's line
    bad = pd.concat([act, _act(entity="zz", unit="ton")], ignore_index=True)
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError, match=r"bad.csv, row 25, column 'unit'"):
        write_inventory(tmp_path / "bad.csv", tmp_path / "out_bad", lib, chunk_rows=5)
    assert not (tmp_path / "out_bad").exists()


# ---------------------------------------------------------------- aggregate_observations (both backends)
def _quarter_hours() -> tuple[pd.DataFrame, pd.DataFrame]:
    # 288 readings every 15 min from 2022-01-01 00:00 UTC = 05:30 in Asia/Kolkata (+05:30):
    # local 1 Jan 05:30–24:00 = 18.5 h = 74 readings; 2 and 3 Jan 96 each; 4 Jan 00:00–05:30 = 22
    ts = pd.date_range("2022-01-01", periods=288, freq="15min", tz="UTC")
    obs = pd.DataFrame({"site_id": "s1", "ts": ts, "variable": "so2_emission_rate", "value": 1.0, "unit": "kg/h",
                        "source": "t", "quality": "ok"})  # fmt: skip
    sites = pd.DataFrame({"site_id": ["s1"], "kind": ["plant"]})
    return sites, obs


def test_aggregate_observations_local_days_in_memory():
    _, obs = _quarter_hours()
    out = aggregate_observations(obs, "day", tz="Asia/Kolkata")
    assert out["n"].tolist() == [74, 96, 96, 22]
    assert out["value_sum"].tolist() == [74.0, 96.0, 96.0, 22.0]
    assert out["period"].iloc[0] == pd.Timestamp("2022-01-01", tz="Asia/Kolkata")
    utc = aggregate_observations(obs, "day")
    assert utc["n"].tolist() == [96, 96, 96]  # 288 readings over three UTC days


def test_aggregate_observations_on_the_store(store):
    sites, obs = _quarter_hours()
    store.ingest({"sites": sites, "observations": obs})
    out = aggregate_observations(store.table("observations"), "day", tz="Asia/Kolkata")
    # PostgreSQL used UTC-hour buckets: an hour straddling local midnight went to the wrong day ([76,96,96,20])
    assert out["n"].tolist() == [74, 96, 96, 22]
    assert out["value_mean"].tolist() == [1.0, 1.0, 1.0, 1.0]
    monthly = aggregate_observations(store.table("observations"), "month", tz="Asia/Kolkata")
    assert monthly["n"].tolist() == [288]
    hourly = aggregate_observations(store.table("observations"), "hour")
    assert len(hourly) == 72 and set(hourly["n"]) == {4}  # 4 quarter hours in each of 72 UTC hours


def test_user_tables_of_the_new_kinds_are_recognised(tmp_path, lib):
    f = tmp_path / "basis.csv"
    f.write_text("activity_type,net_to_gross,source\nnatural_gas,0.9025,supplier's gas analysis 2024 (NCV/GCV)\n")
    user = FactorLibrary.from_csv(f, base=lib)
    assert user.energy_basis.set_index("activity_type").loc["natural_gas", "net_to_gross"] == 0.9025
    act = _act(activity_type="natural_gas", amount=1000.0, unit="GJ", sector="industry", energy_basis="gross")
    # 1 000 GJ gross × 0.9025 = 902.5 GJ net × 56 100 kg/TJ = 50 630.25 kg
    assert _get(compute_inventory(act, user, gwp=None), "CO2")["amount"] == pytest.approx(50.63025, rel=1e-12)
    assert user.version != lib.version
    r = tmp_path / "regions.csv"
    r.write_text("code,name,name_zh,aliases,country,grid,jurisdiction,source\nXX-AT,Atlantis,,Atlantida,XX,,*,test\n")
    assert FactorLibrary.from_csv(r, base=lib).resolve_region("Atlantida") == "XX-AT"


def test_pollutant_filter_keeps_co2e_from_all_gases(lib):
    inv = compute_inventory(_act(), lib, pollutants=["CO2e"])
    assert set(inv["pollutant"]) == {"CO2e"}
    # 244 068 t CO2 + 28 × 2.58 t CH4 + 265 × 3.87 t N2O = 245 165.79 t (AR5)
    assert inv["amount"].iloc[0] == pytest.approx(245_165.79, rel=1e-12)


def test_duplicate_key_across_chunks_is_an_error(tmp_path, lib):
    act = pd.concat([_act(entity=f"p{i}") for i in range(7)] + [_act(entity="p1")], ignore_index=True)
    with pytest.raises(InputError, match=r"row 9, column 'entity'.*one row per key.*same key as row 3"):
        compute_inventory(act, lib, chunk_rows=3)
    with pytest.raises(InputError, match=r"row 9, column 'entity'"):
        write_inventory(act, tmp_path / "out", lib, chunk_rows=3)
    assert not (tmp_path / "out").exists()


def test_chosen_factor_per_activity_and_pollutant_is_unambiguous(lib):
    cn = lib.chosen_factors("CN-GD", 2022, sector="power").set_index(["activity_type", "pollutant"])
    assert not cn.index.duplicated().any()
    # the two coal NOx factors of the library: EMEP/EEA 209 kg/TJ (any jurisdiction) for China, and the
    # US-only eia_egrid 6.0 kg/t that comes first in a US state's precedence
    assert (cn.loc[("coal_bituminous", "NOx"), "factor_set"], cn.loc[("coal_bituminous", "NOx"), "value"]) == (
        "emep_eea2023",
        209.0,
    )
    us = lib.chosen_factors("US-TX", 2022, sector="power").set_index(["activity_type", "pollutant"])
    assert us.loc[("coal_bituminous", "NOx"), "factor_set"] == "eia_egrid"
    assert us.loc[("coal_bituminous", "CO2"), "factor_set"] == "us_40cfr98"
    # the engine agrees: 100 kt coal in a US power plant, NOx 6.0 kg/t × 100 000 t = 600 t
    inv = compute_inventory(_act(region="US-TX"), lib, gwp=None)
    assert _get(inv, "NOx")["amount"] == pytest.approx(600.0, rel=1e-12)


def test_us_coal_in_short_tons_uses_the_jurisdictions_hhv(lib):
    g = lib.gcv.set_index(["activity_type", "jurisdiction"])
    assert g.loc[("coal_bituminous", "US"), "value"] == 24.93  # 40 CFR 98 Table C-1, MMBtu/short ton (HHV)
    act = _act(region="US-TX", amount=1000.0, unit="short_ton")
    co2 = _get(compute_inventory(act, lib, gwp=None), "CO2")
    # 1 000 short tons × 24.93 MMBtu/short ton (gross) × 93.28 kg/MMBtu (gross) = 2 325 470.4 kg: no basis change
    assert co2["factor_set"] == "us_40cfr98"
    assert co2["amount"] == pytest.approx(1000 * 24.93 * 93.28 / 1000, rel=1e-12)
    # metric tonnes: 1 000 t = 1 000 / 0.90718474 short tons
    co2_t = _get(compute_inventory(act.assign(unit="t"), lib, gwp=None), "CO2")
    assert co2_t["amount"] == pytest.approx(1000 / 0.90718474 * 24.93 * 93.28 / 1000, rel=1e-12)
    # in China the same coal goes through China's NCV (GB/T 32151: 19.570 GJ/t, net) and the cn_enterprise factor
    # (26.1 tC/TJ × 0.93 × 44/12 = 89 001 kg/TJ): 1 000 t × 19.570 GJ/t × 89 001 kg/TJ / 1e6 = 1 741.74957 t
    cn = _get(compute_inventory(act.assign(unit="t", region="CN-GD"), lib, gwp=None), "CO2")
    assert cn["factor_set"] == "cn_enterprise"
    assert cn["amount"] == pytest.approx(1741.74957, rel=1e-12)


def test_streamed_csv_with_a_duplicated_header_column(tmp_path, lib):
    f = tmp_path / "dup.csv"
    f.write_text(
        "entity,sector,period_start,period_end,activity_type,amount,unit,amount\n"
        "p,power,2022-01-01,2023-01-01,coal_bituminous,1,kt,2\n"
    )
    with pytest.raises(InputError, match=r"dup.csv, row 1, column 'amount'.*each column name once"):
        write_inventory(f, tmp_path / "out", lib)


@pytest.mark.parametrize(
    ("fuel", "ncv_cn", "co2_cn", "ncv_ipcc", "co2_ipcc"),
    [  # GB/T 32151 Table C.1 NCV [GJ/t] and C × oxidation × 44/12 [kg/TJ]; IPCC 2006 Table 1.2 NCV and Table 1.4 CO2
        ("coal_bituminous", 19.570, 89_001.0, 25.8, 94_600.0),
        ("diesel", 42.652, 72_585.33, 43.0, 74_100.0),
        ("gasoline", 43.070, 67_914.0, 44.3, 69_300.0),
        ("fuel_oil", 41.816, 75_819.33, 40.4, 77_400.0),
        ("lpg", 50.179, 61_805.33, 47.3, 63_100.0),
    ],
)
def test_china_tonnes_use_chinas_ncv_with_chinas_carbon_content(lib, fuel, ncv_cn, co2_cn, ncv_ipcc, co2_ipcc):
    """A CN activity in tonnes: CN NCV × CN factor (never IPCC NCV × CN factor); in energy units: the CN factor
    directly; a US/EU/unlisted activity keeps the IPCC NCV and factor (or its own jurisdiction's)."""
    t = _act(activity_type=fuel, amount=1000.0, unit="t", sector="industry", region="CN-BJ")
    co2 = _get(compute_inventory(t, lib, gwp=None), "CO2")
    assert co2["factor_set"] == "cn_enterprise" and co2["factor_value"] == co2_cn
    # 1 000 t × NCV [GJ/t] = NCV TJ; × kg/TJ / 1 000 = t CO2
    assert co2["amount"] == pytest.approx(ncv_cn * co2_cn / 1000, rel=1e-12)
    # CH4 falls to ipcc2006 per TJ, on the same (Chinese) energy: 1 000 t × 19.570 GJ/t = 19.57 TJ, etc.
    # (the library has no stationary CH4 factor for gasoline: that one is a reported gap, not a number)
    if fuel != "gasoline":
        ch4 = _get(compute_inventory(t, lib, gwp=None), "CH4")
        assert ch4["factor_set"] == "ipcc2006"
        assert ch4["amount"] == pytest.approx(ncv_cn * ch4["factor_value"] / 1000, rel=1e-12)
    # energy units: no calorific value at all, 1 000 GJ = 1 TJ × kg/TJ / 1 000
    gj = _get(compute_inventory(t.assign(unit="GJ"), lib, gwp=None), "CO2")
    assert gj["amount"] == pytest.approx(co2_cn / 1000, rel=1e-12)
    # EU (DE) and a region of jurisdiction '*' (GB): IPCC NCV × IPCC factor, unchanged by the Chinese rows
    for region in ("DE", "GB"):
        eu = _get(compute_inventory(t.assign(region=region), lib, gwp=None), "CO2")
        assert eu["factor_set"] == "ipcc2006"
        assert eu["amount"] == pytest.approx(ncv_ipcc * co2_ipcc / 1000, rel=1e-12)


def test_china_ncv_rows_do_not_reach_us_activity(lib):
    # 1 000 t diesel in Texas: 40 CFR 98 needs gallons or energy; with neither a US mass HHV for diesel, the IPCC
    # NCV (43.0 GJ/t, net) is used and turned gross for the gross-basis us_40cfr98 factor (÷ 0.95):
    # 43.0 TJ / 0.95 / 1.055056 GJ/MMBtu × 1 000 × 73.96 kg/MMBtu / 1 000 = 3 172.97 t CO2
    us = _get(compute_inventory(_act(activity_type="diesel", amount=1000.0, unit="t", region="US-TX"), lib,
                                gwp=None), "CO2")  # fmt: skip
    assert us["factor_set"] == "us_40cfr98"
    btu = conversion_factor("MMBtu", "GJ")
    assert us["amount"] == pytest.approx(1000 * 43.0 / 0.95 / btu * us["factor_value"] / 1000, rel=1e-12)
    assert us["factor_value"] == 73.96  # 40 CFR 98 Table C-1 distillate fuel oil No. 2, kg CO2/MMBtu (HHV)


def test_china_coke_in_tonnes_needs_chinas_ncv(lib):
    # IPCC's ncv.csv has no coke row; China's table has 28.435 GJ/t: 10 t × 28.435 GJ/t = 0.28435 TJ × 100 595 kg/TJ
    # (29.5 tC/TJ × 0.93 × 44/12) = 28 604.188 kg
    coke = _act(activity_type="coke", amount=10.0, unit="t", sector="industry", region="CN-BJ")
    co2 = _get(compute_inventory(coke, lib, gwp=None), "CO2")
    assert (co2["factor_set"], co2["amount"]) == ("cn_enterprise", pytest.approx(28.60418825, rel=1e-12))
    # outside China there is no calorific value per tonne for coke: one clear error, not a silent zero
    with pytest.raises(FactorError, match="no calorific value per mass for 'coke'"):
        compute_inventory(coke.assign(region="DE"), lib, gwp=None)
