"""Accounting: activity × factor → CO2, CH4, N2O, CO2e and SO2, NOx, PM2.5, PM10, CO, VOCs; scope 2;
carbon sinks; aggregation by entity, sector, region and period.

Three layers (pvlib style): pure functions of arrays (:mod:`.combustion`, :mod:`.sinks`), the cited
:class:`~coreduce.account.factors.FactorLibrary`, and one chain :func:`compute_inventory`.
"""

from coreduce.account.aggregate import aggregate, aggregate_observations
from coreduce.account.combustion import (
    apply_controls,
    combined_efficiency,
    combustion_emissions,
    so2_mass_balance,
)
from coreduce.account.compute import compute_inventory
from coreduce.account.factors import FactorLibrary
from coreduce.account.inventory import GAP_COLUMNS, factor_gaps, summarise, write_inventory
from coreduce.account.sinks import sequestration, year_fraction

__all__ = [
    "GAP_COLUMNS",
    "FactorLibrary",
    "aggregate",
    "aggregate_observations",
    "apply_controls",
    "combined_efficiency",
    "combustion_emissions",
    "compute_inventory",
    "factor_gaps",
    "sequestration",
    "so2_mass_balance",
    "summarise",
    "write_inventory",
    "year_fraction",
]
