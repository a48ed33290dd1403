"""Bundled example data: the example city "Beijing 2019", built from real, citable data sets.

The files live in ``coreduce/datasets/<name>/`` (gzip CSVs plus a README.md with sources, licences and what
is measured, derived or downscaled); ``scripts/make_example_city.py`` rebuilds them from ``../shared/data``.

Examples
--------
>>> from coreduce.datasets import load_example_city
>>> city = load_example_city()
>>> sorted(city)
['activity', 'air_quality_daily', 'cems_plant', 'daily_profile', 'observations', 'sites']
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import pandas as pd

from coreduce import schema
from coreduce.errors import CoreduceError

EXAMPLE_CITIES: tuple[str, ...] = ("beijing_2019",)

#: file -> canonical table it holds (None: not a canonical table)
_FILES: dict[str, str | None] = {
    "activity": "activity",
    "sites": "sites",
    "air_quality_daily": "observations",
    "cems_plant": "observations",
    "daily_profile": None,
}


def _folder(name: str):
    if name not in EXAMPLE_CITIES:
        raise CoreduceError(f"unknown example city {name!r}; available: {', '.join(EXAMPLE_CITIES)}")
    return resources.files("coreduce.datasets").joinpath(name)


@cache
def _load(name: str) -> dict[str, pd.DataFrame]:
    folder = _folder(name)
    out: dict[str, pd.DataFrame] = {}
    for key, table in _FILES.items():
        res = folder.joinpath(f"{key}.csv.gz")
        with resources.as_file(res) as path:
            raw = pd.read_csv(path, dtype=str if table is not None else None, keep_default_na=False, na_values=[""])
        src = f"coreduce/datasets/{name}/{key}.csv.gz"
        out[key] = schema.validate(raw, table, source=src) if table is not None else raw
    prof = out["daily_profile"]
    prof["date"] = pd.to_datetime(prof["date"], format="%Y-%m-%d")
    out["observations"] = pd.concat([out["air_quality_daily"], out["cems_plant"]], ignore_index=True)
    return out


def load_example_city(name: str = "beijing_2019") -> dict[str, pd.DataFrame]:
    """Load a bundled example city.

    Parameters
    ----------
    name : str
        Example city; only ``"beijing_2019"`` ships today.

    Returns
    -------
    dict of str to pandas.DataFrame
        Fresh copies (callers may modify them):

        - ``activity``: canonical ``activity`` rows, Beijing 2019 fuel use [TJ] and clinker [t] by CEADs
          sector (DERIVED from CEADs CO2, see the README);
        - ``sites``: canonical ``sites`` (12 air-quality stations, one gas-turbine plant);
        - ``air_quality_daily``: canonical ``observations``, daily station means of PM2.5, PM10, SO2, NO2,
          CO, O3 [µg/m³] in 2016 (MEASURED);
        - ``cems_plant``: canonical ``observations``, hourly stack CO and NOx [µg/m³] and load [MWh per
          hour] of a gas turbine in Turkey, 2015 (MEASURED; ``ts`` is a derived hourly index, not clock time);
        - ``observations``: the two observation sets together;
        - ``daily_profile``: ``date`` (calendar day), ``sector`` (power, industry, transport), ``co2_t``
          [t CO2/day], ``share`` (of the sector's 2019 total; sums to 1 per sector), ``source`` — Cui et
          al. (2021) daily CO2, used to DOWNSCALE annual sectors to days.

    Raises
    ------
    CoreduceError
        If ``name`` is not a bundled example city.
    """
    return {k: v.copy() for k, v in _load(name).items()}


def credits(name: str = "beijing_2019") -> str:
    """The example city's README (sources, licences, measured / derived / downscaled) as Markdown text."""
    return _folder(name).joinpath("README.md").read_text(encoding="utf-8")


__all__ = ["EXAMPLE_CITIES", "credits", "load_example_city"]
