"""Build the bundled example city "Beijing 2016" (``src/coreduce/datasets/beijing_2016/``) from real data,
and the separate example stack ``src/coreduce/datasets/stack_turkey_2015/``.

Run from the repository root with the data sets where the loaders find them (``$COREDUCE_DATA`` or, in a
checkout, ``../shared/data``)::

    python scripts/make_example_city.py

Why 2016: the city's inventory and its measured air quality must be for the same year. The UCI Beijing
multi-site air quality covers 2013-03 .. 2017-02, so 2016 is the last full calendar year with both; CEADs
has Beijing by sector × fuel for 1997–2019. The only daily profile (Cui et al. 2021) covers 2019–2020, so
its 2019 shape is applied to 2016, aligned by weekday (see :func:`daily_profile`).

Inputs (each data set has a PROVENANCE.md with its licence):

- CEADs provincial inventory, Beijing 2016 (sector × fuel CO2, Mt)  -> ``activity.csv.gz`` (DERIVED)
- Cui et al. (2021) daily provincial CO2, Beijing 2019, aligned to 2016 -> ``daily_profile.csv.gz``
- UCI Beijing multi-site air quality, 2016 (hourly, 12 stations)      -> ``air_quality_daily.csv.gz``
- UCI gas-turbine CO/NOx, 2015 (hourly stack readings, Turkey)        -> ``stack_turkey_2015/`` (not Beijing)

The activity is back-calculated: ``energy [TJ] = CEADs CO2 [t] / CO2 factor [t/TJ]`` with the factor the
coreduce engine itself picks for that fuel in Beijing (jurisdiction CN: the ``cn_enterprise`` GB/T 32151
defaults where the library has one — coal, coke, oil products, LPG, natural gas — else the IPCC 2006 defaults,
e.g. crude oil and jet kerosene; ``coreduce/account/data``), and
``clinker [t] = CEADs process CO2 [t] / clinker factor [t CO2/t clinker]``.  The script then recomputes the
inventory with :func:`coreduce.account.compute_inventory` and checks that the scope-1 CO2 reproduces the
CEADs Beijing 2016 ``Scope_1_Total`` (89.981813 Mt); it stops with an error otherwise. That check is a
round trip of the back-calculation, not a validation: ``tests/test_demo.py`` compares the result with an
independent inventory (EDGAR).
"""

from __future__ import annotations

import gzip
import io
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from coreduce import schema
from coreduce.account import FactorLibrary, compute_inventory
from coreduce.ingest.loaders import ceads, read_beijing_aq, read_cui2021_daily, read_gas_turbine
from coreduce.ingest.loaders.beijing_aq import BEIJING_TZ
from coreduce.units import conversion_factor

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "coreduce" / "datasets" / "beijing_2016"
OUT_STACK = ROOT / "src" / "coreduce" / "datasets" / "stack_turkey_2015"
YEAR = 2016
PROVINCE = "Beijing"
#: CEADs Beijing 2016 Scope_1_Total, Mt CO2 (ceads_province_totals_1997_2019.csv, line 545)
CEADS_SCOPE1_MT = 89.981813
MAX_BYTES = 1_000_000
#: the year of the only daily profile (Cui et al. 2021 cover 2019-2020; 2020 is the COVID-19 year)
PROFILE_YEAR = 2019
#: 2016 day + 1092 days (exactly 156 weeks) = the 2019 day on the same weekday; 2016-02-08 (Spring
#: Festival, Monday) -> 2019-02-04 (the eve of the 2019 Spring Festival, Monday)
PROFILE_OFFSET = pd.Timedelta(weeks=156)

