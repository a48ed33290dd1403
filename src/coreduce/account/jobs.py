"""The accounting pipeline: one library call that checks, reads, computes, stores and records.

:func:`account_files` is what the CLI's ``account`` command, the demo and (later) the API call: it checks
the input files (regular, readable files — before anything is hashed), reads and validates the activity,
loads the factor library once, computes the inventory, and upserts the activity and the inventory into
the workspace **in the same transaction** as the run's ledger record — so the ledger says ``ok`` only if the
inventory is stored; if anything fails, nothing is stored and the run is recorded as ``error``.

:func:`account_outputs` is the pure computation, the registered entrypoint that
``coreduce ledger reproduce RUN`` calls again with the recorded parameters (it stores nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from coreduce.account.compute import compute_inventory
from coreduce.account.factors import FactorLibrary
from coreduce.account.inventory import summarise
from coreduce.export import write_csv
from coreduce.ingest.files import read_table
from coreduce.ledger import entrypoint
from coreduce.ledger.hashing import check_readable
from coreduce.store import Store

WHAT = "activity x emission factor x (1 - removal efficiency), scope 2 by grid factor, sinks by area x rate"


def load_library(factors: list[str] | None = None, only_user_factors: bool = False) -> FactorLibrary:
    """The bundled library with user factor files on top (or the user's files alone)."""
    lib = FactorLibrary.empty() if only_user_factors else FactorLibrary.default()
    for i, f in enumerate(factors or []):
        lib = FactorLibrary.from_csv(f, base=lib, factor_set=f"user{i}" if i else "user")
    return lib


def _compute(
    activity: str, lib: FactorLibrary, gwp: str, electricity: str, detail: bool, on: Store | None = None
) -> dict[str, Any]:
    """Read, validate and account; ``on``: a store whose engine runs the activity × factor join (the same Ibis
    expression on every engine; None: in this process, the same per-key factor table expanded with numpy)."""
    act = read_table(activity, "activity")  # once, with the file's line numbers (a CSV never becomes Python text)
    inv = compute_inventory(act, lib, gwp=gwp, electricity=electricity, source=str(activity), validated=True, on=on)
    gaps = inv.attrs.get("gaps")
    totals = inv.groupby("pollutant", sort=True)["amount"].sum()
    explanation: dict[str, Any] = {
        "what": WHAT,
        "totals_t": {str(k): round(float(v), 9) for k, v in totals.items()},
        "factor_sets_used": sorted(str(x) for x in pd.unique(inv["factor_set"])),
        "factor_version": lib.version,
        "gwp": gwp,
        "electricity": electricity,
        "rows": {"activity": len(act), "inventory": len(inv)},
    }
    out: dict[str, Any] = {"inventory": inv if detail else summarise(inv), "detail": inv, "activity": act}
    if isinstance(gaps, pd.DataFrame):
        explanation["gaps"] = len(gaps)
        out["gaps"] = gaps
    out["explanation"] = explanation
    return out


@entrypoint(aliases=("coreduce.account.jobs:account_files",))
def account_outputs(
    activity: str,
    factors: list[str] | None = None,
    only_user_factors: bool = False,
    gwp: str = "AR5",
    electricity: str = "location",
    detail: bool = False,
) -> dict[str, Any]:
    """Account one activity file, storing nothing (the reproducible entrypoint of ``account`` runs).

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
        ``inventory`` is the per-activity detail instead of the summary.

    Returns
    -------
    dict
        ``inventory`` (the CLI output: ``entity, sector, period_start, pollutant, amount, unit`` or the
        detail), ``activity`` (validated input), ``gaps``
        (factor gaps, when the accounting reports them) and ``explanation`` (totals by pollutant [t],
        factor sets used, factor-library version).
    """
    for f in [activity, *(factors or [])]:
        check_readable(f)
    return _recorded(_compute(activity, load_library(factors, only_user_factors), gwp, electricity, detail))


def _recorded(o: dict[str, Any]) -> dict[str, Any]:
    """The outputs a run records (hashes): everything but ``detail``, which is not an output of its own —
    with ``detail=True`` it *is* ``inventory`` (hashed once), otherwise only its summary is the output (hashing
    the millions of detail rows cost more than the whole computation)."""
    return {k: v for k, v in o.items() if k != "detail"}


@dataclass
class AccountResult:
    """What :func:`account_files` did.

    Attributes
    ----------
    inventory : pandas.DataFrame
        The output table (summary ``entity, sector, period_start, pollutant, amount, unit`` [t], or the
        detail with ``detail=True``).
    detail : pandas.DataFrame
        Every inventory row (canonical columns + factor set, value, unit, removal efficiency).
    activity : pandas.DataFrame
        The validated activity.
    gaps : pandas.DataFrame or None
        Factor gaps (``activity_type, pollutant, sector, region, rows, reason``) when the accounting reports
        them (``inv.attrs["gaps"]``).
    explanation : dict
        Totals by pollutant [t], factor sets used, factor-library version, GWP set, electricity method.
    run_id, seq, record_hash : str, int, str or None
        The ledger record (None when not recorded).
    store : str or None
        The workspace (password masked), None with ``store=None``.
    ingest : dict
        Per stored table: ``rows``, ``inserted``, ``updated`` (from the upserts).
    out : str or None
        The CSV written, if any.
    """

    inventory: pd.DataFrame
    detail: pd.DataFrame
    activity: pd.DataFrame
    gaps: pd.DataFrame | None
    explanation: dict[str, Any]
    run_id: str | None = None
    seq: int | None = None
    record_hash: str | None = None
    store: str | None = None
    ingest: dict[str, dict[str, int]] = field(default_factory=dict)
    out: str | None = None

    @property
    def totals_t(self) -> dict[str, float]:
        """Totals by pollutant [t]."""
        return dict(self.explanation["totals_t"])

    @property
    def factor_version(self) -> str:
        """The factor-library version used (``FactorLibrary.version``)."""
        return str(self.explanation["factor_version"])

    def as_dict(self) -> dict[str, Any]:
        """JSON-able summary (no frames): what ``coreduce account --json`` prints."""
        return {
            "out": self.out, "rows": len(self.inventory), "totals_t": self.totals_t,
            "factor_version": self.factor_version, "gaps": None if self.gaps is None else len(self.gaps),
            "run_id": self.run_id, "seq": self.seq, "store": self.store, "ingest": self.ingest,
        }  # fmt: skip


def account_files(
    activity: str | Path,
    factors: list[str | Path] | None = None,
    *,
    only_user_factors: bool = False,
    gwp: str = "AR5",
    electricity: str = "location",
    detail: bool = False,
    store: Store | str | None = None,
    record: bool = True,
    out: str | Path | None = None,
) -> AccountResult:
    """Account an activity file into the workspace as one recorded unit.

    Parameters
    ----------
    activity : str or pathlib.Path
        Activity file (CSV / Parquet / Excel): ``entity, sector, period_start, period_end, activity_type,
        amount, unit [, region, control, source]``.
    factors : list of str or pathlib.Path, optional
        User factor files, highest priority first (over the bundled library).
    only_user_factors : bool
        Ignore the bundled emission factors.
    gwp : str
        GWP-100 set for CO2e: ``AR4``, ``AR5``, ``AR6``.
    electricity : str
        Scope-2 method or grid factor id (see :func:`coreduce.account.compute_inventory`).
    detail : bool
        ``inventory`` (and ``out``) is the per-activity detail instead of the summary.
    store : Store, str or None
        Workspace: the activity and the inventory are upserted there in the same transaction as the run's
        ledger record. ``None``: compute only (nothing stored, nothing recorded).
    record : bool
        Record the run on the workspace's ledger (default); ``False`` still stores in one transaction.
    out : str or pathlib.Path, optional
        Also write ``inventory`` to this CSV (atomically, after the store commit).

    Returns
    -------
    AccountResult

    Raises
    ------
    coreduce.errors.InputError
        A missing file, a directory, FIFO or device (refused before it is hashed or read), invalid rows.
    coreduce.errors.StoreError
        The outputs could not be stored (nothing stored; the run is recorded as ``error``).
    """
    paths = [check_readable(activity), *(check_readable(f) for f in factors or [])]
    act_path, factor_paths = str(paths[0].resolve()), [str(p.resolve()) for p in paths[1:]]
    params = {"activity": act_path, "factors": factor_paths, "only_user_factors": only_user_factors,
              "gwp": gwp, "electricity": electricity, "detail": detail}  # fmt: skip
    lib = load_library(factor_paths, only_user_factors)
    if store is None:
        res = _result(_compute(act_path, lib, gwp, electricity, detail))
    else:
        st = store if isinstance(store, Store) else Store(store)
        try:
            res = _account_stored(st, params, lib, record)
        finally:
            if st is not store:
                st.close()
    if out is not None:
        res.out = str(write_csv(res.inventory, out))  # atomic, formulas neutralised, floats without noise
    return res


def _result(o: dict[str, Any]) -> AccountResult:
    return AccountResult(o["inventory"], o["detail"], o["activity"], o.get("gaps"), o["explanation"])


def _account_stored(st: Store, params: dict[str, Any], lib: FactorLibrary, record: bool) -> AccountResult:
    from coreduce.ledger import Ledger

    act_path = params["activity"]
    on = st if st.accounting_in_engine else None  # e.g. Spark: the join runs where the data will live
    compute = (act_path, lib, params["gwp"], params["electricity"], params["detail"], on)
    if not record:
        res = _result(_compute(*compute))
        with st.transaction() as tx:
            for table, df in (("activity", res.activity), ("inventory", res.detail)):
                ins, upd = tx.upsert(table, df)
                res.ingest[table] = {"rows": len(df), "inserted": ins, "updated": upd}
        res.store = st.display_url
        return res
    led = Ledger(st)
    inputs = {"activity": act_path, **{f"factors_{i}": f for i, f in enumerate(params["factors"])}}
    with led.run("account", entrypoint="coreduce.account.jobs:account_outputs", params=params, inputs=inputs,
                 factor_version=lib.version) as run:  # fmt: skip
        o = _compute(*compute)
        run.outputs(_recorded(o), background=True)  # hashed while the rows are written (nothing changes them)
        run.explain(o["explanation"])
        run.write("activity", o["activity"], validate=False)  # validated by _compute
        # the engine's own output: finite masses were checked against the input's rows and
        # columns by compute_inventory (an overflowing amount or a non-positive unit fails there, before
        # anything is staged), so it is not re-validated row by row here
        run.write("inventory", o["detail"], validate=False)
    res = _result(o)
    res.run_id, res.seq, res.record_hash, res.store = run.run_id, run.seq, run.record_hash, led.display_url
    rows = {"activity": len(o["activity"]), "inventory": len(o["detail"])}
    res.ingest = {t: {"rows": rows[t], "inserted": i, "updated": u} for t, (i, u) in run.stored.items()}
    return res
