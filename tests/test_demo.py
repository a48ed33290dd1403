"""The main job end to end: ``run_demo`` on the bundled example city "Beijing 2019"."""

from __future__ import annotations

import pandas as pd
import pytest

from coreduce.demo import DemoResult, account_example_city, run_demo

# CEADs Beijing 2019 Scope_1_Total (ceads_province_totals_1997_2019.csv), Mt CO2 -> t
CEADS_SCOPE1_T = 89.184484e6
POWER = "Production and Supply of Electric Power, Steam and Hot Water"

SECTIONS = (
    "Summary",
    "What is measured, derived and downscaled",
    "Sector breakdown",
    "Fuel breakdown",
    "Daily emissions",
    "Co-pollutants against CO2",
    "Top emitters",
    "Sinks and net balance",
    "Measured air quality",
    "Measured stack emissions",
    "Factors used",
    "AI's own footprint",
    "Sources and credits",
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[DemoResult, DemoResult]:
    out = tmp_path_factory.mktemp("demo")
    first = run_demo(out, progress=False)
    second = run_demo(out, progress=False)  # same workspace: must change nothing
    return first, second


@pytest.fixture(scope="module")
def inventory(demo) -> pd.DataFrame:
    return pd.read_csv(demo[0].paths["inventory"], dtype={"scope": str})


def test_outputs_exist(demo):
    res = demo[0]
    for key in ("inventory", "inventory_daily", "report", "workspace"):
        assert res.paths[key].is_file(), key


def test_scope1_co2_reproduces_ceads(inventory):
    co2 = inventory.loc[(inventory["pollutant"] == "CO2") & (inventory["scope"] == "1"), "amount"].sum()
    # 89,184,471 t: the 47 CEADs sector cells (each rounded to 1e-6 Mt) sum 13 t below the Total row
    assert co2 == pytest.approx(CEADS_SCOPE1_T, rel=1e-6)
    assert co2 == pytest.approx(89_184_471.0, rel=1e-12)


def test_co_pollutants_are_activity_times_factor(inventory):
    # Power sector, raw coal -> coal_bituminous.  CEADs: 1.978857 Mt CO2.
    # Activity (derived) = 1,978,857 t CO2 / 94.6 t CO2/TJ (IPCC 2006 bituminous coal) = 20,918.150 TJ.
    # SO2 = 20,918.150 TJ x 820 kg/TJ (EMEP/EEA 2023 1.A.1.a Tier 1, hard coal) / 1000 = 17,152.883 t
    # NOx = 20,918.150 TJ x 209 kg/TJ / 1000 = 4,371.893 t
    tj = 1_978_857.0 / 94.6
    row = inventory[(inventory["entity"] == POWER) & (inventory["activity_type"] == "coal_bituminous")]
    got = row.set_index("pollutant")["amount"]
    assert tj == pytest.approx(20_918.150, abs=1e-3)
    assert got["SO2"] == pytest.approx(tj * 820 / 1000, rel=1e-12)
    assert got["SO2"] == pytest.approx(17_152.883, abs=1e-3)
    assert got["NOx"] == pytest.approx(tj * 209 / 1000, rel=1e-12)
    assert got["NOx"] == pytest.approx(4_371.893, abs=1e-3)
    assert (inventory["pollutant"] == "SO2").sum() > 0
    assert (inventory["pollutant"] == "NOx").sum() > 0


def test_totals_match_the_file(demo, inventory):
    totals = demo[0].totals
    for pol in ("CO2", "CO2e", "SO2", "NOx", "PM2.5"):
        assert totals[pol] == pytest.approx(inventory.loc[inventory["pollutant"] == pol, "amount"].sum(), rel=1e-12)
    # CO2e = CO2 + 28 CH4 + 265 N2O (AR5 GWP-100)
    ch4, n2o = totals["CH4"], totals["N2O"]
    assert totals["CO2e"] == pytest.approx(totals["CO2"] + 28 * ch4 + 265 * n2o, rel=1e-12)


def test_daily_conserves_annual(demo, inventory):
    daily = pd.read_csv(demo[0].paths["inventory_daily"], dtype={"scope": str})
    assert daily["period_start"].str.startswith("2019").all()
    for pol in ("CO2", "SO2"):
        assert daily.loc[daily["pollutant"] == pol, "amount"].sum() == pytest.approx(
            inventory.loc[inventory["pollutant"] == pol, "amount"].sum(), rel=1e-9
        )
    assert daily["method"].str.contains(r"\+ downscaled\(", regex=True).all()


def test_report_content(demo):
    html = demo[0].paths["report"].read_text(encoding="utf-8")
    for title in SECTIONS:
        assert title in html.replace("&#39;", "'"), title
    low = html.lower()
    for word in ("measured", "derived", "downscaled"):
        assert word in low
    assert "No sink data in this example" in html
    assert "was not recorded" in html  # no footprint passed
    assert html.count('<script type="text/javascript">') == 1  # plotly.js embedded once, no CDN
    assert "<script src=" not in html


def test_second_run_is_idempotent(demo):
    first, second = demo
    assert first.rows == second.rows
    assert first.rows == {
        "sites": 13,
        "observations": 48_425,
        "activity": 164,
        "inventory": len(account_example_city()["inventory"]),
    }
    assert first.totals == second.totals


def test_account_example_city_is_deterministic():
    a = account_example_city()["inventory"]
    b = account_example_city()["inventory"]
    pd.testing.assert_frame_equal(a, b)


def test_footprint_is_rendered(tmp_path):
    fp = pd.DataFrame({"run": ["account"], "energy_kwh": [0.0012], "co2_kg": [0.00067]})
    res = run_demo(tmp_path, store_url=":memory:", progress=False, footprint=fp)
    html = res.paths["report"].read_text(encoding="utf-8")
    assert "energy_kwh" in html
    assert "was not recorded" not in html
