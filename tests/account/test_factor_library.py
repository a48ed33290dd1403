"""The bundled factor library: every value has a source, units parse, keys are unique."""

import pandas as pd
import pytest

from coreduce.account import FactorLibrary
from coreduce.errors import InputError
from coreduce.units import conversion_factor, split_rate


@pytest.fixture(scope="module")
def lib():
    return FactorLibrary.default()


def test_every_factor_row_has_a_source(lib):
    for name in ("emission_factors", "ncv", "removal_efficiencies", "gwp", "grid_factors", "sink_rates"):
        df = getattr(lib, name)
        blank = df["source"].isna() | (df["source"].astype(str).str.strip() == "")
        assert not blank.any(), f"{name}: rows without a source: {df[blank].head()}"


def test_units_parse_and_values_are_plausible(lib):
    for u in pd.unique(lib.emission_factors["unit"]):
        split_rate(u)
    for u in pd.unique(lib.grid_factors["unit"]):
        split_rate(u)
    assert lib.removal_efficiencies["efficiency"].between(0, 1).all()
    assert (lib.emission_factors["value"] >= 0).all()


def test_keys_are_unique(lib):
    ef = lib.emission_factors
    assert not ef.duplicated(["factor_set", "activity_type", "pollutant", "region", "sector", "year_from"]).any()
    assert not lib.grid_factors["factor_id"].duplicated().any()


def test_known_values(lib):
    ef = lib.emission_factors.set_index(["factor_set", "activity_type", "pollutant", "sector"])
    assert ef.loc[("ipcc2006", "coal_bituminous", "CO2", "*"), "value"] == 94_600  # IPCC 2006 Table 1.4
    assert ef.loc[("ipcc2006", "natural_gas", "CO2", "*"), "value"] == 56_100
    g = lib.grid_factors.set_index("factor_id")["value"]
    assert g["cn_mee_2022_national"] == 0.5366
    assert g["cn_mee_2023_national"] == 0.5306
    assert g["cn_mee_2021_national"] == 0.5568
    assert g["cn_carbon_market_2022"] == 0.5703  # kept apart from the consumption-side factors
    purposes = lib.grid_factors.set_index("factor_id")["purpose"]
    assert purposes["cn_carbon_market_2022"] != purposes["cn_mee_2022_national"]
    assert lib.gwp_values("AR5") == {"CO2": 1.0, "CH4": 28.0, "N2O": 265.0}
    ncv = lib.ncv.set_index("activity_type")["value"]
    # 1 t bituminous coal × 25.8 GJ/t × 94.6 kg/GJ = 2.44 t CO2; per tce: 29.3076 GJ × 94.6 = 2.77 t
    assert ncv["coal_bituminous"] * 94.6 / 1000 == pytest.approx(2.44068)
    assert conversion_factor("tce", "GJ") * 94.6 / 1000 == pytest.approx(2.772499, rel=1e-6)


def test_version_changes_with_content(lib):
    v0 = lib.version
    assert v0.startswith("2026.11+")
    extra = pd.DataFrame(
        {
            "factor_set": ["x"],
            "activity_type": ["a"],
            "pollutant": ["CO2"],
            "value": ["1"],
            "unit": ["kg/t"],
            "source": ["test"],
        }
    )
    assert lib.with_factors(extra).version != v0
    assert FactorLibrary.default().version == v0  # deterministic


def test_user_aux_tables_replace_defaults(tmp_path, lib):
    f = tmp_path / "eff.csv"
    f.write_text("control,pollutant,efficiency,source\nSCR,NOx,0.9,plant acceptance test 2024\n")
    user = FactorLibrary.from_csv(f, base=lib)
    eff = user.removal_efficiencies.set_index(["control", "pollutant"])["efficiency"]
    assert eff[("SCR", "NOx")] == 0.9
    assert len(user.removal_efficiencies) == len(lib.removal_efficiencies)


def test_user_factor_file_errors(tmp_path):
    f = tmp_path / "f.csv"
    f.write_text("activity_type,pollutant,value,unit,source\ncoal_bituminous,SO2,16,kg/t,\n")
    with pytest.raises(InputError, match=r"f.csv, row 2, column 'source'"):
        FactorLibrary.from_csv(f)
    g = tmp_path / "g.csv"
    g.write_text("control,pollutant,efficiency,source\nSCR,NOx,1.4,typo\n")
    with pytest.raises(InputError, match="between 0 and 1"):
        FactorLibrary.from_csv(g)
    with pytest.raises(InputError, match="an existing factor file"):
        FactorLibrary.from_csv(tmp_path / "missing.csv")
