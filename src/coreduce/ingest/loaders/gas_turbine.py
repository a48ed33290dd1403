"""UCI gas-turbine stack CO / NOx with process and ambient sensors (one turbine, NW Turkey, 2011–2015)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from coreduce.errors import InputError
from coreduce.ingest.loaders._common import melt_wide, validated
from coreduce.ingest.loaders._paths import data_path

DATA_FILE = ("gas_turbine_co_nox", "gas_turbine_co_nox_2011_2015.csv.gz")
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


def read_gas_turbine(path: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the UCI gas-turbine CO/NOx set into canonical ``sites`` and ``observations``.

    Parameters
    ----------
    path : str or Path, optional
        ``gas_turbine_co_nox_2011_2015.csv[.gz]`` (the five UCI yearly files stacked, with ``year`` and
        ``row_in_year`` added). Default: the copy in the shared data folder.

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
    p = Path(path) if path is not None else data_path(*DATA_FILE)
    cols = ["year", "row_in_year", *VARIABLES]
    try:
        wide = pd.read_csv(p, usecols=cols)
    except ValueError as exc:
        raise InputError(str(p), f"columns {', '.join(cols)} ({exc})", row=1) from None
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
