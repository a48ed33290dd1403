"""Checks of the bundled factor data against values transcribed from the primary tables, plus structure.

Each value test names the table it was transcribed from. The data are read as raw CSV (not through the engine),
so these tests hold whatever the engine does with them.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd
import pytest

from coreduce.units import conversion_factor, normalise_unit

DATA = resources.files("coreduce.account").joinpath("data")


def _csv(name: str) -> pd.DataFrame:
    with DATA.joinpath(name).open(encoding="utf-8") as f:
        return pd.read_csv(f, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def ef() -> pd.DataFrame:
    return _csv("emission_factors.csv")


@pytest.fixture(scope="module")
def grid() -> pd.DataFrame:
    return _csv("grid_factors.csv")


@pytest.fixture(scope="module")
def regions() -> pd.DataFrame:
    return _csv("regions.csv")


@pytest.fixture(scope="module")
def sets() -> pd.DataFrame:
    return _csv("factor_sets.csv")


def _value(ef: pd.DataFrame, factor_set: str, act: str, pol: str, sector: str = "*") -> float:
    row = ef[(ef.factor_set == factor_set) & (ef.activity_type == act) & (ef.pollutant == pol) & (ef.sector == sector)]
    assert len(row) == 1, (factor_set, act, pol, sector, len(row))
    return float(row["value"].iloc[0])


# ------------------------------------------------------------------------------------------- structure
ALL_31 = {
    "CN-BJ", "CN-TJ", "CN-HE", "CN-SX", "CN-NM", "CN-LN", "CN-JL", "CN-HL", "CN-SH", "CN-JS", "CN-ZJ",
    "CN-AH", "CN-FJ", "CN-JX", "CN-SD", "CN-HA", "CN-HB", "CN-HN", "CN-GD", "CN-GX", "CN-HI", "CN-CQ",
    "CN-SC", "CN-GZ", "CN-YN", "CN-XZ", "CN-SN", "CN-GS", "CN-QH", "CN-NX", "CN-XJ",
}  # fmt: skip


def test_all_31_provinces_with_iso_letter_codes(regions):
    cn = regions[regions.code.str.match(r"^CN-[A-Z]{2}$")]
    assert set(cn.code) == ALL_31  # ISO 3166-2:CN letter codes (2017 change from CN-11 ... CN-65)
    assert (cn.jurisdiction == "CN").all()
    assert cn.name_zh.str.len().gt(0).all()


def test_us_states_and_dc(regions):
    us = regions[regions.code.str.startswith("US-")]
    assert len(us) == 51 and "US-DC" in set(us.code) and "US-AL" in set(us.code)
    assert (us.jurisdiction == "US").all() and (us.grid == "").all()


def test_codes_and_aliases_unique(regions):
    assert regions.code.is_unique
    aliases = [a.casefold() for al in regions.aliases for a in al.split(";") if a]
    assert len(aliases) == len(set(aliases)), "an alias names two regions"


def test_every_grid_exists_and_has_factors(regions, grid):
    grids = set(regions.loc[regions.grid != "", "grid"])
    assert grids == {
        f"CN-GRID-{g}" for g in ["NORTH", "NORTHEAST", "EAST", "CENTRAL", "NORTHWEST", "SOUTH", "SOUTHWEST"]
    }
    assert grids <= set(regions.code)
    loc = grid[grid.purpose == "location"]
    for year in ("2022", "2023"):
        assert grids <= set(loc.loc[loc.year == year, "region"]), year


def test_grid_factor_regions_are_known_codes(regions, grid):
    assert set(grid.region) <= set(regions.code)
    assert set(grid.verified) <= {"yes", "no"}
    assert grid.factor_id.is_unique


def test_2022_provincial_factor_for_every_published_province(grid):
    p = grid[(grid.year == "2022") & (grid.purpose == "location") & grid.region.str.match(r"^CN-[A-Z]{2}$")]
    # MEE/NBS publish 30 provinces (no Tibet); 2023 notice: "北京等20个省份 ... 广东等10个省份" = 30
    assert set(p.region) == ALL_31 - {"CN-XZ"}


def test_every_factor_set_declared_and_ranked(ef, sets):
    assert set(ef.factor_set) <= set(sets.factor_set)
    assert sets.factor_set.is_unique
    assert set(sets.jurisdiction) <= {"CN", "US", "EU", "*"}
    assert set(sets.energy_basis) <= {"net", "gross", "none"}
    ranks = sets.assign(rank=sets["rank"].astype(int)).groupby("jurisdiction")["rank"]
    assert ranks.apply(lambda r: r.is_unique).all(), "two sets share a rank inside a jurisdiction"


def test_sources_non_empty_everywhere():
    for name in [
        "emission_factors.csv", "grid_factors.csv", "regions.csv", "factor_sets.csv", "energy_basis.csv",
        "volumetric_cv.csv", "ncv.csv", "gwp.csv", "removal_efficiencies.csv",
    ]:  # fmt: skip
        df = _csv(name)
        assert (df.source.str.strip() != "").all(), name


def test_units_parse(ef):
    for u in ef.unit.unique():
        num, den = normalise_unit(u).split("/", 1)
        assert conversion_factor(num, "kg") > 0, u
        assert den.strip("()"), u


def test_no_duplicate_factor_keys(ef):
    key = ["factor_set", "activity_type", "pollutant", "region", "sector", "year_from"]
    assert not ef.duplicated(key).any()


def test_two_coal_nox_factors_ranked(ef, sets):
    # `coreduce factors` lists EMEP 1.A.1.a hard coal NOx (209 g/GJ, '*') and EIA/eGRID 12 lb/ton (US):
    # for a US plant the US set wins (us jurisdiction first), elsewhere only EMEP applies.
    nox = ef[(ef.activity_type == "coal_bituminous") & (ef.pollutant == "NOx") & (ef.sector == "power")]
    assert set(nox.factor_set) == {"emep_eea2023", "eia_egrid"}
    j = dict(zip(sets.factor_set, sets.jurisdiction, strict=True))
    assert j["eia_egrid"] == "US" and j["emep_eea2023"] == "*"


def test_sulfur_rule(ef, sets):
    # coal SO2 from the mass balance outranks EMEP Tier 1 in '*', conditional on the activity's sulfur content
    s = sets.set_index("factor_set")
    assert int(s.loc["so2_mass_balance", "rank"]) < int(s.loc["emep_eea2023", "rank"])
    assert s.loc["so2_mass_balance", "scales_with"] == "sulfur_pct"
    assert s.loc["so2_mass_balance", "jurisdiction"] == "*"
    mb = ef[ef.factor_set == "so2_mass_balance"]
    assert set(mb.pollutant) == {"SO2"}
    # AP-42 38S lb/short ton (bituminous) = 38 x 0.45359237 / 0.90718474 = 19 kg/t at S = 1 %
    assert _value(ef, "so2_mass_balance", "coal_bituminous", "SO2", "power") == pytest.approx(38 * 0.5)


# ---------------------------------------------------------------------------- values from primary tables
@pytest.mark.parametrize(
    ("act", "value"),
    [  # 40 CFR 98 Subpart C Table C-1 (kg CO2/MMBtu), as amended Nov 2013 / Dec 2016
        ("coal_anthracite", 103.69),
        ("coal_bituminous", 93.28),
        ("coal_sub_bituminous", 97.17),
        ("coal_lignite", 97.72),
        ("coke", 113.67),
        ("natural_gas", 53.06),
        ("diesel", 73.96),  # Distillate Fuel Oil No. 2
        ("fuel_oil", 75.10),  # Residual Fuel Oil No. 6
        ("kerosene", 75.20),
        ("lpg", 61.71),
        ("gasoline", 70.22),
    ],
)
def test_40cfr98_table_c1(ef, act, value):
    assert _value(ef, "us_40cfr98", act, "CO2") == value


@pytest.mark.parametrize(
    ("act", "ch4", "n2o"),
    [  # 40 CFR 98 Subpart C Table C-2 (kg/MMBtu)
        ("coal_bituminous", 1.1e-2, 1.6e-3),  # coal and coke
        ("natural_gas", 1.0e-3, 1.0e-4),
        ("diesel", 3.0e-3, 6.0e-4),  # petroleum products
    ],
)
def test_40cfr98_table_c2(ef, act, ch4, n2o):
    assert _value(ef, "us_40cfr98", act, "CH4") == ch4
    assert _value(ef, "us_40cfr98", act, "N2O") == n2o


def test_40cfr98_is_gross_and_ipcc_net(sets):
    basis = dict(zip(sets.factor_set, sets.energy_basis, strict=True))
    assert basis["us_40cfr98"] == "gross" and basis["ipcc2006"] == "net" and basis["emep_eea2023"] == "net"


def test_egrid_static_table_agrees_with_table_c2(ef):
    # eGRID co2_ch4_n2o_ef.csv gives NG CH4 0.002204624 lb/MMBtu = 0.001 kg (Table C-2), coal N2O 0.003527399 lb
    assert 0.002204624 * 0.45359237 == pytest.approx(_value(ef, "us_40cfr98", "natural_gas", "CH4"), rel=1e-6)
    assert 0.003527399 * 0.45359237 == pytest.approx(_value(ef, "us_40cfr98", "coal_bituminous", "N2O"), rel=1e-6)


@pytest.mark.parametrize(
    ("act", "sector", "pol", "value"),
    [  # EMEP/EEA 2023, EEA emission-factor database
        ("coal_bituminous", "residential", "PM2.5", 398),  # 1.A.4.b.i Table 3-3 hard & brown coal, g/GJ
        ("coal_bituminous", "residential", "SO2", 900),  # 1.A.4.b.i Table 3-3 (SOx)
        ("natural_gas", "residential", "NOx", 51),  # 1.A.4.b.i Table 3-4 gaseous fuels
        ("coal_bituminous", "commercial", "NOx", 173),  # 1.A.4.a.i Table 3-7
        ("natural_gas", "commercial", "NOx", 74),  # 1.A.4.a.i Table 3-8
        ("diesel", "commercial", "PM2.5", 18),  # 1.A.4.a.i Table 3-9 liquid fuels
    ],
)
def test_emep_small_combustion(ef, act, sector, pol, value):
    assert _value(ef, "emep_eea2023", act, pol, sector) == value


@pytest.mark.parametrize(
    ("act", "sector", "pol", "value"),
    [  # EMEP/EEA 2023 1.A.3.b.i-iv Tier 1, g/kg fuel (= kg/t)
        ("diesel", "transport_hdv", "NOx", 25.95),  # Table 3-6, heavy-duty vehicles, diesel
        ("diesel", "transport_car", "NOx", 11.77),  # Table 3-6, passenger cars, diesel
        ("gasoline", "transport_car", "CO", 48.36),  # Table 3-5, passenger cars, petrol
        ("diesel", "transport_hdv", "PM2.5", 0.55),  # Table 3-6 exhaust TSP, all PM2.5
        ("diesel", "transport", "NOx", 25.95),  # generic 'transport' = heavy-duty for diesel (documented choice)
        ("gasoline", "transport", "NOx", 3.98),  # generic 'transport' = passenger car for petrol
    ],
)
def test_emep_road_transport(ef, act, sector, pol, value):
    assert _value(ef, "emep_eea2023", act, pol, sector) == value
    row = ef[(ef.factor_set == "emep_eea2023") & (ef.activity_type == act) & (ef.sector == sector)]
    assert (row.unit == "kg/t").all()


def test_transport_residential_commercial_have_co_pollutants(ef):
    # item 5 of issue 11: co-pollutant factors for transport, residential and commercial combustion
    for sector, acts in {
        "transport": ["gasoline", "diesel"],
        "residential": ["coal_bituminous", "natural_gas", "lpg"],
        "commercial": ["coal_bituminous", "natural_gas", "diesel"],
    }.items():
        for act in acts:
            pols = set(ef[(ef.activity_type == act) & (ef.sector == sector)].pollutant)
            assert {"NOx", "PM2.5", "CO", "VOCs"} <= pols, (sector, act, pols)


# ---------------------------------------------------------------------------------------- grid factors
@pytest.mark.parametrize(
    ("region", "year", "value"),
    [  # MEE/NBS announcements, values as reported in the press (Xinjingbao 2024-12-27; Guangming Daily 2026-01)
        ("CN", "2022", 0.5366),
        ("CN-GRID-SOUTH", "2022", 0.3869),
        ("CN-GRID-NORTH", "2022", 0.6776),
        ("CN-HE", "2022", 0.7252),
        ("CN-YN", "2022", 0.1073),
        ("CN", "2023", 0.5306),
        ("CN-GRID-SOUTH", "2023", 0.4042),
    ],
)
def test_mee_grid_factors(grid, region, year, value):
    row = grid[(grid.region == region) & (grid.year == year) & (grid.purpose == "location")]
    assert len(row) == 1 and float(row.value.iloc[0]) == value and row.verified.iloc[0] == "yes"


def test_guangdong_2022_and_its_grid(grid, regions):
    # Guangdong (CN-GD) is in the South grid; 500,000 MWh x 0.3869 = 193,450 t (grid), x 0.4403 = 220,150 t (province)
    assert regions.set_index("code").loc["CN-GD", "grid"] == "CN-GRID-SOUTH"
    gd = grid[(grid.region == "CN-GD") & (grid.year == "2022")].iloc[0]
    assert float(gd.value) == 0.4403 and gd.verified == "no"
    assert 500_000 * 1000 * float(gd.value) / 1000 == pytest.approx(220_150)


def test_2023_regional_consistent_with_reported_changes(grid):
    # Guangming Daily: 2023 vs 2022 North -6.1 %, Northeast -8.0 %, East -2.1 %, Central -2.3 %, Northwest -5.4 %,
    # South +4.5 %, Southwest +9.0 %
    change = {"NORTH": -6.1, "NORTHEAST": -8.0, "EAST": -2.1, "CENTRAL": -2.3, "NORTHWEST": -5.4, "SOUTH": 4.5,
              "SOUTHWEST": 9.0}  # fmt: skip
    loc = grid[grid.purpose == "location"].set_index(["region", "year"])["value"].astype(float)
    for g, pct in change.items():
        r = f"CN-GRID-{g}"
        assert 100 * (loc[(r, "2023")] / loc[(r, "2022")] - 1) == pytest.approx(pct, abs=0.06), g


# -------------------------------------------------------------------------------- energy basis and volume
def test_energy_basis_convention():
    eb = _csv("energy_basis.csv").set_index("activity_type")["net_to_gross"].astype(float)
    # IPCC 2006 Vol.2 Ch.1 Sect. 1.4.1.1: NCV ~5 % below GCV for coal and oil, ~10 % for natural gas
    assert eb["coal_bituminous"] == 0.95 and eb["diesel"] == 0.95 and eb["natural_gas"] == 0.90
    ncv = set(_csv("ncv.csv").activity_type) - {"tce"}
    assert ncv <= set(eb.index)


def test_volumetric_cv():
    v = _csv("volumetric_cv.csv").set_index(["activity_type", "jurisdiction"])
    us = v.loc[("natural_gas", "US")]
    # 40 CFR 98 Table C-1: 1.026E-03 MMBtu/scf (HHV) = 38.23 MJ/m^3 at 60 degF
    assert float(us.value) == 0.001026 and us.basis == "gross"
    assert float(us.value) * conversion_factor(normalise_unit(us.unit), "MJ/m^3") == pytest.approx(38.228, abs=1e-3)
    cn = v.loc[("natural_gas", "CN")]
    assert float(cn.value) * conversion_factor(normalise_unit(cn.unit), "MJ/m^3") == pytest.approx(38.931)
    assert cn.basis == "net" and "NOT VERIFIED" in cn.source


@pytest.mark.parametrize(
    ("act", "value", "unit"),
    [  # 40 CFR 98 Subpart C Table C-1, default high heat values
        ("coal_bituminous", 24.93, "MMBtu/short_ton"),
        ("coal_sub_bituminous", 17.25, "MMBtu/short_ton"),
        ("coal_lignite", 14.21, "MMBtu/short_ton"),
        ("diesel", 0.138, "MMBtu/gal"),
        ("fuel_oil", 0.150, "MMBtu/gal"),
    ],
)
def test_40cfr98_default_hhv(act, value, unit):
    g = _csv("gcv.csv").set_index(["activity_type", "jurisdiction"])
    row = g.loc[(act, "US")]
    assert float(row.value) == value and row.unit == unit
    # bituminous: 24.93 MMBtu/short ton x 1.055056 GJ/MMBtu / 0.90718474 t = 28.99 GJ/t (gross)
    if act == "coal_bituminous":
        assert value * conversion_factor(normalise_unit(unit), "GJ/t") == pytest.approx(28.994, abs=1e-3)
