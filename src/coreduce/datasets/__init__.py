"""Bundled example data, built from real, citable data sets.

- the example city **"Beijing 2016"** (``beijing_2016``): its inventory (CEADs 2016) and its measured air
  quality (UCI multi-site, 2016) are for the same year; the daily profile is Cui et al.'s 2019 shape aligned
  to 2016 by weekday;
- the **example stack** ``stack_turkey_2015``: hourly stack CO/NOx of one gas turbine in north-west Turkey
  (UCI), a stand-in for CEMS data — not part of the Beijing city.

Each folder holds gzip CSVs, a ``README.md`` (full provenance: what is measured, derived or downscaled,
how it was built) and a ``CREDITS.md`` (sources and licences, shown in reports).

Examples
--------
>>> from coreduce.datasets import load_example_city
>>> city = load_example_city()
>>> sorted(city)
['activity', 'air_quality_daily', 'daily_profile', 'observations', 'sites']
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import pandas as pd

from coreduce import schema
from coreduce.errors import CoreduceError

EXAMPLE_CITY = "beijing_2016"
EXAMPLE_CITIES: tuple[str, ...] = (EXAMPLE_CITY,)
EXAMPLE_STACK = "stack_turkey_2015"

#: bundle -> file -> canonical table it holds (None: not a canonical table)
_FILES: dict[str, dict[str, str | None]] = {
    EXAMPLE_CITY: {
        "activity": "activity",
        "sites": "sites",
        "air_quality_daily": "observations",
        "daily_profile": None,
    },
    EXAMPLE_STACK: {"sites": "sites", "observations": "observations"},
}


def _folder(name: str):
    if name not in _FILES:
        raise CoreduceError(f"unknown example data set {name!r}; available: {', '.join(_FILES)}")
    return resources.files("coreduce.datasets").joinpath(name)


@cache
def _load(name: str) -> dict[str, pd.DataFrame]:
    folder = _folder(name)
    out: dict[str, pd.DataFrame] = {}
    for key, table in _FILES[name].items():
        res = folder.joinpath(f"{key}.csv.gz")
        with resources.as_file(res) as path:
            raw = pd.read_csv(path, dtype=str if table is not None else None, keep_default_na=False, na_values=[""])
        src = f"coreduce/datasets/{name}/{key}.csv.gz"
        out[key] = schema.validate(raw, table, source=src) if table is not None else raw
    if "daily_profile" in out:
        prof = out["daily_profile"]
        prof["date"] = pd.to_datetime(prof["date"], format="%Y-%m-%d")
        out["observations"] = out["air_quality_daily"]
    return out


def load_example_city(name: str = EXAMPLE_CITY) -> dict[str, pd.DataFrame]:
    """Load a bundled example city.

    Parameters
    ----------
    name : str
        Example city; ``"beijing_2016"`` ships today.

    Returns
    -------
    dict of str to pandas.DataFrame
        Fresh copies (callers may modify them):

        - ``activity``: canonical ``activity`` rows, Beijing 2016 fuel use [TJ] and clinker [t] by CEADs
          sector (DERIVED from CEADs 2016 CO2, see the README);
        - ``sites``: canonical ``sites`` (the 12 air-quality stations);
        - ``air_quality_daily`` (= ``observations``): canonical ``observations``, daily station means of
          PM2.5, PM10, SO2, NO2, CO, O3 [µg/m³] in 2016 (MEASURED);
        - ``daily_profile``: ``date`` (2016 calendar day), ``sector`` (power, industry, transport),
          ``profile_date`` (the 2019 day whose shape is used, same weekday), ``co2_t`` [t CO2 that 2019 day],
          ``share`` (of the 2016 total; sums to 1 per sector), ``source`` — Cui et al. (2021) 2019 shape,
          used to DOWNSCALE annual sectors to days.

    Raises
    ------
    CoreduceError
        If ``name`` is not a bundled example city.
    """
    if name not in EXAMPLE_CITIES:
        raise CoreduceError(f"unknown example city {name!r}; available: {', '.join(EXAMPLE_CITIES)}")
    return {k: v.copy() for k, v in _load(name).items()}


def load_example_stack() -> dict[str, pd.DataFrame]:
    """The example stack: a gas turbine in north-west Turkey, 2015 — **not** a Beijing plant.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``sites`` (one site ``gt_turkey``, region Turkey) and ``observations``: hourly stack CO and NOx
        [µg/m³] and load [MWh per hour] (MEASURED; ``ts`` is a derived hourly index, not clock time).
    """
    return {k: v.copy() for k, v in _load(EXAMPLE_STACK).items()}


def credits(name: str = EXAMPLE_CITY) -> str:
    """A bundle's sources and licences (its CREDITS.md) as Markdown text, written for a report's reader."""
    return _folder(name).joinpath("CREDITS.md").read_text(encoding="utf-8")


def readme(name: str = EXAMPLE_CITY) -> str:
    """A bundle's full README (provenance, how it was built) as Markdown text."""
    return _folder(name).joinpath("README.md").read_text(encoding="utf-8")


__all__ = [
    "EXAMPLE_CITIES",
    "EXAMPLE_CITY",
    "EXAMPLE_STACK",
    "credits",
    "load_example_city",
    "load_example_stack",
    "readme",
]
