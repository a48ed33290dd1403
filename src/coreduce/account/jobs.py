"""Reproducible accounting jobs: functions of file paths and options that return their outputs.

They are the ledger's entry points (``coreduce ledger reproduce RUN`` re-calls them with the recorded
parameters and compares output hashes), and the CLI's ``account`` command is a shell over
:func:`account_files`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from coreduce.account.factors import FactorLibrary
from coreduce.account.inventory import compute_inventory, summarise
from coreduce.ingest.files import read_raw


def load_library(factors: list[str] | None = None, only_user_factors: bool = False) -> FactorLibrary:
    """The bundled library with user factor files on top (or the user's files alone)."""
    lib = FactorLibrary.empty() if only_user_factors else FactorLibrary.default()
    for i, f in enumerate(factors or []):
        lib = FactorLibrary.from_csv(f, base=lib, factor_set=f"user{i}" if i else "user")
    return lib


def account_files(
    activity: str,
    factors: list[str] | None = None,
    only_user_factors: bool = False,
    gwp: str = "AR5",
    electricity: str = "location",
    detail: bool = False,
) -> dict[str, Any]:
    """Account one activity file.

    Parameters
    ----------
    activity : str
        Path of the activity file (CSV / Parquet / Excel).
    factors : list of str, optional
        User factor files, highest priority first.
    only_user_factors : bool
        Ignore the bundled emission factors.
    gwp, electricity : str
        See :func:`coreduce.account.compute_inventory`.
    detail : bool
        Output the per-activity detail instead of the summary.

    Returns
    -------
    dict
        ``inventory`` (the CLI output: ``entity, sector, period_start, pollutant, amount, unit`` or the
        detail), ``detail`` (full rows), ``activity`` (validated input) and ``explanation`` (totals by
        pollutant [t], factor sets used, factor-library version).
    """
    lib = load_library(factors, only_user_factors)
    raw = read_raw(activity)
    inv = compute_inventory(raw, lib, gwp=gwp, electricity=electricity, source=str(activity))
    from coreduce import schema

    act = schema.validate(raw, "activity", source=str(activity))
    out = inv if detail else summarise(inv)
    totals = inv.groupby("pollutant", sort=True)["amount"].sum()
    explanation = {
        "what": "activity x emission factor x (1 - removal efficiency), scope 2 by grid factor, sinks by area x rate",
        "totals_t": {k: round(float(v), 9) for k, v in totals.items()},
        "factor_sets_used": sorted(pd.unique(inv["factor_set"]).tolist()),
        "factor_version": lib.version,
        "rows": {"activity": len(act), "inventory": len(inv)},
    }
    return {"inventory": out, "detail": inv, "activity": act, "explanation": explanation}
