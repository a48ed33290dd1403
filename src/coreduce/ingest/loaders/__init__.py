"""Loaders for the real public data sets in ``shared/data`` (each folder documented by its PROVENANCE.md).

Every ``read_*`` function takes ``path=None`` (default: the shared copy, found by
:func:`~coreduce.ingest.loaders._paths.shared_data_dir`) and returns canonical frames that passed
:func:`coreduce.schema.validate`, except :func:`read_city_panel` and :func:`read_ceads_province_totals`
(tidy, non-canonical frames).
"""

from coreduce.ingest.loaders._paths import shared_data_dir
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