# --------------------------------------------------------------------------- mappings (stated in README)
#: CEADs fuel column -> coreduce activity type.  The back-calculated energy uses the engine's CO2 factor of
#: the mapped type, so the recomputed CO2 equals CEADs whatever the mapping; the mapping decides the energy
#: figure and the co-pollutant factors.
FUEL_MAP: dict[str, str] = {
    "Raw_Coal": "coal_bituminous",
    "Cleaned_Coal": "coal_bituminous",
    "Other_Washed_Coal": "coal_bituminous",
    "Briquettes": "coal_bituminous",
    "Coke": "coke",
    "Coke_Oven_Gas": "coke_oven_gas",
    "Other_Gas": "coke_oven_gas",
    "Other_Coking_Products": "coke",
    "Crude_Oil": "crude_oil",
    "Gasoline": "gasoline",
    "Kerosene": "kerosene",  # -> jet_kerosene in the transport sector (aviation), see KEROSENE_JET_SECTORS
    "Diesel_Oil": "diesel",
    "Fuel_Oil": "fuel_oil",
    "LPG": "lpg",
    "Refinery_Gas": "natural_gas",
    "Other_Petroleum_Products": "crude_oil",
    "Natural_Gas": "natural_gas",
}
KEROSENE_JET_SECTORS = {"Transportation, Storage, Post and Telecommunication Services"}
PROCESS_TYPE = "clinker_production"

#: CEADs sector label -> coreduce sector; every other CEADs sector (mining, manufacturing, construction,
#: gas and water supply) is ``industry``.
SECTOR_MAP: dict[str, str] = {
    "Production and Supply of Electric Power, Steam and Hot Water": "power",
    "Transportation, Storage, Post and Telecommunication Services": "transport",
    "Urban": "residential",
    "Rural": "residential",
    "Wholesale, Retail Trade and Catering Services": "commercial",
    "Others": "commercial",
    "Farming, Forestry, Animal Husbandry, Fishery and Water Conservancy": "agriculture",
}
#: Cui et al. (2021) sector -> coreduce sector (the profile's sectors; others are flat)
CUI_SECTORS = {"power": "power", "industry": "industry", "ground_transport": "transport"}

AQ_VARIABLES = ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3")
AQ_YEAR = YEAR
#: GB 3095-2012 (Ambient air quality standards), Table 4 data-validity rule: a 24-h mean of SO2, NO2, CO,
#: PM10 and PM2.5 needs at least 20 hourly values in the day.  Days with fewer are kept, flagged "suspect".
AQ_MIN_HOURS = 20
CEMS_YEAR = 2015

SRC_CEADS = (
    "CEADs Beijing 2016 sector x fuel CO2 (Shan et al. 2018 Sci. Data 5:170201; Shan et al. 2020 Sci. Data "
    "7:54; Guan et al. 2021 Earth's Future 9:e2021EF002241), back-calculated with the coreduce factor "
    "library's CO2 factor"
)
SRC_CUI = "cui2021"
SRC_AQ = "uci_prsa_multisite_daily_mean"
CEMS_VARIABLES = ("stack_CO", "stack_NOx", "load")


def _write_gz(df: pd.DataFrame, path: Path) -> None:
    """Write a gzip CSV deterministically (no timestamp in the gzip header: rebuilds are byte-identical)."""
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(buf.getvalue().encode("utf-8"))


# --------------------------------------------------------------------------- activity (DERIVED)
def ceads_beijing() -> pd.DataFrame:
    """CEADs Beijing 2016 scope-1 CO2 [t] by CEADs sector × fuel (and ``process``), long, zeros dropped."""
    inv = ceads.read_ceads_provinces(years=[YEAR], provinces=[PROVINCE])
    inv = inv[inv["scope"] == "1"].copy()
    back = {ceads.snake(k): k for k in FUEL_MAP} | {"process": "Process"}
    inv["ceads_fuel"] = inv["activity_type"].map(back)
    unknown = inv.loc[inv["ceads_fuel"].isna(), "activity_type"].unique()
    if len(unknown):
        raise SystemExit(f"unmapped CEADs columns: {unknown}")
    return inv[["sector", "ceads_fuel", "amount"]].rename(columns={"sector": "ceads_sector", "amount": "co2_t"})


