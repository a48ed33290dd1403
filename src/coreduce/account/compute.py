"""The public accounting call: :func:`compute_inventory` runs the activity × factor join in this process (NumPy,
:func:`coreduce.account.inventory.compute_inventory_in_process`) or in a database engine
(:func:`coreduce.account.expression.compute_in_engine`): the same resolution and the same row formula either way."""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from coreduce.account.expression import compute_in_engine
from coreduce.account.factors import FactorLibrary
from coreduce.account.inventory import DEFAULT_CHUNK_ROWS, compute_inventory_in_process


def compute_inventory(
    activity: pd.DataFrame | str | os.PathLike,
    factors: FactorLibrary | None = None,
    *,
    gwp: str | None = "AR5",
    electricity: str = "location",
    pollutants: list[str] | None = None,
    source: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    validated: bool = False,
    on: Any = None,
) -> pd.DataFrame:
    """Compute CO2, CH4, N2O, CO2e and co-pollutants for every activity row.

    Parameters
    ----------
    activity : pandas.DataFrame, path or ibis.Table
        Canonical ``activity`` rows (validated here): ``entity, sector, period_start, period_end,
        activity_type, amount, unit`` and optional ``region, control, source, energy_basis, sulfur_pct,
        ash_pct``; or the path of a CSV / Parquet file of them (read in chunks); or an Ibis table of canonical
        activity rows, e.g. ``store.table("activity")`` — then the activity × factor join runs in that table's
        engine (DuckDB, PostgreSQL, Spark: :mod:`coreduce.account.expression`) and only the distinct keys and
        the inventory rows come to Python.
    factors : FactorLibrary, optional
        Factor library (default: the bundled, cited library).
    gwp : {"AR4", "AR5", "AR6"} or None
        GWP-100 set for the CO2e rows (None: no CO2e rows).
    electricity : str
        Scope-2 electricity factor purpose: ``"location"`` (region → regional grid → national, MEE/NBS),
        ``"market"``, ``"fossil"``, ``"carbon_market"`` (the 0.5703 t/MWh reporting factor), or an explicit
        ``factor_id`` of the grid-factor table.  Purchased heat always uses purpose ``heat``.
    pollutants : list of str, optional
        Keep only these pollutants (CO2e is still computed from all three greenhouse gases).
    source : str, optional
        Name of the input, used in error messages (default: the path, or ``<DataFrame>``).
    chunk_rows : int
        Activity rows per chunk.
    validated : bool
        ``activity`` is a frame :func:`coreduce.schema.validate` returned for table ``activity`` (the whole file
        at once, so keys are unique): it is not validated again.
    on : coreduce.store.Store or ibis backend, optional
        Run the activity × factor join in this engine (a frame or file is validated here and shipped to it as
        an in-memory table): the same Ibis expression as for an Ibis ``activity``.  Default: in this process
        (numpy, chunked) for a frame or file; the table's own engine for an Ibis table.  The engine's session
        time zone must be UTC (stores pin it; for a bare ``ibis.duckdb.connect()`` run ``SET TimeZone = 'UTC'``).

    Returns
    -------
    pandas.DataFrame
        Canonical inventory columns plus ``factor_set, factor_value, factor_unit, removal_efficiency``,
        ``amount`` in t, sorted by entity, sector, period_start, activity_type, pollutant.
        ``attrs["gaps"]``: the factor gaps (:data:`GAP_COLUMNS`); ``attrs["factor_version"]``: the
        library version written in every row.

    Raises
    ------
    coreduce.errors.InputError
        Invalid activity (names the input row and column), e.g. an unknown region, electricity in a
        mass unit, or an amount whose emissions overflow.
    coreduce.errors.FactorError
        An activity type with no factor at all, CO2 factors that cannot be applied to the activity's unit,
        an unknown control, a land type without a sink rate for the region.

    References
    ----------
    .. [1] IPCC (2006) 2006 IPCC Guidelines, Vol. 2 Ch. 1–2 (Tier 1: E = fuel × EF; NCV/GCV, Sect. 1.4.1.1).
    .. [2] Amann et al. (2011) GAINS: E = A · EF · (1 − η).
    .. [3] GHG Protocol Scope 2 Guidance (2015): location- and market-based methods.
    """
    import ibis.expr.types as ir

    if isinstance(activity, ir.Table) or on is not None:
        return compute_in_engine(activity, factors, gwp=gwp, electricity=electricity, pollutants=pollutants,
                                 source=source, validated=validated, on=on)  # fmt: skip
    return compute_inventory_in_process(activity, factors, gwp=gwp, electricity=electricity, pollutants=pollutants,
                                        source=source, chunk_rows=chunk_rows, validated=validated)  # fmt: skip
