"""The accounting chain against hand calculations (the arithmetic is written next to each figure)."""

from __future__ import annotations

import pandas as pd
import pytest

from coreduce.account import FactorLibrary, aggregate, compute_inventory, summarise
from coreduce.errors import FactorError, InputError


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


def test_bituminous_coal_power_plant_by_hand():
    inv = compute_inventory(_act(), gwp="AR5")
    # 100 kt = 100 Gg coal × NCV 25.8 TJ/Gg (IPCC 2006 Vol.2 Ch.1 Table 1.2) = 2580 TJ
    # CO2: 2580 TJ × 94 600 kg/TJ = 244 068 000 kg = 244 068 t
    assert _get(inv, "CO2")["amount"] == pytest.approx(244_068.0, rel=1e-12)
    # CH4: 2580 TJ × 1 kg/TJ (energy industries, Table 2.2) = 2.58 t; N2O: 2580 × 1.5 kg/TJ = 3.87 t
    assert _get(inv, "CH4")["amount"] == pytest.approx(2.58, rel=1e-12)
    assert _get(inv, "N2O")["amount"] == pytest.approx(3.87, rel=1e-12)
    # CO2e (AR5: CH4 28, N2O 265): 244 068 + 28 × 2.58 + 265 × 3.87 = 244 068 + 72.24 + 1025.55 = 245 165.79 t
    assert _get(inv, "CO2e")["amount"] == pytest.approx(245_165.79, rel=1e-12)
    # AR4 (25, 298): 244 068 + 64.5 + 1153.26 = 245 285.76 t
    inv4 = compute_inventory(_act(), gwp="AR4")
    assert _get(inv4, "CO2e")["amount"] == pytest.approx(245_285.76, rel=1e-12)
    co2 = _get(inv, "CO2")
    assert co2["factor_set"] == "ipcc2006"
    assert "IPCC 2006" in co2["factor_source"]
    assert co2["unit"] == "t" and co2["scope"] == "1"


def test_controls_remove_pollutants_not_co2():
    plain = compute_inventory(_act(), gwp=None)
    ctrl = compute_inventory(_act(control="ESP+FGD_wet_limestone+SCR"), gwp=None)
    # E = A × EF × (1 − η): SO2 × (1 − 0.95), NOx × (1 − 0.80), PM2.5 × (1 − 0.96); CO2 unchanged
    for pol, eta in [("SO2", 0.95), ("NOx", 0.80)]:
        assert _get(ctrl, pol)["amount"] == pytest.approx(_get(plain, pol)["amount"] * (1 - eta), rel=1e-12)
        assert _get(ctrl, pol)["removal_efficiency"] == pytest.approx(eta)
    assert _get(ctrl, "CO2")["amount"] == _get(plain, "CO2")["amount"]


def test_devices_in_series_combine_multiplicatively():
    lib = FactorLibrary.default()
    ef = pd.DataFrame(
        {
            "activity_type": ["widget_kiln"],
            "pollutant": ["PM10"],
            "value": ["2"],
            "unit": ["kg/t"],
            "source": ["hand-made test factor"],
        }
    )
    lib = lib.with_factors(ef.assign(factor_set="test"))
    inv = compute_inventory(
        _act(activity_type="widget_kiln", amount=10.0, unit="t", control="ESP+bag_filter"), lib, gwp=None
    )
    # 10 t × 2 kg/t = 20 kg; η = 1 − (1 − 0.9765)(1 − 0.9957) = 1 − 0.0235 × 0.0043 = 0.99989895
    # E = 20 kg × 0.0235 × 0.0043 = 0.002021 kg = 2.021e-6 t
    assert _get(inv, "PM10")["amount"] == pytest.approx(2.021e-6, rel=1e-9)


def test_user_factor_takes_priority_and_units_convert():
    lib = FactorLibrary.default().with_factors(
        pd.DataFrame(
            {
                "factor_set": ["user"],
                "activity_type": ["coal_bituminous"],
                "pollutant": ["SO2"],
                "value": ["16"],
                "unit": ["kg/t"],
                "source": ["2·S·k, S = 1 %, k = 0.8"],
            }
        )
    )
    inv = compute_inventory(_act(amount=2.5, unit="Mt"), lib, gwp=None)
    # 2.5 Mt = 2.5e6 t × 16 kg/t = 4.0e7 kg = 40 000 t
    so2 = _get(inv, "SO2")
    assert so2["amount"] == pytest.approx(40_000.0, rel=1e-12)
    assert so2["factor_set"] == "user"