def co2_only(lib: FactorLibrary) -> FactorLibrary:
    """The library restricted to its CO2 factors (the back-calculation and its check need nothing else)."""
    ef = lib.emission_factors
    return replace(lib, emission_factors=ef[ef["pollutant"] == "CO2"].reset_index(drop=True))


def derive_activity(lib: FactorLibrary) -> pd.DataFrame:
    """Back-calculate canonical activity rows from CEADs CO2 with the library's CO2 factors."""
    c = ceads_beijing()
    is_proc = c["ceads_fuel"] == "Process"
    at = c["ceads_fuel"].map(FUEL_MAP)
    jet = (c["ceads_fuel"] == "Kerosene") & c["ceads_sector"].isin(KEROSENE_JET_SECTORS)
    at = at.mask(jet, "jet_kerosene").mask(is_proc, PROCESS_TYPE)
    sector = c["ceads_sector"].map(SECTOR_MAP).fillna("industry")
    c = c.assign(activity_type=at, sector=sector, unit=np.where(is_proc, "t", "TJ"))
    # several CEADs fuels can map to one activity type in one CEADs sector (e.g. raw coal + briquettes)
    g = c.groupby(["ceads_sector", "sector", "activity_type", "unit"], as_index=False).agg(
        co2_t=("co2_t", "sum"), ceads_fuels=("ceads_fuel", lambda s: "+".join(sorted(set(s))))
    )
    start, end = pd.Timestamp(f"{YEAR}-01-01", tz="UTC"), pd.Timestamp(f"{YEAR + 1}-01-01", tz="UTC")
    unit_rows = pd.DataFrame(
        {
            "entity": g["ceads_sector"],
            "sector": g["sector"],
            "period_start": start,
            "period_end": end,
            "activity_type": g["activity_type"],
            "amount": 1.0,
            "unit": g["unit"],
            "region": PROVINCE,
        }
    )
    # CO2 [t] per unit of activity, exactly as the engine computes it (factor picked by the engine)
    per_unit = compute_inventory(unit_rows, co2_only(lib), gwp=None, pollutants=["CO2"])
    per_unit = per_unit.set_index(["entity", "activity_type"])
    k = per_unit.loc[list(zip(g["ceads_sector"], g["activity_type"], strict=True))]
    act = unit_rows.assign(
        amount=g["co2_t"].to_numpy() / k["amount"].to_numpy(),
        source=(
            "CEADs "
            + g["ceads_fuels"]
            + " / "
            + k["factor_set"].to_numpy()
            + " "
            + k["factor_value"].map("{:.12g}".format).to_numpy()
            + " "
            + k["factor_unit"].to_numpy()
            + ": "
            + k["factor_source"].str.split(";").str[0].str.split(" (", regex=False).str[0].to_numpy()
            + f" | {SRC_CEADS}"
        ),
    )
    act["period_start"] = act["period_start"].dt.strftime("%Y-%m-%d")
    act["period_end"] = act["period_end"].dt.strftime("%Y-%m-%d")
    return act.sort_values(["sector", "entity", "activity_type"], ignore_index=True)


