"""UCI gas-turbine stack CO / NOx with process and ambient sensors (one turbine, NW Turkey, 2011–2015)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from coreduce.errors import InputError
from coreduce.ingest.loaders._common import melt_wide, reading, require_file, validated, zip_members
from coreduce.ingest.loaders._paths import SPECS, UCI_GT_URL, locate

#: one yearly file of the UCI release
YEAR_FILE = re.compile(r"gt_(\d{4})\.csv")
EXPECTED = (
    f"the UCI zip {SPECS['gas-turbine'].expected}, its gt_2011.csv .. gt_2015.csv files (or a folder of them), "
    f"or the stacked copy gas_turbine_co_nox_2011_2015.csv[.gz] (from {UCI_GT_URL})"
)
SITE_ID = "gt_turkey"
SOURCE = "uci_gas_turbine (derived hourly index)"

#: raw column -> (variable, unit), units from PROVENANCE.md / Kaya et al. (2019) Table 1.  CO and NOx are
#: flue-gas (stack) concentrations, hence the ``stack_`` prefix that keeps them apart from ambient CO / NOx
#: (and out of the ambient plausibility bounds); TEY, the electric energy of the hour, is ``load``.
VARIABLES: dict[str, tuple[str, str]] = {
    "AT": ("AT", "degC"),
    "AP": ("AP", "mbar"),
    "AH": ("AH", "%"),
    "AFDP": ("AFDP", "mbar"),
    "GTEP": ("GTEP", "mbar"),
    "TIT": ("TIT", "degC"),
    "TAT": ("TAT", "degC"),
    "CDP": ("CDP", "mbar"),
    "TEY": ("load", "MWh"),
    "CO": ("stack_CO", "mg/m^3"),
    "NOX": ("stack_NOx", "mg/m^3"),
}


def _stack_years(files: dict[int, Path | bytes], src: Path) -> pd.DataFrame:
    """The UCI yearly files stacked in year order, with ``year`` and ``row_in_year`` (1-based) added."""
    frames = []
    for year in sorted(files):
        f = files[year]
        with reading(src if isinstance(f, bytes) else f, f"{EXPECTED}; columns {', '.join(VARIABLES)}"):
            df = pd.read_csv(io.BytesIO(f) if isinstance(f, bytes) else f, usecols=list(VARIABLES))
        frames.append(df.assign(year=year, row_in_year=np.arange(1, len(df) + 1)))
    return pd.concat(frames, ignore_index=True)


def _read_wide(p: Path) -> pd.DataFrame:
    """Wide rows ``year, row_in_year, AT .. NOX`` from any of the accepted layouts (see the docstring)."""
    if p.is_dir():
        found = {int(m.group(1)): f for f in sorted(p.iterdir()) if (m := YEAR_FILE.fullmatch(f.name))}
        if found:
            return _stack_years(found, p)  # type: ignore[arg-type]
        inside = [p / n for n in (*SPECS["gas-turbine"].publisher_files[:1], "gas_turbine_co_nox_2011_2015.csv.gz")]
        inside = [f for f in inside if f.is_file()]
        if not inside:
            raise InputError(str(p), f"a folder holding {EXPECTED}")
        p = inside[0]
    require_file(p, EXPECTED)
    if p.suffix.lower() == ".zip":
        with reading(p, EXPECTED):
            members = zip_members(p, YEAR_FILE.pattern)
        if not members:
            raise InputError(str(p), f"a zip holding {EXPECTED}")
        return _stack_years({int(YEAR_FILE.fullmatch(k).group(1)): v for k, v in members.items()}, p)  # type: ignore[union-attr]
    if (m := YEAR_FILE.fullmatch(p.name)) is not None:
        return _stack_years({int(m.group(1)): p}, p)
    cols = ["year", "row_in_year", *VARIABLES]
    with reading(p, f"{EXPECTED}; columns {', '.join(cols)}"):
        return pd.read_csv(p, usecols=cols)


def read_gas_turbine(path: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the UCI gas-turbine CO/NOx set into canonical ``sites`` and ``observations``.

    Parameters
    ----------
    path : str or Path, optional
        The publisher's file from https://archive.ics.uci.edu/dataset/551/gas+turbine+co+and+nox+emission+data+set:
        ``gas+turbine+co+and+nox+emission+data+set.zip`` as downloaded, its yearly files
        ``gt_2011.csv`` .. ``gt_2015.csv`` (one, or a folder of them), or the project's shared copy
        ``gas_turbine_co_nox_2011_2015.csv[.gz]`` (the five files stacked with ``year`` and ``row_in_year``
        added, values unchanged). Default: found by :func:`coreduce.ingest.loaders.locate`.

    Returns
    -------
    sites : pandas.DataFrame
        One site ``gt_turkey``: kind ``plant``, sector ``power``, region ``Turkey`` (north-west; the
        plant is not named and no coordinates are published, so ``lat``/``lon`` are empty).
    observations : pandas.DataFrame
        36,733 hourly records × 11 variables = 404,063 rows (no missing values). Variables and units:
        ``stack_CO`` and ``stack_NOx`` (flue-gas concentrations, file mg/m³, converted by validation to
        µg/m³: 0.32663 mg/m³ -> 326.63 µg/m³), ``AT`` ambient temperature (degC), ``AP`` ambient pressure
        (mbar), ``AH`` ambient humidity (%), ``AFDP`` air-filter differential pressure (mbar), ``GTEP``
        exhaust pressure (mbar), ``TIT`` turbine inlet and ``TAT`` turbine after temperature (degC),
        ``CDP`` compressor discharge pressure (mbar), ``load`` = TEY, the energy yield of the hour (MWh).

    Notes
    -----
    **The timestamps are derived, not measured.** UCI publishes no time stamps and warns that consecutive
    rows need not be consecutive clock hours. ``ts`` is therefore an index: the ``row_in_year``-th row of
    year *Y* gets ``Y-01-01 00:00 UTC + (row_in_year - 1) h`` (the last 2011 row is 2011-11-05 18:00), and
    ``source`` says so: ``uci_gas_turbine (derived hourly index)``. Use ``ts`` for ordering within a
    year only, never for calendar features (season, hour of day) or for joins with other data.

    References
    ----------
    Kaya, H., Tüfekci, P. and Uzun, E. (2019). Predicting CO and NOx emissions from gas turbines: novel
    data and a benchmark PEMS. Turkish Journal of Electrical Engineering & Computer Sciences 27(6):
    4783–4796. Data: UCI Machine Learning Repository, "Gas Turbine CO and NOx Emission Data Set" (id 551),
    DOI 10.24432/C5WC95, licence CC BY 4.0.
    """
    p = Path(path) if path is not None else locate("gas-turbine")
    wide = _read_wide(p)
    year = wide["year"].astype("int64")
    ts = pd.to_datetime({"year": year, "month": 1, "day": 1}).dt.tz_localize("UTC") + pd.to_timedelta(
        wide["row_in_year"].astype("int64") - 1, unit="h"
    )
    wide = wide.rename(columns={k: v[0] for k, v in VARIABLES.items()})
    obs = melt_wide(
        wide,
        ts,
        np.full(len(wide), SITE_ID, dtype=object),
        [v[0] for v in VARIABLES.values()],
        [v[1] for v in VARIABLES.values()],
        SOURCE,
    )
    sites = pd.DataFrame(
        {
            "site_id": [SITE_ID],
            "name": ["UCI gas turbine, NW Turkey"],
            "kind": ["plant"],
            "sector": ["power"],
            "region": ["Turkey"],
            "lat": [np.nan],
            "lon": [np.nan],
        }
    )
    return validated(sites, "sites", p), validated(obs, "observations", p)
