"""Loaders for real public data sets: each reads the publisher's own file (and the project's cleaned copy).

Every ``read_*`` function takes ``path=None``: the file or folder as downloaded from the publisher (the
URL and file name are in its docstring and in :func:`available`), or, by default, the data set found
by :func:`locate` — only in ``$COREDUCE_DATA`` or the package's own data folders, never by searching
the working directory (:mod:`coreduce.ingest.loaders._paths`). They return canonical frames that passed
:func:`coreduce.schema.validate`, except :func:`read_city_panel` and :func:`read_ceads_province_totals`
(tidy, non-canonical frames). A wrong file is one :class:`coreduce.errors.InputError` naming it and the
file expected; a missing data set is a :class:`DataSetNotFound` naming the download.

Which formats each loader reads (``available()["formats"]``):

- ``beijing-aq``: the UCI zip (outer or inner), the 12 station CSVs, or the same gzip-compressed;
- ``beijing-pm25``: the UCI zip, its CSV, or the CSV gzip-compressed;
- ``gas-turbine``: the UCI zip, its yearly ``gt_<year>.csv`` files, or the shared stacked copy;
- ``ceads-provinces``: the CEADs workbooks (one per year, full precision) or the shared tidy copy (rounded
  to 1e-6 Mt); ``ceads-cities``, ``ceads-national``: the CEADs workbook or the shared CSV copy of its sheet;
- ``cui2021``: the Zenodo workbook (re-dating one sheet, documented in the loader) or the shared tidy copy;
- ``owid``: the OWID CSV (gzip or not) or the Parquet copy; ``egrid``: the published folder, unchanged;
- ``city-panel``: only the project's merged panel (no single publisher file).
"""

import pandas as pd

from coreduce.ingest.loaders._paths import (
    ENV_VAR,
    SPECS,
    DataSetNotFound,
    DataSetSpec,
    data_dirs,
    find,
    locate,
    shared_data_dir,
)
from coreduce.ingest.loaders._paths import available as _available
from coreduce.ingest.loaders.beijing_aq import read_beijing_aq, read_beijing_pm25_embassy
from coreduce.ingest.loaders.ceads import (
    read_ceads_cities,
    read_ceads_national,
    read_ceads_province_totals,
    read_ceads_provinces,
)
from coreduce.ingest.loaders.city_panel import read_city_panel
from coreduce.ingest.loaders.cui2021 import read_cui2021_daily
from coreduce.ingest.loaders.egrid import read_egrid_factors
from coreduce.ingest.loaders.gas_turbine import read_gas_turbine
from coreduce.ingest.loaders.owid import read_owid_co2

__all__ = [
    "ENV_VAR",
    "SPECS",
    "DataSetNotFound",
    "DataSetSpec",
    "available",
    "data_dirs",
    "find",
    "locate",
    "read_beijing_aq",
    "read_beijing_pm25_embassy",
    "read_ceads_cities",
    "read_ceads_national",
    "read_ceads_province_totals",
    "read_ceads_provinces",
    "read_city_panel",
    "read_cui2021_daily",
    "read_egrid_factors",
    "read_gas_turbine",
    "read_owid_co2",
    "shared_data_dir",
]


def _sites_obs(fn):
    def load(path=None):
        sites, obs = fn(path)
        return {"sites": sites, "observations": obs}

    return load


#: Loaders that yield canonical tables, by data-set name: ``name -> (description, function returning
#: {table: frame})``.  Used by ``coreduce load NAME``.
DATASETS = {
    "beijing-aq": ("UCI Beijing multi-site air quality, 12 stations, hourly 2013-2017", _sites_obs(read_beijing_aq)),
    "beijing-pm25": ("UCI Beijing PM2.5 (US Embassy), hourly 2010-2014", _sites_obs(read_beijing_pm25_embassy)),
    "gas-turbine": ("UCI gas-turbine stack CO/NOx (CEMS-like), 2011-2015", _sites_obs(read_gas_turbine)),
    "ceads-provinces": (
        "CEADs CO2, 30 provinces x 47 sectors x fuels, 1997-2019",
        lambda path=None: {"inventory": read_ceads_provinces(path)},
    ),
    "ceads-cities": (
        "CEADs CO2 totals of 290 cities, 1997-2019",
        lambda path=None: {"inventory": read_ceads_cities(path)},
    ),
    "ceads-national": (
        "CEADs national CO2 by fuel, 1997-2019",
        lambda path=None: {"inventory": read_ceads_national(path)},
    ),
    "cui2021": (
        "Cui et al. 2021 daily provincial CO2 by sector, 2019-2020",
        lambda path=None: {"inventory": read_cui2021_daily(path)},
    ),
    "owid": ("Our World in Data CO2 by country-year", lambda path=None: {"inventory": read_owid_co2(path)}),
    "egrid": ("EPA eGRID emission factors", lambda path=None: {"emission_factors": read_egrid_factors(path)}),
}
__all__ += ["DATASETS"]


def available(*, loadable_only: bool = True) -> pd.DataFrame:
    """Which data sets are present and where (for ``coreduce load list``).

    Parameters
    ----------
    loadable_only : bool
        Only the data sets ``coreduce load NAME`` can load into the workspace (:data:`DATASETS`, canonical
        tables); False adds the others with a loader (``city-panel``, a tidy non-canonical frame).

    Returns
    -------
    pandas.DataFrame
        One row per data set: ``name``, ``description``, ``present`` (bool), ``path`` (where it was found,
        else None), ``expected`` (the publisher's file name to download), ``url`` (the publisher's page),
        ``formats`` (what the loader reads). Looked up only in :func:`data_dirs`.
    """
    cols = ["name", "description", "present", "path", "expected", "url", "formats"]
    names = list(DATASETS) if loadable_only else None
    return pd.DataFrame(_available(names), columns=cols)