def check_activity(act: pd.DataFrame, lib: FactorLibrary) -> float:
    """Recompute the CO2 inventory and return the scope-1 CO2 [t]; stop if it does not match CEADs.

    Two checks: the recomputed CO2 equals the sum of the CEADs sector cells to 1e-12 (the back-calculation
    is exact), and that sum equals the workbook's ``Scope_1_Total`` to 1e-6 relative.  The second cannot be
    tighter: the sector cells are rounded to 1e-6 Mt (1 t), so the sum of the ~190 sector cells drifts by a
    few t from the ``Total`` row.  Both are round trips, not validations.
    """
    inv = compute_inventory(act, co2_only(lib), gwp=None)
    co2 = float(inv.loc[(inv["pollutant"] == "CO2") & (inv["scope"] == "1"), "amount"].sum())
    cells = float(ceads_beijing()["co2_t"].sum())
    target = CEADS_SCOPE1_MT * conversion_factor("Mt", "t")
    rel_cells, rel_total = abs(co2 - cells) / cells, abs(co2 - target) / target
    print(
        f"scope-1 CO2 recomputed {co2:,.3f} t; CEADs sector cells {cells:,.3f} t (rel. {rel_cells:.1e}); "
        f"CEADs Scope_1_Total {target:,.3f} t (rel. {rel_total:.1e})"
    )
    if rel_cells > 1e-12 or rel_total > 1e-6:
        raise SystemExit(f"recomputed CO2 {co2} t does not reproduce CEADs ({cells} t cells, {target} t total)")
    return co2


# --------------------------------------------------------------------------- daily profile (MEASURED-based)
def daily_profile() -> pd.DataFrame:
    """Beijing daily CO2 shape per sector for 2016, from Cui et al. (2021) 2019, aligned by weekday.

    Each 2016 day ``d`` takes the 2019 day ``d + 156 weeks`` (same weekday); the four 2016 days that land in
    December 2018 (2016-01-01 .. 01-04) wrap forward 52 weeks into late December 2019 (still the same
    weekday). The 2016 Spring Festival week (Feb 7-13) lands on 2019 Feb 3-9, against the 2019 holiday of
    Feb 4-10 (6 of 7 days shared); the National Day week (Oct 1-7) lands on 2019 Sep 27 - Oct 3 (3 of 7).
    ``share`` is renormalised over the 366 days of 2016.

    Returns
    -------
    pandas.DataFrame
        ``date`` (2016 calendar day), ``sector`` (power, industry, transport), ``profile_date`` (the 2019
        day used), ``co2_t`` (Cui et al. CO2 of that 2019 day [t]), ``share`` (of the 2016 total, sums to 1
        per sector), ``source``.
    """
    inv = read_cui2021_daily(provinces=[PROVINCE])
    inv = inv[inv["period_start"].dt.year == PROFILE_YEAR]
    src = pd.DataFrame(
        {
            "profile_date": inv["period_start"].dt.tz_localize(None).to_numpy(),
            "sector": inv["sector"].map(CUI_SECTORS).to_numpy(),
            "co2_t": inv["amount"].to_numpy(),
        }
    )
    days = pd.date_range(f"{YEAR}-01-01", f"{YEAR}-12-31", freq="D")
    aligned = days + PROFILE_OFFSET
    aligned = aligned.where(aligned.year == PROFILE_YEAR, aligned + pd.Timedelta(weeks=52))
    if not ((aligned.year == PROFILE_YEAR).all() and (aligned.dayofweek == days.dayofweek).all()):
        raise SystemExit("weekday alignment of the daily profile failed")
    grid = pd.DataFrame({"date": np.tile(days, 3), "profile_date": np.tile(aligned, 3)})
    grid["sector"] = np.repeat(sorted(set(CUI_SECTORS.values())), len(days))
    out = grid.merge(src, on=["sector", "profile_date"], how="left", validate="many_to_one")
    if out["co2_t"].isna().any():
        raise SystemExit(f"Cui et al. Beijing {PROFILE_YEAR}: missing days {out[out['co2_t'].isna()].head()}")
    out["share"] = out["co2_t"] / out.groupby("sector")["co2_t"].transform("sum")
    out["date"] = out["date"].dt.strftime("%Y-%m-%d")
    out["profile_date"] = out["profile_date"].dt.strftime("%Y-%m-%d")
    out["co2_t"] = out["co2_t"].round(3)
    out["source"] = SRC_CUI
    out = out[["date", "sector", "profile_date", "co2_t", "share", "source"]]
    return out.sort_values(["sector", "date"], ignore_index=True)


