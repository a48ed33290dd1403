"""US EPA eGRID emission-factor tables: CO2 / CH4 / N2O per MMBtu by fuel; SO2 / NOx where one per fuel."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from coreduce.errors import InputError
from coreduce.ingest.loaders._common import reading, require_file, validated
from coreduce.ingest.loaders._paths import EGRID_URL, locate

DATA_DIR = "epa_egrid_emission_factors"
GHG_FILE = "co2_ch4_n2o_ef.csv"
HEAT_INPUT_FILE = "emission_factors_heatinput.csv"
GEOTHERMAL_FILE = "geothermal_emission_factors.csv"
FACTOR_SET = "egrid"

EGRID = (
    "US EPA eGRID production model static tables "
    "(github.com/USEPA/egrid, data/static_tables, commit ac0f422, 2025-01-17)"
)
#: the ``source`` column of co2_ch4_n2o_ef.csv -> primary source
GHG_SOURCES: dict[str, str] = {
    "EPA GHG MRR": "40 CFR Part 98 Subpart C, Tables C-1 and C-2 (EPA Greenhouse Gas Reporting Program)",
    "IPCC": "IPCC 2006 Guidelines for National Greenhouse Gas Inventories (as adopted by eGRID)",
    "use OBL": "eGRID proxy: factor of OBL (other liquid biofuels, IPCC 2006)",
    "use NG": "eGRID proxy: factor of pipeline natural gas (40 CFR Part 98 Subpart C, Tables C-1 and C-2)",
}
#: units of co2_ch4_n2o_ef.csv: ``ton`` is the US short ton
#: (PROVENANCE.md: BIT 0.102956 short t/MMBtu = 93.40 kg/MMBtu)
GHG_UNITS: dict[str, tuple[str, str]] = {
    "co2_ef": ("CO2", "short_ton/MMBtu"),
    "ch4_ef": ("CH4", "lb/MMBtu"),
    "n2o_ef": ("N2O", "lb/MMBtu"),
}
PRIMARY_SOURCES: dict[str, str] = {
    "AP-42": "US EPA AP-42 Compilation of Air Pollutant Emission Factors, Vol. I",
    "EIA Electricity Annual": "EIA Electric Power Annual",
}


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def _activity_type(fuel_type: str, code: object) -> str:
    """``egrid_<EIA fuel code>`` (lower case) where eGRID gives a code, else ``egrid_<fuel name>``."""
    if isinstance(code, str) and code.strip() and code.strip().upper() != "NA":
        return f"egrid_{code.strip().lower()}"
    return f"egrid_{_snake(fuel_type)}"


def _ghg(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False, na_values=[""])
    need = ["fuel_type", "eia_fuel_code", *GHG_UNITS, "source"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise InputError(str(path), f"column(s) {', '.join(missing)}", row=1, column=missing[0])
    df = df[df["source"] != "no EF"]
    unknown = sorted(set(df["source"]) - set(GHG_SOURCES))
    if unknown:
        raise InputError(str(path), f"a source among {', '.join(GHG_SOURCES)}", column="source", value=unknown[0])
    df = df.assign(
        activity_type=[_activity_type(f, c) for f, c in zip(df["fuel_type"], df["eia_fuel_code"], strict=True)]
    )
    rows = []
    for col, (pollutant, unit) in GHG_UNITS.items():
        rows.append(
            pd.DataFrame(
                {
                    "activity_type": df["activity_type"],
                    "pollutant": pollutant,
                    "value": df[col].astype("float64"),
                    "unit": unit,
                    "sector": "*",
                    "source": df["fuel_type"].map(lambda f: f"fuel '{f}'; ")
                    + df["source"].map(GHG_SOURCES)
                    + f"; via {EGRID}, {GHG_FILE}",
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def _heat_input(path: Path, fuel_names: dict[str, str]) -> pd.DataFrame:
    """One SO2 / NOx factor per fuel where every row of the fuel agrees (value, lb/MMBtu, no sulfur flag)."""
    df = pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False, na_values=[""])
    rows = []
    for pollutant, pre in (("SO2", "so2"), ("NOx", "nox")):
        flag = f"{pre}_flag" if f"{pre}_flag" in df.columns else None
        sub = df[df[f"{pre}_ef"].notna()]
        for fuel, g in sub.groupby("primary_fuel_type", sort=True):
            per_mmbtu = g[f"{pre}_ef_denom"].str.lower().eq("mmbtu") & g[f"{pre}_ef_num"].str.lower().eq("lb")
            sulfur = g[flag].fillna("").str.upper().eq("S") if flag else pd.Series(False, index=g.index)
            if not per_mmbtu.all() or sulfur.any() or g[f"{pre}_ef"].nunique() != 1:
                continue  # depends on prime mover / firing type, on fuel sulfur, or is per physical unit
            srcs = sorted({s for s in g[f"{pre}_source"].fillna("") if s})
            primary = "; ".join(PRIMARY_SOURCES.get(s, s) for s in srcs) or "source not stated"
            movers = ", ".join(sorted({m for m in g["prime_mover"].fillna("") if m}))
            rows.append(
                {
                    "activity_type": _activity_type(fuel_names.get(fuel, fuel), fuel),
                    "pollutant": pollutant,
                    "value": float(g[f"{pre}_ef"].iloc[0]),
                    "unit": "lb/MMBtu",
                    "sector": "power",
                    "source": f"fuel {fuel}, same factor for all prime movers listed ({movers}); {primary}; "
                    f"via {EGRID}, {HEAT_INPUT_FILE}",
                }
            )
    return pd.DataFrame(rows)


def _geothermal(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, encoding="utf-8-sig")
    cols = {"co2_ef_lb_mmbtu": "CO2", "so2_ef_lb_mmbtu": "SO2", "nox_ef_lb_mmbtu": "NOx"}
    rows = [
        {
            "activity_type": f"egrid_geothermal_{_snake(r['GeoType Description'])}",
            "pollutant": pol,
            "value": float(r[col]),
            "unit": "lb/MMBtu",
            "sector": "power",
            "source": f"geothermal plant type {r['GeoTypeCode']} ({r['GeoType Description']}); "
            f"via {EGRID}, {GEOTHERMAL_FILE}",
        }
        for _, r in df.iterrows()
        for col, pol in cols.items()
    ]
    return pd.DataFrame(rows)


def read_egrid_factors(path: str | Path | None = None) -> pd.DataFrame:
    """Read the eGRID factor tables as canonical ``emission_factors`` (factor set ``egrid``).

    Parameters
    ----------
    path : str or Path, optional
        Folder holding the publisher's ``co2_ch4_n2o_ef.csv``, ``emission_factors_heatinput.csv`` and
        ``geothermal_emission_factors.csv`` — the folder ``data/static_tables`` of
        https://github.com/USEPA/egrid, as published (the shared copy is unchanged). Default: found by
        :func:`coreduce.ingest.loaders.locate`.

    Returns
    -------
    pandas.DataFrame
        Canonical ``emission_factors``, all per unit of heat input (MMBtu, 10⁶ Btu, HHV):

        - CO2 in ``short_ton/MMBtu`` (the file's ``ton`` is the US short ton, 907.18474 kg), CH4 and N2O in
          ``lb/MMBtu``, one row per fuel of ``co2_ch4_n2o_ef.csv`` and gas, ``sector`` ``*``. Rows whose
          source is ``no EF`` (nuclear, wind, solar, purchased steam, ...) are not loaded. Bituminous coal
          (``egrid_bit``): 0.102955847 short t/MMBtu = 93.40 kg/MMBtu.
        - SO2 and NOx in ``lb/MMBtu`` from ``emission_factors_heatinput.csv``, ``sector`` ``power``, only
          where one factor holds for the fuel: every row of that fuel (all prime movers / firing types)
          has the same value, is per MMBtu and is not sulfur-dependent (``so2_flag = S``, AP-42's
          "multiply by the sulfur content in %"). E.g. SO2 for pipeline natural gas 0.003196 lb/MMBtu.
          Prime-mover-specific factors (NOx of natural gas: 0.32 lb/MMBtu for combustion turbines,
          2.67 for engines) and per-physical-unit factors are not loaded.
        - CO2, SO2, NOx in ``lb/MMBtu`` for the three geothermal plant types (binary, flash, steam).

        ``activity_type`` is ``egrid_<EIA fuel code>`` in lower case where eGRID gives a code
        (``egrid_bit``, ``egrid_ng``, ``egrid_dfo``), else ``egrid_<fuel name in snake case>``
        (``egrid_coke``, ``egrid_motor_gasoline``); ``source`` names the fuel, the primary source (40 CFR
        Part 98 Subpart C Tables C-1/C-2, AP-42, IPCC, EIA) and the eGRID table.

    References
    ----------
    US EPA, eGRID (Emissions & Generation Resource Integrated Database) production model, static tables,
    https://www.epa.gov/egrid and github.com/USEPA/egrid (MIT licence, US-government public-domain data).
    Primary sources: 40 CFR Part 98 Subpart C, Tables C-1 and C-2; US EPA AP-42 Compilation of Air
    Pollutant Emission Factors; EIA Electric Power Annual; IPCC (2006) Guidelines.
    """
    d = Path(path) if path is not None else locate("egrid")
    expected = f"a folder holding {GHG_FILE}, {HEAT_INPUT_FILE} and {GEOTHERMAL_FILE} (from {EGRID_URL})"
    if not d.is_dir():
        raise InputError(str(d), f"{expected} (this path is {'a file' if d.exists() else 'missing'})")
    for f in (GHG_FILE, HEAT_INPUT_FILE, GEOTHERMAL_FILE):
        require_file(d / f, expected)
    with reading(d, expected):
        ghg = _ghg(d / GHG_FILE)
        raw = pd.read_csv(d / GHG_FILE, encoding="utf-8-sig", keep_default_na=False, na_values=[""])
        names = dict(zip(raw["eia_fuel_code"], raw["fuel_type"], strict=True))
        parts = [ghg, _heat_input(d / HEAT_INPUT_FILE, names), _geothermal(d / GEOTHERMAL_FILE)]
    ef = pd.concat(parts, ignore_index=True)
    ef.insert(0, "factor_set", FACTOR_SET)
    ef["region"] = "*"
    return validated(ef, "emission_factors", d)