def test_energy_activity_needs_no_ncv():
    inv = compute_inventory(_act(activity_type="natural_gas", amount=500.0, unit="MWh", sector="residential"), gwp=None)
    # 500 MWh = 1800 GJ = 1.8 TJ × 56 100 kg/TJ = 100 980 kg = 100.98 t
    assert _get(inv, "CO2")["amount"] == pytest.approx(100.98, rel=1e-12)
    # residential natural gas CH4 5 kg/TJ (IPCC Table 2.5): 1.8 × 5 = 9 kg = 0.009 t
    assert _get(inv, "CH4")["amount"] == pytest.approx(0.009, rel=1e-12)


def test_scope2_location_market_and_carbon_market():
    act = _act(
        entity="office",
        sector="commercial",
        activity_type="electricity_purchased",
        amount=1000.0,
        unit="MWh",
        region="Hebei",
    )
    loc = _get(compute_inventory(act, gwp=None), "CO2")
    # Hebei 2022 provincial factor 0.7252 kg/kWh (MEE/NBS): 1000 MWh = 1e6 kWh × 0.7252 = 725.2 t
    assert loc["amount"] == pytest.approx(725.2, rel=1e-12)
    assert loc["scope"] == "2" and "cn_mee_2022_Hebei" in loc["method"]
    # no region at all ('*'): the national 2022 average 0.5366 → 536.6 t, the fallback stated in `method`
    other = _get(compute_inventory(act.assign(region="*"), gwp=None), "CO2")
    assert other["amount"] == pytest.approx(536.6, rel=1e-12)
    assert "no region given: national CN" in other["method"]
    # an unknown region is an error naming the input row and column (it used to fall back silently)
    with pytest.raises(InputError, match=r"row 2, column 'region': got 'Atlantis'"):
        compute_inventory(act.assign(region="Atlantis"), gwp=None)
    # market-based: national excluding market-traded non-fossil power, 0.5856 kg/kWh → 585.6 t
    mkt = _get(compute_inventory(act, gwp=None, electricity="market"), "CO2")
    assert mkt["amount"] == pytest.approx(585.6, rel=1e-12)
    # carbon-market reporting factor 0.5703 t/MWh → 570.3 t
    cm = _get(compute_inventory(act, gwp=None, electricity="carbon_market"), "CO2")
    assert cm["amount"] == pytest.approx(570.3, rel=1e-12)
    # 2023 activity without a region uses the 2023 national factor 0.5306
    y23 = _get(
        compute_inventory(act.assign(period_start="2023-01-01", period_end="2024-01-01", region="*"), gwp=None),
        "CO2",
    )
    assert y23["amount"] == pytest.approx(530.6, rel=1e-12)


def test_purchased_heat():
    act = _act(entity="office", sector="commercial", activity_type="heat_purchased", amount=2.0, unit="TJ")
    # 2 TJ = 2000 GJ × 0.11 t/GJ = 220 t
    assert _get(compute_inventory(act, gwp=None), "CO2")["amount"] == pytest.approx(220.0, rel=1e-12)


def test_process_emissions_clinker():
    act = _act(entity="cement_b", sector="industry", activity_type="clinker_production", amount=800.0)
    # 800 kt clinker × 0.52 t CO2/t clinker (IPCC 2006 Vol.3 Ch.2) = 416 000 t
    assert _get(compute_inventory(act, gwp=None), "CO2")["amount"] == pytest.approx(416_000.0, rel=1e-12)


def test_sinks_and_net_balance(tmp_path):
    rates = tmp_path / "rates.csv"
    rates.write_text("land_type,region,value,unit,source\nforest_test,*,4.0,t/ha,hand-made test rate\n")
    lib = FactorLibrary.from_csv(rates)
    act = pd.concat(
        [
            _act(entity="county", sector="land", activity_type="forest_test", amount=1000.0, unit="ha"),
            _act(
                entity="county",
                sector="land",
                activity_type="forest_test",
                amount=10.0,
                unit="km^2",
                period_start="2020-01-01",
                period_end="2020-07-01",
            ),
            _act(entity="county", amount=1.0, unit="kt"),
        ],
        ignore_index=True,
    )
    inv = compute_inventory(act, lib, gwp=None)
    sinks = inv[inv["scope"] == "sink"].sort_values("period_start")
    # 2020 H1: 10 km² = 1000 ha × 4 t/ha/yr × 182/366 yr = 1989.07... t removed (negative)
    assert sinks["amount"].iloc[0] == pytest.approx(-1000 * 4.0 * 182 / 366, rel=1e-12)
    # 2022: 1000 ha × 4 t/ha/yr × 1 yr = 4000 t removed
    assert sinks["amount"].iloc[1] == pytest.approx(-4000.0, rel=1e-12)
    net = summarise(inv, by=["entity"], pollutants=["CO2"])
    # coal 1 kt: 1 Gg × 25.8 × 94 600 kg = 2440.68 t;  net = 2440.68 − 4000 − 1989.07
    assert net["amount"].iloc[0] == pytest.approx(2440.68 - 4000 - 1000 * 4 * 182 / 366, rel=1e-12)