# --------------------------------------------------------------------------- air quality (MEASURED)
def air_quality_daily() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Daily station means (Beijing local days) of the six pollutants in :data:`AQ_YEAR` (canonical)."""

    sites, obs = read_beijing_aq()
    obs = obs[obs["variable"].isin(AQ_VARIABLES)]
    local = obs["ts"].dt.tz_convert(BEIJING_TZ)
    obs = obs.assign(day=local.dt.strftime("%Y-%m-%d"))
    obs = obs[obs["day"].str.startswith(str(AQ_YEAR))]
    g = obs.groupby(["site_id", "day", "variable"], as_index=False, observed=True).agg(
        value=("value", "mean"), n=("value", "size"), unit=("unit", "first")
    )
    out = pd.DataFrame(
        {
            "site_id": g["site_id"].astype(str),
            "ts": g["day"] + "T00:00:00+08:00",
            "variable": g["variable"].astype(str),
            "value": g["value"].round(1),
            "unit": g["unit"].astype(str),
            "source": SRC_AQ,
            "quality": np.where(g["n"] >= AQ_MIN_HOURS, "ok", "suspect"),
        }
    )
    return sites, out.sort_values(["site_id", "ts", "variable"], ignore_index=True)


# --------------------------------------------------------------------------- CEMS-like stack (MEASURED)
def example_stack() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The UCI gas turbine's 2015 hourly stack CO, NOx [µg/m³] and load [MWh per hour] (canonical).

    The source publishes no timestamps; ``ts`` is the loader's derived hourly index (2015-01-01 00:00 UTC
    + row - 1 hours), not clock time.
    """
    site, obs = read_gas_turbine()
    obs = obs[obs["variable"].isin(CEMS_VARIABLES) & (obs["ts"].dt.year == CEMS_YEAR)]
    out = pd.DataFrame(
        {
            "site_id": obs["site_id"].astype(str),
            "ts": obs["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "variable": obs["variable"].astype(str),
            "value": obs["value"].round(2),
            "unit": obs["unit"].astype(str),
            "source": obs["source"].astype(str),
            "quality": obs["quality"].astype(str),
        }
    )
    return site, out.sort_values(["variable", "ts"], ignore_index=True)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    lib = FactorLibrary.default()
    act = derive_activity(lib)
    schema.validate(act, "activity", source="activity.csv.gz")
    check_activity(act, lib)
    _write_gz(act, OUT / "activity.csv.gz")

    prof = daily_profile()
    _write_gz(prof, OUT / "daily_profile.csv.gz")

    aq_sites, aq = air_quality_daily()
    schema.validate(aq, "observations", source="air_quality_daily.csv.gz")
    _write_gz(aq, OUT / "air_quality_daily.csv.gz")

    schema.validate(aq_sites, "sites", source="sites.csv.gz")
    _write_gz(aq_sites, OUT / "sites.csv.gz")

    # the example stack: a gas turbine in Turkey, NOT part of the Beijing city (its own folder and README)
    OUT_STACK.mkdir(parents=True, exist_ok=True)
    gt_site, gt = example_stack()
    schema.validate(gt, "observations", source="stack_turkey_2015/observations.csv.gz")
    _write_gz(gt, OUT_STACK / "observations.csv.gz")
    schema.validate(gt_site, "sites", source="stack_turkey_2015/sites.csv.gz")
    _write_gz(gt_site, OUT_STACK / "sites.csv.gz")

    total = 0
    for folder in (OUT, OUT_STACK):
        for f in sorted(folder.iterdir()):
            total += f.stat().st_size
            print(f"{folder.name}/{f.name:28s} {f.stat().st_size:>10,d} bytes")
    print(
        f"total {total:,d} bytes; activity {len(act)} rows, profile {len(prof)}, air quality {len(aq)}, "
        f"example stack {len(gt)}"
    )
    if total > MAX_BYTES:
        raise SystemExit(f"bundled examples are {total:,d} bytes, over the {MAX_BYTES:,d} budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
