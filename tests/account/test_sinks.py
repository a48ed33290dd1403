"""Bundled carbon-sink rates: IPCC table values → t CO2/ha/yr by hand, and the engine's use of them."""

from __future__ import annotations

import pandas as pd
import pytest

from coreduce.account import FactorLibrary, compute_inventory, summarise
from coreduce.account.sinks import C_TO_CO2, check_sink_rates, removal_rate
from coreduce.errors import FactorError, InputError


@pytest.fixture(scope="module")
def lib():
    return FactorLibrary.default()


def _rate(lib, land_type, region):
    sr = lib.sink_rates
    return sr[(sr["land_type"] == land_type) & (sr["region"] == region)].iloc[0]


def _land(land_type, area_ha, region="Beijing", **over):
    row = {
        "entity": "city",
        "sector": "land",
        "period_start": "2016-01-01",
        "period_end": "2017-01-01",
        "activity_type": land_type,
        "amount": area_ha,
        "unit": "ha",
        "region": region,
    }
    row.update(over)
    return pd.DataFrame([row])


def test_temperate_continental_broadleaf_by_hand(lib):
    r = _rate(lib, "forest_temperate_continental_broadleaf", "CN")
    # IPCC 2006 Vol.4 Table 4.9: temperate continental forest, Asia, G_W = 4.0 t d.m./ha/yr
    # 2019 Refinement Table 4.4: Asia temperate natural other broadleaf, AGB <= 125 t/ha, R = 0.225
    # 2006 Table 4.3: temperate broad-leaved CF = 0.48 t C/t d.m.
    # 4.0 × (1 + 0.225) = 4.9 t d.m./ha/yr; × 0.48 = 2.352 t C/ha/yr; × 44/12 = 8.624 t CO2/ha/yr
    assert (r["growth"], r["root_shoot"], r["carbon_fraction"]) == (4.0, 0.225, 0.48)
    assert r["growth_unit"] == "t d.m./ha/yr" and r["unit"] == "t/ha"
    assert r["value"] == pytest.approx(8.624, rel=1e-12)
    assert float(removal_rate(4.0, "t d.m./ha/yr", 0.225, 0.48)) == pytest.approx(8.624, rel=1e-12)
    assert "Table 4.9" in r["source"] and "Table 4.4" in r["source"] and "Table 4.3" in r["source"]
    assert r["verified"] == "yes"


def test_mountain_conifer_and_perennial_cropland_by_hand(lib):
    # Table 4.9 temperate mountain systems, Asia: 3.0 t d.m./ha/yr; R (Asia natural conifer <=125 t/ha) 0.243;
    # CF conifers 0.51: 3.0 × 1.243 = 3.729; × 0.51 = 1.90179 t C; × 44/12 = 6.97323 t CO2/ha/yr
    assert _rate(lib, "forest_temperate_mountain_conifer", "CN")["value"] == pytest.approx(6.97323, rel=1e-12)
    # Table 5.1 temperate perennial woody crops: G = 2.1 t C/ha/yr; × 44/12 = 7.7 t CO2/ha/yr (any region)
    crop = _rate(lib, "cropland_perennial_woody_temperate", "*")
    assert crop["growth_unit"] == "t C/ha/yr"
    assert crop["value"] == pytest.approx(7.7, rel=1e-12)
    assert C_TO_CO2 == pytest.approx(3.666666666666667)


def test_every_bundled_rate_is_its_table_values(lib):
    sr = lib.sink_rates
    assert len(sr) >= 16
    assert check_sink_rates(sr) == len(sr)  # every bundled row carries its table values
    assert set(sr["verified"]) <= {"yes", "no"}
    assert not sr.duplicated(["land_type", "region"]).any()


def test_a_rate_that_disagrees_with_its_table_values_is_named():
    bad = pd.DataFrame(
        {
            "land_type": ["forest_x", "forest_y"],
            "region": ["CN", "CN"],
            "value": [8.624, 9.0],
            "unit": ["t/ha", "t/ha"],
            "growth": [4.0, 4.0],
            "growth_unit": ["t d.m./ha/yr", "t d.m./ha/yr"],
            "root_shoot": [0.225, 0.225],
            "carbon_fraction": [0.48, 0.48],
        }
    )
    with pytest.raises(InputError, match=r"rates.csv, row 3, column 'value': got 9.0, expected 8.62400"):
        check_sink_rates(bad, source="rates.csv")
    with pytest.raises(InputError, match=r"row 2, column 'carbon_fraction'"):
        check_sink_rates(bad.assign(carbon_fraction=[float("nan"), 0.48]), source="rates.csv")
    with pytest.raises(InputError, match=r"row 2, column 'growth_unit'"):
        check_sink_rates(bad.assign(growth_unit="t/ha/yr"), source="rates.csv")
    # a user row without table values is taken as given
    assert check_sink_rates(bad.drop(columns=["growth"])) == 0
    with pytest.raises(ValueError, match="carbon fraction"):
        removal_rate(4.0, "t d.m./ha/yr", 0.2)


def test_beijing_forest_uses_china_rows(lib):
    # Beijing (CN-BJ) has no row of its own: the engine walks CN-BJ → CN-GRID-NORTH → CN and takes China's
    act = pd.concat(
        [
            _land("forest_temperate_continental_broadleaf", 1000.0),
            _land("forest_temperate_mountain_conifer", 2000.0),
            _land("cropland_perennial_woody_temperate", 500.0),
        ],
        ignore_index=True,
    )
    inv = compute_inventory(act, lib, gwp=None)
    sinks = inv[inv["scope"] == "sink"].set_index("activity_type")["amount"]
    # 1000 ha × 8.624 = 8624 t; 2000 ha × 6.97323 = 13 946.46 t; 500 ha × 7.7 = 3850 t (2016: one full year)
    assert sinks["forest_temperate_continental_broadleaf"] == pytest.approx(-8624.0, rel=1e-12)
    assert sinks["forest_temperate_mountain_conifer"] == pytest.approx(-13_946.46, rel=1e-12)
    assert sinks["cropland_perennial_woody_temperate"] == pytest.approx(-3850.0, rel=1e-12)
    net = summarise(inv, by=["entity"], pollutants=["CO2"])
    assert net["amount"].iloc[0] == pytest.approx(-(8624.0 + 13_946.46 + 3850.0), rel=1e-12)
    picked = inv[inv["scope"] == "sink"]
    assert (picked["factor_set"] == "sink_rates").all()
    assert picked["factor_source"].str.contains("Table 4.9|Table 5.1").all()


def test_asian_forest_rate_is_not_used_for_another_continent(lib):
    # the Asian rows must not silently serve a US forest (a clear error, not the old IndexError)
    with pytest.raises(FactorError, match=r"no sink rate for land type 'forest_temperate_continental_broadleaf'.*CN"):
        compute_inventory(_land("forest_temperate_continental_broadleaf", 10.0, region="US"), lib, gwp=None)