def test_missing_factor_names_row_and_known_types():
    act = pd.concat([_act(), _act(activity_type="unobtainium", entity="x")], ignore_index=True)
    with pytest.raises(
        FactorError,
        match=r"act.csv, row 3, column 'activity_type': no emission factor for "
        r"'unobtainium'.*known activity types: .*coal_bituminous",
    ):
        compute_inventory(act, source="act.csv")


def test_unknown_control_is_an_error():
    with pytest.raises(FactorError, match="row 2, column 'control': unknown control 'FGD_magic'"):
        compute_inventory(_act(control="ESP+FGD_magic"))


def test_mass_activity_without_ncv_against_energy_factor_is_an_error():
    lib = FactorLibrary.default().with_factors(
        pd.DataFrame(
            {
                "factor_set": ["t"],
                "activity_type": ["peat_x"],
                "pollutant": ["CO2"],
                "value": ["1"],
                "unit": ["kg/TJ"],
                "source": ["test"],
            }
        )
    )
    with pytest.raises(
        FactorError,
        match="row 2, column 'unit': got 'kt'; the factors for 'peat_x' are per TJ "
        "and there is no net calorific value for 'peat_x'",
    ):
        compute_inventory(_act(activity_type="peat_x"), lib)


def test_gas_metered_in_volume(tmp_path):
    act = _act(activity_type="natural_gas", amount=10.0, unit="1e6*ft^3", sector="power")
    # the CO2 factors are per TJ and the bundled NCV of natural gas is per mass: CO2 must not vanish silently
    with pytest.raises(FactorError, match="CO2 factors for 'natural_gas' cannot be applied to a volume"):
        compute_inventory(act, gwp=None)
    ncv = tmp_path / "ncv.csv"
    ncv.write_text("activity_type,value,unit,source\nnatural_gas,38.931,MJ/m^3,user's gas supplier certificate\n")
    inv = compute_inventory(act, FactorLibrary.from_csv(ncv), gwp=None)
    # 10e6 ft³ = 283 168.4659 m³ × 38.931 MJ/m³ = 11 024.04 GJ = 11.02404 TJ × 56 100 kg/TJ = 618 448.6 kg
    m3 = 10e6 * 0.3048**3
    assert _get(inv, "CO2")["amount"] == pytest.approx(m3 * 38.931e-6 * 56_100 / 1000, rel=1e-12)
    # SO2: the AP-42 per-volume factor 0.2722 kg/1e6 scf × 10 = 2.722 kg (EMEP's per-energy factor, higher in
    # priority, now also reachable through the NCV, is chosen instead: 0.281 kg/TJ × 11.02404 TJ)
    assert _get(inv, "SO2")["amount"] == pytest.approx(0.281 * m3 * 38.931e-6 / 1000, rel=1e-9)


def test_invalid_activity_raises_input_error():
    with pytest.raises(InputError, match="column 'amount'"):
        compute_inventory(_act(amount=-1.0))


def test_aggregate_by_sector_and_month_matches_pandas():
    act = pd.concat(
        [
            _act(period_start="2022-01-01", period_end="2022-02-01", amount=10.0),
            _act(period_start="2022-01-15", period_end="2022-02-01", amount=5.0, entity="plant_b"),
            _act(period_start="2022-02-01", period_end="2022-03-01", amount=7.0),
        ],
        ignore_index=True,
    )
    inv = compute_inventory(act, gwp=None)
    agg = aggregate(inv, by=["sector"], freq="month", pollutants=["CO2"])
    # Jan: (10 + 5) kt × 25.8 × 94.6 t/TJ... = 15 × 2440.68 = 36 610.2 t; Feb: 7 × 2440.68 = 17 084.76 t
    assert agg["amount"].tolist() == pytest.approx([36_610.2, 17_084.76], rel=1e-12)
    assert agg["period"].tolist() == [
        pd.Timestamp("2022-01-01", tz="UTC"),
        pd.Timestamp("2022-02-01", tz="UTC"),
    ]
    yearly = aggregate(inv, by=["entity"], freq="year")
    assert set(yearly["pollutant"]) >= {"CO2", "SO2", "NOx"}


def test_summarise_output_columns():
    out = summarise(compute_inventory(_act()))
    assert list(out.columns) == ["entity", "sector", "period_start", "pollutant", "amount", "unit"]
