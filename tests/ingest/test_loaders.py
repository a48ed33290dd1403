"""Real-data loaders: row counts, spans and spot values read by hand from the files in shared/data.

Line numbers below are 1-based lines of the (decompressed) CSV, the header being line 1. A test whose data
set is not in the configured data folders (``$COREDUCE_DATA``, the user data folder, a checkout's
``../shared/data``) is skipped with the reason, not failed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coreduce.errors import CoreduceError
from coreduce.ingest.loaders import (
    available,
    find,
    read_beijing_aq,
    read_beijing_pm25_embassy,
    read_ceads_cities,
    read_ceads_national,
    read_ceads_province_totals,
    read_ceads_provinces,
    read_city_panel,
    read_cui2021_daily,
    read_egrid_factors,
    read_gas_turbine,
    read_owid_co2,
    shared_data_dir,
)
from coreduce.schema import empty, spec
from coreduce.units import conversion_factor

MT = conversion_factor("Mt", "t")


def need(name: str) -> Path:
    """The located data set ``name``, or skip the test saying what is missing and where to get it."""
    p = find(name)
    if p is None:
        from coreduce.ingest.loaders import SPECS

        pytest.skip(f"data set {name} not present (needs {SPECS[name].expected} from {SPECS[name].url})")
    return p


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def one(df: pd.DataFrame, **where) -> pd.Series:
    """The single row of ``df`` matching all ``column=value`` pairs."""
    m = np.ones(len(df), dtype=bool)
    for k, v in where.items():
        m &= (df[k] == v).to_numpy()
    assert m.sum() == 1, f"{m.sum()} rows match {where}"
    return df[m].iloc[0]


def assert_canonical(df: pd.DataFrame, table: str) -> None:
    """Columns in spec order with the canonical dtypes of :func:`coreduce.schema.empty`."""
    assert list(df.columns) == spec(table).names
    assert (df.dtypes == empty(table).dtypes).all(), df.dtypes


# ---------------------------------------------------------------- fixtures: each file is read once


@pytest.fixture(scope="module")
def beijing():
    need("beijing-aq")
    return read_beijing_aq()


@pytest.fixture(scope="module")
def embassy():
    need("beijing-pm25")
    return read_beijing_pm25_embassy()


@pytest.fixture(scope="module")
def ceads_prov():
    need("ceads-provinces")
    return read_ceads_provinces()


@pytest.fixture(scope="module")
def gas_turbine():
    need("gas-turbine")
    return read_gas_turbine()


# ---------------------------------------------------------------- paths


def test_checkout_finds_its_shared_data(tmp_path, monkeypatch):
    monkeypatch.delenv("COREDUCE_DATA", raising=False)
    monkeypatch.delenv("COREDUCE_SHARED_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)  # not under the checkout: found from the package's own location
    need("beijing-aq")
    d = shared_data_dir()
    assert (d.name, d.parent.name) == ("data", "shared")
    assert (d / "beijing_multisite_air_quality" / "PROVENANCE.md").is_file()


# ---------------------------------------------------------------- Beijing multi-site


def test_beijing_multisite_sites(beijing):
    sites, _ = beijing
    assert_canonical(sites, "sites")
    assert len(sites) == 12
    assert set(sites["kind"]) == {"station"}
    assert set(sites["region"]) == {"Beijing"}
    aoti = one(sites, site_id="bj_aotizhongxin")
    # KDD Cup 2018 station list (Beijing_AirQuality_Stations_cn): aotizhongxin_aq 116.397 39.982
    assert (aoti["lon"], aoti["lat"]) == (116.397, 39.982)
    assert sites["lat"].between(39.8, 40.4).all()
    assert sites["lon"].between(116.1, 116.7).all()


def test_beijing_multisite_observations(beijing):
    _, obs = beijing
    assert_canonical(obs, "observations")
    # 12 stations x 35,064 hours x 11 variables = 4,628,448 cells, 72,205 of them NA
    assert len(obs) == 4_556_243
    site = obs["site_id"].astype("category")  # one pass over the 4.5 M strings, then cheap code compares
    assert len(site.cat.categories) == 12
    assert set(obs["variable"]) == {
        "PM2.5",
        "PM10",
        "SO2",
        "NO2",
        "CO",
        "O3",
        "TEMP",
        "PRES",
        "DEWP",
        "RAIN",
        "WSPM",
    }
    assert obs["source"].iloc[[0, -1]].tolist() == ["uci_prsa_multisite"] * 2
    # span: 2013-03-01 00:00 .. 2017-02-28 23:00 Beijing time (UTC+8) in UTC
    assert obs["ts"].min() == ts("2013-02-28 16:00")
    assert obs["ts"].max() == ts("2017-02-28 15:00")
    assert obs["ts"].nunique() == 35_064  # the hourly index has no gaps
    aoti = obs[(site == "bj_aotizhongxin").to_numpy()]
    assert aoti["ts"].nunique() == 35_064
    # PROVENANCE.md: Aotizhongxin has 925 missing PM2.5 and 1776 missing CO
    assert (aoti["variable"] == "PM2.5").sum() == 35_064 - 925
    assert (aoti["variable"] == "CO").sum() == 35_064 - 1776
    # Aotizhongxin line 2: "1,2013,3,1,0,4,4,4,7,300,77,-0.7,1023,-18.8,0,"NNW",4.4" (local 2013-03-01 00:00)
    first = aoti[aoti["ts"] == ts("2013-02-28 16:00")].set_index("variable")
    assert first.loc["PM2.5", "value"] == 4.0
    assert first.loc["PM2.5", "unit"] == "ug/m^3"
    assert first.loc["CO", "value"] == 300.0  # CO is in µg/m³ already, not converted
    assert first.loc["TEMP", "value"] == -0.7
    assert first.loc["TEMP", "unit"] == "degC"
    assert first.loc["PRES", "value"] == 1023.0
    assert first.loc["PRES", "unit"] == "hPa"
    assert first.loc["WSPM", "value"] == 4.4
    # line 76: row No 75 (2013-03-04 02:00 local) has SO2 = NA -> no SO2 row at 2013-03-03 18:00 UTC
    at75 = aoti[aoti["ts"] == ts("2013-03-03 18:00")]
    assert "SO2" not in set(at75["variable"])
    assert one(at75, variable="NO2")["value"] == 14.0
    # Aotizhongxin last line: 35064,2017,2,28,23,19,31,10,79,600,42,... -> O3 42 at 2017-02-28 15:00 UTC
    assert one(aoti, ts=ts("2017-02-28 15:00"), variable="O3")["value"] == 42.0


def test_beijing_multisite_station_filter():
    need("beijing-aq")
    sites, obs = read_beijing_aq(stations=["dongsi"])
    assert sites["site_id"].tolist() == ["bj_dongsi"]
    assert set(obs["site_id"]) == {"bj_dongsi"}
    # Dongsi line 2: 1,2013,3,1,0,9,9,3,17,300,89,-0.5,1024.5,-21.4,...
    assert one(obs, ts=ts("2013-02-28 16:00"), variable="NO2")["value"] == 17.0
    with pytest.raises(CoreduceError, match="station"):
        read_beijing_aq(stations=["Nowhere"])


def test_beijing_pm25_embassy(embassy):
    sites, obs = embassy
    assert_canonical(sites, "sites")
    assert_canonical(obs, "observations")
    assert sites["site_id"].tolist() == ["bj_us_embassy"]
    assert sites["lat"].isna().all()
    # 43,824 hours x 7 variables, minus the 2,067 hours without pm2.5
    assert len(obs) == 43_824 * 7 - 2_067
    assert (obs["variable"] == "PM2.5").sum() == 43_824 - 2_067
    assert obs["ts"].min() == ts("2009-12-31 16:00")  # 2010-01-01 00:00 local
    assert obs["ts"].max() == ts("2014-12-31 15:00")  # 2014-12-31 23:00 local
    # line 26: "25,2010,1,2,0,129,-16,-4,1020,SE,1.79,0,0" = first PM2.5 value, 2010-01-02 00:00 local
    pm = obs[obs["variable"] == "PM2.5"]
    assert pm["ts"].min() == ts("2010-01-01 16:00")
    assert one(pm, ts=ts("2010-01-01 16:00"))["value"] == 129.0
    # last line: "43824,2014,12,31,23,12,-21,-3,1034,NW,249.85,0,0"
    assert one(obs, ts=ts("2014-12-31 15:00"), variable="Iws")["value"] == 249.85
    assert one(obs, ts=ts("2014-12-31 15:00"), variable="DEWP")["value"] == -21.0


# ---------------------------------------------------------------- CEADs


def test_ceads_provinces(ceads_prov):
    inv = ceads_prov
    assert_canonical(inv, "inventory")
    assert len(inv) == 199_535
    assert inv["entity"].nunique() == 30
    # 47 sectors in the workbooks; "Logging and Transport of Wood and Bamboo" is 0 everywhere (zeros dropped)
    assert inv["sector"].nunique() == 46
    assert "Logging and Transport of Wood and Bamboo" not in set(inv["sector"])
    assert "Total" not in set(inv["sector"])
    assert (inv["amount"] > 0).all()
    assert set(inv["unit"]) == {"t"}
    assert set(inv["pollutant"]) == {"CO2"}
    assert set(inv["method"]) == {"reported: CEADs"}
    assert {"raw_coal", "natural_gas", "diesel_oil", "lpg", "process"} <= set(inv["activity_type"])
    assert "other_energy" not in set(inv["activity_type"])
    assert "scope_1_total" not in set(inv["activity_type"])
    assert inv["period_start"].min() == ts("1997-01-01")
    assert inv["period_end"].max() == ts("2020-01-01")
    assert ((inv["period_end"] - inv["period_start"]).dt.days.isin([365, 366])).all()
    # Beijing 2019 "Farming, Forestry, ..." row, Raw_Coal 0.044224 Mt (line of that sector, column 4)
    farm = one(
        inv,
        entity="Beijing",
        period_start=ts("2019-01-01"),
        activity_type="raw_coal",
        sector="Farming, Forestry, Animal Husbandry, Fishery and Water Conservancy",
    )
    assert farm["amount"] == pytest.approx(0.044224 * MT, abs=1e-6)
    assert farm["scope"] == "1"


def test_ceads_beijing_2019_scope1_total(ceads_prov):
    # ceads_province_totals line 635: Beijing,2019,...,Scope_1_Total 89.184484 (Mt)
    need("ceads-provinces")
    totals = read_ceads_province_totals()
    assert len(totals) == 690
    published = one(totals, province="Beijing", year=2019)["scope_1_total_t"]
    assert published == pytest.approx(89.184484 * MT, abs=1e-6)
    bj = ceads_prov[(ceads_prov["entity"] == "Beijing") & (ceads_prov["period_start"] == ts("2019-01-01"))]
    s1 = bj.loc[bj["scope"] == "1", "amount"]
    # The 191 non-zero sector cells are published to 1e-6 Mt each, so their sum may drift by up to
    # 191 * 0.5e-6 Mt from the workbook total; by hand it is 89.184471 Mt, 1.3e-5 Mt (13 t) low.
    assert len(s1) == 191
    assert s1.sum() / MT == pytest.approx(89.184484, abs=len(s1) * 0.5e-6)
    assert s1.sum() / MT == pytest.approx(89.184471, abs=1e-9)
    # the Total row's own fuel cells (line 635, 18 scope-1 cells) sum to 89.184483, within 1e-6 Mt
    tot = read_ceads_provinces(years=[2019], provinces=["Beijing"], include_total_rows=True)
    trow = tot[(tot["sector"] == "Total") & (tot["scope"] == "1")]
    assert trow["amount"].sum() / MT == pytest.approx(89.184484, abs=1.0000001e-6)
    assert one(trow, activity_type="natural_gas")["amount"] == pytest.approx(39.098391 * MT, abs=1e-6)
    assert one(trow, activity_type="process")["amount"] == pytest.approx(1.029047 * MT, abs=1e-6)


def test_ceads_province_sums_match_totals_everywhere(ceads_prov):
    totals = read_ceads_province_totals().set_index(["province", "year"])["scope_1_total_t"]
    s1 = ceads_prov[ceads_prov["scope"] == "1"]
    g = s1.groupby([s1["entity"], s1["period_start"].dt.year])["amount"].agg(["sum", "size"])
    g.index.names = ["province", "year"]
    diff = (g["sum"] - totals.reindex(g.index)).abs() / MT
    assert len(g) == 690
    assert (diff <= g["size"] * 0.5e-6).all()
    assert diff.max() < 2e-5


def test_ceads_national():
    need("ceads-national")
    nat = read_ceads_national()
    assert_canonical(nat, "inventory")
    assert len(nat) == 407
    assert set(nat["entity"]) == {"China"}
    y2019 = nat[nat["period_start"] == ts("2019-01-01")]
    # PROVENANCE.md spot value: national 2019 Scope_1_Total = 9794.756 Mt (full precision in the file)
    assert y2019.loc[y2019["scope"] == "1", "amount"].sum() / MT == pytest.approx(9794.756, abs=5e-4)
    # national file line 24: 2019,4911.8516153620785 (Raw_Coal)
    assert one(y2019, activity_type="raw_coal")["amount"] == pytest.approx(4911.8516153620785 * MT, rel=1e-12)


def test_ceads_cities():
    need("ceads-cities")
    inv = read_ceads_cities()
    assert_canonical(inv, "inventory")
    assert len(inv) == 3929
    assert inv["entity"].nunique() == 290
    assert set(inv["activity_type"]) == {"total"}
    assert set(inv["sector"]) == {"total"}
    # line 24: 北京2019,北京,北京,北京,2019,88.155427
    bj = one(inv, entity="北京", period_start=ts("2019-01-01"))
    assert bj["amount"] == pytest.approx(88.155427 * MT, abs=1e-6)
    assert bj["region"] == "北京"
    # line 3534: the stray 1995 row 贵州贵阳 7.237991
    gy = one(inv, entity="贵州贵阳", period_start=ts("1995-01-01"))
    assert gy["amount"] == pytest.approx(7.237991 * MT, abs=1e-6)
    assert gy["period_end"] == ts("1996-01-01")


# ---------------------------------------------------------------- Cui et al. 2021


def test_cui2021_daily():
    need("cui2021")
    inv = read_cui2021_daily()
    assert_canonical(inv, "inventory")
    assert len(inv) == 67_952
    assert inv["entity"].nunique() == 31
    assert set(inv["sector"]) == {"power", "industry", "ground_transport"}
    assert inv["period_start"].min() == ts("2019-01-01")
    assert inv["period_end"].max() == ts("2021-01-01")
    assert ((inv["period_end"] - inv["period_start"]) == pd.Timedelta(days=1)).all()
    # line 2: 2019-01-01,AH,Anhui,ground_transport,0.088381 (Mt/day)
    ah = one(inv, entity="Anhui", sector="ground_transport", period_start=ts("2019-01-01"))
    assert ah["amount"] == pytest.approx(88_381.0, abs=1e-6)
    # ground transport omits 2020-02-29; power has it (line 46448: 2020-02-29,BJ,Beijing,power,0.114807)
    leap = inv[inv["period_start"] == ts("2020-02-29")]
    assert "ground_transport" not in set(leap["sector"])
    assert one(leap, entity="Beijing", sector="power")["amount"] == pytest.approx(114_807.0, abs=1e-6)
    # PROVENANCE.md annual sums over provinces (Mt): power 2019 4569.0, ground transport 2020 807.8
    yr = inv.groupby([inv["sector"], inv["period_start"].dt.year])["amount"].sum() / MT
    assert yr[("power", 2019)] == pytest.approx(4569.0, abs=0.05)
    assert yr[("industry", 2020)] == pytest.approx(4222.1, abs=0.05)
    assert yr[("ground_transport", 2020)] == pytest.approx(807.8, abs=0.05)
    bj = read_cui2021_daily(provinces=["BJ"])
    assert set(bj["entity"]) == {"Beijing"}
    assert len(bj) == 731 * 2 + 730


# ---------------------------------------------------------------- OWID


def test_owid_co2():
    need("owid")
    inv = read_owid_co2()
    assert_canonical(inv, "inventory")
    assert len(inv) == 29_137
    # PROVENANCE.md spot values (Mt): China 2019 10713.984, 2023 11902.503; World 2023 37791.570
    china = inv[inv["entity"] == "China"].set_index(inv.loc[inv["entity"] == "China", "period_start"].dt.year)
    assert china.loc[2019, "amount"] == pytest.approx(10_713.984 * MT, rel=1e-12)
    assert china.loc[2023, "amount"] == pytest.approx(11_902.503 * MT, rel=1e-12)
    assert china.loc[2019, "region"] == "CHN"
    world = one(inv, entity="World", period_start=ts("2023-01-01"))
    assert world["amount"] == pytest.approx(37_791.570 * MT, rel=1e-12)
    assert world["region"] == "*"  # aggregates have no ISO code
    sub = read_owid_co2(countries=["China"], years=[2019], by_fuel=True)
    assert set(sub["activity_type"]) <= {"coal", "oil", "gas", "cement", "flaring", "other_industry"}
    assert sub["amount"].sum() == pytest.approx(10_713.984 * MT, rel=2e-3)


# ---------------------------------------------------------------- city panel


def test_city_panel():
    need("city-panel")
    df = read_city_panel()
    assert len(df) == 7017
    assert df["city_code"].nunique() == 295
    assert df["year"].dtype == "int64"
    assert (df["year"].min(), df["year"].max()) == (2000, 2023)
    assert not df.duplicated(["city_code", "year"]).any()
    assert df["low_carbon_pilot_year"].dtype == "Int64"
    assert set(df["city_type_en"]) == {"municipality", "sub-provincial city", "prefecture-level city"}
    bj = one(df, city_code=110000, year=2019)
    assert bj["gdp_100m_yuan"] == 35371.28  # PROVENANCE.md spot value
    assert bj["city_type_en"] == "municipality"
    assert bj["co2_ceads_mt"] == 88.155427  # same as the CEADs city file, line 24
    assert bj["low_carbon_pilot_year"] == 2013


# ---------------------------------------------------------------- gas turbine


def test_gas_turbine(gas_turbine):
    sites, obs = gas_turbine
    assert_canonical(sites, "sites")
    assert_canonical(obs, "observations")
    site = one(sites, site_id="gt_turkey")
    assert (site["kind"], site["sector"]) == ("plant", "power")
    assert len(obs) == 36_733 * 11
    assert set(obs["source"]) == {"uci_gas_turbine (derived hourly index)"}
    assert {"stack_CO", "stack_NOx", "load", "AT", "TIT"} <= set(obs["variable"])
    assert "CO" not in set(obs["variable"])
    # line 2: 2011,1,4.5878,1018.7,83.675,3.5758,23.979,1086.2,549.83,134.67,11.898,0.32663,81.952
    first = obs[obs["ts"] == ts("2011-01-01 00:00")].set_index("variable")
    assert first.loc["stack_CO", "value"] == pytest.approx(0.32663 * conversion_factor("mg/m^3", "ug/m^3"))
    assert first.loc["stack_CO", "value"] == pytest.approx(326.63)
    assert first.loc["stack_CO", "unit"] == "ug/m^3"
    assert first.loc["stack_NOx", "value"] == pytest.approx(81_952.0)
    assert first.loc["load", "value"] == 11.898
    assert first.loc["load", "unit"] == "MWh"
    assert first.loc["AP", "unit"] == "mbar"
    # line 7413 = first 2012 row (2012,1,...,TEY 10.605): derived ts 2012-01-01 00:00
    assert one(obs, ts=ts("2012-01-01 00:00"), variable="load")["value"] == 10.605
    # last line 36734: 2015,7384,... NOX 109.24 -> 2015-01-01 + 7383 h = 2015-11-04 15:00
    assert obs["ts"].max() == ts("2015-11-04 15:00")
    assert one(obs, ts=ts("2015-11-04 15:00"), variable="stack_NOx")["value"] == pytest.approx(109_240.0)


# ---------------------------------------------------------------- eGRID


def test_egrid_factors():
    need("egrid")
    ef = read_egrid_factors()
    assert_canonical(ef, "emission_factors")
    assert set(ef["factor_set"]) == {"egrid"}
    assert set(ef["pollutant"]) == {"CO2", "CH4", "N2O", "SO2", "NOx"}
    assert len(ef) == 223
    # co2_ch4_n2o_ef.csv line 6: Bituminous,Coal and Coke,BIT,0.102955847,ton CO2/mmBtu,0.024250869,...
    bit = one(ef, activity_type="egrid_bit", pollutant="CO2")
    assert bit["value"] == 0.102955847
    assert bit["unit"] == "short_ton/MMBtu"
    # PROVENANCE.md: = 93.40 kg/MMBtu
    assert bit["value"] * conversion_factor(bit["unit"], "kg/MMBtu") == pytest.approx(93.40, abs=0.005)
    assert "40 CFR Part 98" in bit["source"]
    assert one(ef, activity_type="egrid_bit", pollutant="CH4")["value"] == 0.024250869
    # natural gas (line 15, NG 0.058444529) = 53.02 kg/MMBtu
    ng = one(ef, activity_type="egrid_ng", pollutant="CO2")
    assert ng["value"] * conversion_factor(ng["unit"], "kg/MMBtu") == pytest.approx(53.02, abs=0.005)
    # "no EF" fuels (nuclear, wind, ...) are not loaded
    assert not ef["activity_type"].str.contains("nuclear|wind|solar").any()
    # SO2 of natural gas: 0.003196 lb/MMBtu for every prime mover in emission_factors_heatinput.csv
    so2 = one(ef, activity_type="egrid_ng", pollutant="SO2")
    assert (so2["value"], so2["unit"], so2["sector"]) == (0.003196, "lb/MMBtu", "power")
    assert "AP-42" in so2["source"]
    # NOx of natural gas depends on the prime mover (0.32 CT vs 2.67 IC): no single factor
    assert ef[(ef["activity_type"] == "egrid_ng") & (ef["pollutant"] == "NOx")].empty
    # sulfur-dependent SO2 (BIT, DFO: so2_flag S) is not loaded
    assert ef[(ef["activity_type"].isin(["egrid_bit", "egrid_dfo"])) & (ef["pollutant"] == "SO2")].empty
    # geothermal_emission_factors.csv line 4: Steam, co2_ef_lb_mmbtu 26.02579132
    assert one(ef, activity_type="egrid_geothermal_steam", pollutant="CO2")["value"] == 26.02579132


def test_loaders_take_explicit_paths(tmp_path):
    src = need("ceads-cities")
    head = src.read_text(encoding="utf-8").splitlines()[:3]
    p = tmp_path / "cities.csv"
    p.write_text("\n".join(head) + "\n", encoding="utf-8")
    assert len(read_ceads_cities(p)) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("id,year\nx,2019\n", encoding="utf-8")
    with pytest.raises(CoreduceError, match=r"bad\.csv.*co2_mt|co2_mt.*bad\.csv"):
        read_ceads_cities(bad)


# ---------------------------------------------------------------- where data sets are looked for (issue 12 sec. 5)


FORGED = (
    "date,province_code,province,sector,co2_mt\n2019-01-01,BJ,Beijing,power,999.0\n2019-01-02,BJ,Beijing,power,999.0\n"
)


@pytest.fixture
def no_configured_data(tmp_path, monkeypatch):
    """No $COREDUCE_DATA, an empty user data folder, and the working directory in tmp."""
    monkeypatch.delenv("COREDUCE_DATA", raising=False)
    monkeypatch.delenv("COREDUCE_SHARED_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def _plant(root: Path) -> Path:
    """A forged Cui et al. copy where the old lookup searched first: ./shared/data and ../shared/data."""
    for base in (root, root.parent):
        d = base / "shared" / "data" / "cui2021_china_daily_provincial_co2"
        d.mkdir(parents=True, exist_ok=True)
        (d / "china_daily_provincial_co2_2019_2020.csv.gz").write_bytes(__import__("gzip").compress(FORGED.encode()))
    return root


def test_planted_shared_data_in_cwd_is_never_loaded(no_configured_data, monkeypatch):
    from coreduce.ingest.loaders import _paths

    _plant(no_configured_data)
    # without the checkout's own copy: not found (and the message says what to download), never the plant
    monkeypatch.setattr(_paths, "_checkout_shared_data", lambda: None)
    with pytest.raises(CoreduceError) as exc:
        read_cui2021_daily()
    msg = str(exc.value)
    assert "zenodo.org/record/4730175" in msg
    assert "Dataset_Daily_CO2_31Provincial" in msg
    assert str(no_configured_data) not in msg.split("looked in")[1]  # the cwd is not among the folders
    assert available().set_index("name").loc["cui2021", "present"] == np.False_


def test_planted_shared_data_does_not_shadow_the_checkout_copy(no_configured_data):
    _plant(no_configured_data)
    need("cui2021")
    bj = read_cui2021_daily(provinces=["Beijing"])
    assert len(bj) == 731 * 2 + 730  # the real file, not the 2 forged rows
    assert bj["amount"].max() < 999.0 * MT


def test_coreduce_data_is_the_only_folder_when_set(tmp_path, monkeypatch):
    from coreduce.ingest.loaders import data_dirs

    monkeypatch.setenv("COREDUCE_DATA", str(tmp_path))
    assert data_dirs() == [tmp_path]
    assert not available()["present"].any()  # the checkout's copy is not used behind the user's back
    with pytest.raises(CoreduceError, match=r"beijing\+multi\+site\+air\+quality\+data\.zip.*archive\.ics\.uci\.edu"):
        read_beijing_aq()
    monkeypatch.setenv("COREDUCE_DATA", str(tmp_path / "missing"))
    with pytest.raises(CoreduceError, match="COREDUCE_DATA"):
        data_dirs()


def test_available_lists_every_data_set(no_configured_data):
    from coreduce.ingest.loaders import DATASETS

    av = available()
    assert list(av.columns) == ["name", "description", "present", "path", "expected", "url", "formats"]
    assert list(av["name"]) == list(DATASETS)  # what `coreduce load NAME` accepts
    assert {"beijing-aq", "beijing-pm25", "gas-turbine", "ceads-provinces", "ceads-cities", "ceads-national",
            "cui2021", "owid", "egrid", "city-panel"} == set(available(loadable_only=False)["name"])  # fmt: skip
    row = av.set_index("name").loc["beijing-aq"]
    assert row["expected"] == "beijing+multi+site+air+quality+data.zip"
    assert row["url"].startswith("https://archive.ics.uci.edu/dataset/501/")
    assert (av["path"].isna() == ~av["present"]).all()


# ---------------------------------------------------------------- wrong file -> one InputError


def _wrong_paths(tmp_path: Path) -> dict[str, Path]:
    text = tmp_path / "notes.txt"
    text.write_text("hello\nworld\n", encoding="utf-8")
    folder = tmp_path / "empty_folder"
    folder.mkdir()
    binary = tmp_path / "PRSA_Data_Dongsi_20130301-20170228.csv.gz"  # right name, not gzip
    binary.write_bytes(b"\x00\x01not gzip")
    bad_zip = tmp_path / "beijing+multi+site+air+quality+data.zip"
    bad_zip.write_bytes(b"PK\x03\x04 truncated")
    return {
        "text": text,
        "folder": folder,
        "missing": tmp_path / "nowhere.csv",
        "under_a_file": text / "x.csv",  # NotADirectoryError
        "binary": binary,
        "bad_zip": bad_zip,
    }


LOADERS = {
    "beijing-aq": read_beijing_aq,
    "beijing-pm25": read_beijing_pm25_embassy,
    "gas-turbine": read_gas_turbine,
    "ceads-provinces": read_ceads_provinces,
    "ceads-totals": read_ceads_province_totals,
    "ceads-national": read_ceads_national,
    "ceads-cities": read_ceads_cities,
    "cui2021": read_cui2021_daily,
    "owid": read_owid_co2,
    "egrid": read_egrid_factors,
    "city-panel": read_city_panel,
}


@pytest.mark.parametrize("loader", list(LOADERS))
def test_wrong_file_is_one_input_error(loader, tmp_path):
    from coreduce.errors import InputError

    for kind, p in _wrong_paths(tmp_path).items():
        with pytest.raises(InputError) as exc:
            LOADERS[loader](p)
        assert str(p) in str(exc.value), (loader, kind, str(exc.value))


def test_wrong_file_names_the_publisher_file(tmp_path):
    from coreduce.errors import InputError

    p = tmp_path / "data.csv"
    p.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"gas\+turbine\+co\+and\+nox\+emission\+data\+set\.zip.*archive\.ics"):
        read_gas_turbine(p)
    with pytest.raises(InputError, match=r"PRSA_data_2010\.1\.1-2014\.12\.31\.csv.*archive\.ics\.uci\.edu/dataset/381"):
        read_beijing_pm25_embassy(p)


# ---------------------------------------------------------------- the publishers' own layouts


def _gunzip(p: Path) -> bytes:
    import gzip

    return gzip.decompress(p.read_bytes())


def test_beijing_aq_reads_the_uci_zip_nested(tmp_path):
    import io
    import zipfile

    d = need("beijing-aq")
    # UCI 501 ships beijing+multi+site+air+quality+data.zip holding PRSA2017_Data_20130301-20170228.zip,
    # which holds the folder PRSA_Data_20130301-20170228/ with the 12 CSVs (the shared .gz are byte-identical)
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        for st in ("Dongsi", "Tiantan"):
            name = f"PRSA_Data_{st}_20130301-20170228.csv"
            z.writestr(f"PRSA_Data_20130301-20170228/{name}", _gunzip(d / f"{name}.gz"))
    outer = tmp_path / "beijing+multi+site+air+quality+data.zip"
    with zipfile.ZipFile(outer, "w") as z:
        z.writestr("PRSA2017_Data_20130301-20170228.zip", inner.getvalue())
    sites, obs = read_beijing_aq(outer)
    _ref_sites, ref_obs = read_beijing_aq(d, stations=["Dongsi", "Tiantan"])
    assert sorted(sites["site_id"]) == ["bj_dongsi", "bj_tiantan"]
    key = ["site_id", "ts", "variable"]
    pd.testing.assert_frame_equal(
        obs.sort_values(key, ignore_index=True), ref_obs.sort_values(key, ignore_index=True), check_categorical=False
    )
    # the unzipped folder of plain CSVs, and found by name in $COREDUCE_DATA
    folder = tmp_path / "PRSA_Data_20130301-20170228"
    folder.mkdir()
    (folder / "PRSA_Data_Dongsi_20130301-20170228.csv").write_bytes(
        _gunzip(d / "PRSA_Data_Dongsi_20130301-20170228.csv.gz")
    )
    _, one_station = read_beijing_aq(folder)
    assert len(one_station) == (ref_obs["site_id"] == "bj_dongsi").sum()


def test_gas_turbine_reads_the_uci_yearly_files(tmp_path, monkeypatch):
    import zipfile

    src = need("gas-turbine")
    stacked = pd.read_csv(src, dtype=str)  # values as the original text
    cols = ["AT", "AP", "AH", "AFDP", "GTEP", "TIT", "TAT", "CDP", "TEY", "CO", "NOX"]
    zpath = tmp_path / "gas+turbine+co+and+nox+emission+data+set.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for year, g in stacked.groupby("year"):
            z.writestr(f"pp_gas_emission/gt_{year}.csv", g[cols].to_csv(index=False))
    _sites, obs = read_gas_turbine(zpath)
    _ref_sites, ref = read_gas_turbine(src)
    pd.testing.assert_frame_equal(obs, ref)
    # found under the publisher's name in $COREDUCE_DATA
    monkeypatch.setenv("COREDUCE_DATA", str(tmp_path))
    assert find("gas-turbine") == zpath
    assert len(read_gas_turbine()[1]) == 36_733 * 11


def test_embassy_reads_the_uci_zip(tmp_path):
    import zipfile

    src = need("beijing-pm25")
    zpath = tmp_path / "beijing+pm2+5+data.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("PRSA_data_2010.1.1-2014.12.31.csv", _gunzip(src))
    _, obs = read_beijing_pm25_embassy(zpath)
    assert len(obs) == 43_824 * 7 - 2_067


def test_ceads_cities_reads_the_publisher_workbook():
    csv = need("ceads-cities")
    wb = csv.parent / "raw" / "cities" / "The_Emission_Inventories_for_290_Chinese_Cities_from_1997_to_2019.xlsx"
    if not wb.is_file():
        pytest.skip(f"publisher workbook not present: {wb}")
    pd.testing.assert_frame_equal(read_ceads_cities(wb), read_ceads_cities(csv))


def test_ceads_provinces_reads_the_publisher_workbook(ceads_prov):
    csv = need("ceads-provinces")
    wb = csv.parent / "raw" / "provinces" / "Emission_Inventories_for_30_Provinces_2016.xlsx"
    if not wb.is_file():
        pytest.skip(f"publisher workbook not present: {wb}")
    got = read_ceads_provinces(wb)
    ref = ceads_prov[ceads_prov["period_start"] == ts("2016-01-01")]
    assert set(got["entity"]) == set(ref["entity"])
    assert_canonical(got, "inventory")
    key = ["entity", "sector", "activity_type"]
    m = got.merge(ref, on=key, how="outer", suffixes=("_wb", "_csv"), indicator=True)
    # the tidy copy rounds every cell to 1e-6 Mt: equal within half of that; cells that round to 0 in the
    # copy (< 5e-7 Mt) exist only in the workbook
    both = m[m["_merge"] == "both"]
    assert (both["amount_wb"] - both["amount_csv"]).abs().max() <= 0.5e-6 * MT + 1e-6
    assert (m.loc[m["_merge"] == "left_only", "amount_wb"] < 0.5e-6 * MT).all()
    assert (m["_merge"] != "right_only").all()
    # full precision: Beijing 2016's scope-1 cells sum to the Total row's Scope_1_Total (89.981813 Mt)
    bj = got[(got["entity"] == "Beijing") & (got["scope"] == "1")]
    totals = read_ceads_province_totals(wb)
    total = one(totals, province="Beijing", year=2016)["scope_1_total_t"]
    assert total == pytest.approx(89.981813 * MT, abs=0.5e-6 * MT)
    assert bj["amount"].sum() == pytest.approx(total, rel=1e-12)
    # and as a folder in $COREDUCE_DATA: found before any tidy copy
    assert len(read_ceads_provinces(wb.parent, years=[2016], provinces=["Beijing"])) == len(bj)


def test_ceads_national_reads_the_publisher_workbook():
    csv = need("ceads-national")
    wb = csv.parent / "raw" / "national" / "China_CO2_Inventory_1997-2019_(IPCC_Sectoral_Emissions).xlsx"
    if not wb.is_file():
        pytest.skip(f"publisher workbook not present: {wb}")
    pd.testing.assert_frame_equal(read_ceads_national(wb), read_ceads_national(csv), check_exact=False, rtol=1e-12)


def test_cui2021_reads_the_publisher_workbook():
    csv = need("cui2021")
    wb = csv.parent / "raw" / "Dataset_Daily_CO2_31Provincial_MonPow_MonInd_YearVeh_2019_2020_week_holiday.xlsx"
    if not wb.is_file():
        pytest.skip(f"publisher workbook not present: {wb}")
    key = ["entity", "sector", "period_start"]
    got = read_cui2021_daily(wb).sort_values(key, ignore_index=True)
    ref = read_cui2021_daily(csv).sort_values(key, ignore_index=True)
    assert len(got) == len(ref) == 67_952  # Ground Transport 2020 re-dated: 365 days, no 2020-02-29
    pd.testing.assert_frame_equal(got[key], ref[key])
    # the tidy copy rounds to 1e-6 Mt per day; the workbook keeps full precision
    # (Beijing power 2019-01-01: workbook 0.150361202705207 Mt, copy 0.150361)
    assert (got["amount"] - ref["amount"]).abs().max() <= 0.5e-6 * MT + 1e-6
    bj = got[(got["entity"] == "Beijing") & (got["sector"] == "power") & (got["period_start"] == ts("2019-01-01"))]
    assert bj["amount"].iloc[0] == pytest.approx(0.150361202705207 * MT, rel=1e-12)
    gt = got[(got["sector"] == "ground_transport") & (got["period_start"].dt.year == 2020)]
    assert gt["period_start"].dt.strftime("%m-%d").nunique() == 365
    assert ts("2020-02-29") not in set(gt["period_start"])
