"""Our World in Data CO2 data set (country / region × year, 1750–2023)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from coreduce.ingest.loaders._common import reading, require_file, validated
from coreduce.ingest.loaders._paths import OWID_URL, locate
from coreduce.units import conversion_factor

DATA_DIR = "owid_co2"
PARQUET = "owid-co2-data.parquet"
CSV = "owid-co2-data.csv.gz"
METHOD = "reported: OWID"
CITATION = (
    "Our World in Data, CO2 and Greenhouse Gas Emissions data set (Ritchie, Roser, Mathieu, Macdonald, "
    "Rosado), github.com/owid/co2-data, release with data through 2023 (Global Carbon Budget 2024); CC BY 4.0"
)
#: CO2 columns by source (codebook unit: million tonnes CO2); summed they give ``co2`` up to OWID rounding
FUEL_COLUMNS: dict[str, str] = {
    "coal_co2": "coal",
    "oil_co2": "oil",
    "gas_co2": "gas",
    "cement_co2": "cement",
    "flaring_co2": "flaring",
    "other_industry_co2": "other_industry",
}


def read_owid_co2(
    path: str | Path | None = None,
    countries: Iterable[str] | None = None,
    years: Iterable[int] | None = None,
    by_fuel: bool = False,
) -> pd.DataFrame:
    """Read OWID's annual production-based CO2 emissions as ``inventory`` rows.

    Parameters
    ----------
    path : str or Path, optional
        The publisher's ``owid-co2-data.csv`` (https://nyc3.digitaloceanspaces.com/owid-public/data/co2/owid-co2-data.csv,
        from https://github.com/owid/co2-data), gzip-compressed or not, or the Parquet copy
        ``owid-co2-data.parquet`` (same rows and columns), or a folder holding one. Default: found by
        :func:`coreduce.ingest.loaders.locate`.
    countries : iterable of str, optional
        Names as in OWID's ``country`` column (``China``, ``World``, ``European Union (27)``...). Default: all
        255 countries and aggregates (aggregates have no ISO code; filter on ``region != '*'`` for countries).
    years : iterable of int, optional
        Years to keep. Default: all with data.
    by_fuel : bool
        ``False`` (default): one row per country-year from the ``co2`` column, ``activity_type`` ``total``.
        ``True``: one row per source instead (``coal``, ``oil``, ``gas``, ``cement``, ``flaring``,
        ``other_industry`` from the ``*_co2`` columns). Do not mix the two: they double count.

    Returns
    -------
    pandas.DataFrame
        Canonical ``inventory``: ``entity`` = OWID ``country``, ``region`` = ISO 3166 alpha-3 ``iso_code``
        (``*`` for aggregates), ``sector`` ``total``, calendar-year periods in UTC, ``pollutant`` ``CO2``,
        ``amount`` in t (codebook unit million tonnes, converted with pint), ``method`` ``reported: OWID``.
        Empty cells are dropped; with all defaults 29,137 rows. Spot values: China 2019 10,713.984 Mt,
        World 2023 37,791.570 Mt. Methane and nitrous oxide are not loaded: OWID gives them in CO2e
        (Climate Watch) with a GWP the codebook does not state, so their unit is ambiguous here.

    References
    ----------
    Our World in Data, CO2 and Greenhouse Gas Emissions, github.com/owid/co2-data (data through 2023);
    underlying source for CO2: Global Carbon Project, Global Carbon Budget 2024. Licence CC BY 4.0 for
    OWID-produced data; cite OWID and the Global Carbon Project.
    """
    p = Path(path) if path is not None else locate("owid")
    if p.is_dir():
        inside = [p / n for n in ("owid-co2-data.csv", PARQUET, CSV) if (p / n).is_file()]
        p = inside[0] if inside else p
    require_file(p, f"owid-co2-data.csv (from {OWID_URL}), its .csv.gz or the Parquet copy")
    value_cols = list(FUEL_COLUMNS) if by_fuel else ["co2"]
    cols = ["country", "year", "iso_code", *value_cols]
    with reading(p, f"owid-co2-data.csv (from {OWID_URL}) or its Parquet copy, with columns {', '.join(cols)}"):
        df = pd.read_parquet(p, columns=cols) if p.suffix == ".parquet" else pd.read_csv(p, usecols=cols)
    if countries is not None:
        df = df[df["country"].isin([countries] if isinstance(countries, str) else list(countries))]
    if years is not None:
        df = df[df["year"].isin(list(years))]
    long = df.melt(
        id_vars=["country", "year", "iso_code"], value_vars=value_cols, var_name="column", value_name="mt"
    ).dropna(subset=["mt"])
    y = long["year"].astype("int64")
    start = pd.to_datetime({"year": y, "month": 1, "day": 1}).dt.tz_localize("UTC")
    end = pd.to_datetime({"year": y + 1, "month": 1, "day": 1}).dt.tz_localize("UTC")
    inv = pd.DataFrame(
        {
            "entity": long["country"],
            "sector": "total",
            "region": long["iso_code"],
            "period_start": start,
            "period_end": end,
            "activity_type": long["column"].map(FUEL_COLUMNS) if by_fuel else "total",
            "scope": "1",
            "pollutant": "CO2",
            "amount": long["mt"] * conversion_factor("Mt", "t"),
            "unit": "t",
            "method": METHOD,
            "factor_source": CITATION,
        }
    )
    inv = inv.sort_values(["entity", "period_start", "activity_type"], kind="stable")
    return validated(inv, "inventory", p)
