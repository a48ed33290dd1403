"""The run ledger: an append-only, hash-chained record of every run, in the store's ``ledger`` table.

Each record carries who ran what (entrypoint + canonical parameters), on which data (input hashes), with
which factor library, model version, seed and package versions, what came out (output hashes), why
(explanation), what it cost (energy and emissions, :mod:`coreduce.footprint`) and the reductions it claims
(rows of the ``claims`` table, covered by the record's hash), the CO2e claim net of that footprint.

A run is ``ok`` only if what it produced is stored: :meth:`Run.write` stages canonical frames that are
upserted in the **same transaction** as the ledger append. If that transaction fails, nothing is stored,
and the run is recorded as ``error`` by a separate append; a process killed before the commit leaves
neither rows nor a record.

``record_hash`` (:mod:`coreduce.ledger.records`) is the SHA-256 of the fields of the record's schema
version including ``prev_hash`` (the previous record's hash; 64 zeros for the first), so
:meth:`Ledger.verify` detects an altered, missing or reordered record and names the first one. An unkeyed
chain cannot stop someone who rewrites *every* later hash, nor a deleted tail: keep the ``head_hash`` that
``verify`` reports (``--expect-head``), and ``coreduce ledger verify`` remembers the last head it saw.

References
----------
.. [1] Courty, B., et al. *mlco2/codecarbon* (footprint measurement, via :mod:`coreduce.footprint`).
.. [2] ``coreduce/account/data/grid_factors.csv`` (grid factors used for the footprint emissions).
"""

from __future__ import annotations

import getpass
import hashlib
import math
import os
import random
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from importlib import metadata, resources
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd

from coreduce.errors import CoreduceError, StoreError
from coreduce.footprint import Footprint, FootprintMeter, net_benefit
from coreduce.ledger.decorator import _CURRENT, _REGISTRY, accepts, entrypoint_of, get_entrypoint
from coreduce.ledger.hashing import LedgerError, canonical_json, check_readable, describe, iso
from coreduce.ledger.records import (
    CLAIM_FIELDS,
    CLAIMS,
    CURRENT_VERSION,
    FIELD_TYPES,
    GENESIS,
    JSON_FIELDS,
    TABLE,
    add_column_sql,
    canon_claims,
    claims_hash,
    db_columns,
    decode_json,
    from_db,
    record_hash,
    table_columns,
    to_db,
)
from coreduce.store import Store

_PACKAGES = (
    "coreduce", "pandas", "numpy", "pyarrow", "duckdb", "ibis-framework", "sqlglot", "psycopg", "pint",
    "codecarbon", "scikit-learn", "statsmodels", "lightgbm", "statsforecast", "torch", "linopy", "highspy",
    "pyfixest", "linearmodels",
)  # fmt: skip
#: Claimable pollutants (the inventory's, :data:`coreduce.schema.POLLUTANTS`) and mass units of a claim.
CLAIM_UNITS = ("g", "kg", "t", "kt", "Mt")
#: The claim the footprint is netted from: the first of these the run claims.
NETTED = ("CO2e", "CO2")
_ERROR_CHARS = 2000


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# =========================================================================== provenance
@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    """Versions of Python and the installed scientific stack (packages not installed are left out)."""
    out = {"python": sys.version.split()[0]}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


@lru_cache(maxsize=1)
def factor_library_version() -> str:
    """Content version of the packaged factor library files: ``sha256:`` + 16 hex of their bytes.

    Only a fallback for runs that give no ``factor_version``: pipelines record
    ``FactorLibrary.version`` (the one version string, which also covers user factor files).
    """
    h = hashlib.sha256()
    data = resources.files("coreduce.account").joinpath("data")
    for f in sorted((x for x in data.iterdir() if x.name.endswith(".csv")), key=lambda x: x.name):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return "sha256:" + h.hexdigest()[:16]


def current_user() -> str:
    """``COREDUCE_USER`` if set, else the login name (``getpass.getuser()``), else ``"unknown"``."""
    env = os.environ.get("COREDUCE_USER")
    if env:
        return env
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def seed_everything(seed: int) -> None:
    """Seed Python's :mod:`random` and NumPy's legacy global generator (code should prefer
    ``numpy.random.default_rng(seed)`` with the seed passed in)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 -- seeding the legacy global generator is the point


def with_seed(fn: Callable[..., Any], params: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """``params`` plus ``seed`` when ``fn`` takes one and it is not given."""
    if seed is not None and "seed" not in params and accepts(fn, "seed"):
        return {**params, "seed": seed}
    return params


def error_text(exc: BaseException) -> str:
    """How a failed run's error is recorded: ``Type: first line of the message`` (at most 2000 characters)."""
    lines = str(exc).splitlines()
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"


# =========================================================================== the open run
def _collect(pending: Mapping[str, Future[dict[str, Any]]], into: dict[str, Any], *, quiet: bool) -> None:
    """Wait for each background hash and keep its description (``quiet``: drop one whose hashing failed)."""
    for name, fut in pending.items():
        try:
            into[name] = fut.result()
        except Exception:
            if not quiet:
                raise


class Run:
    """The open record of one run (yielded by :meth:`Ledger.run`).

    After the ``with`` block: ``seq``, ``record_hash``, ``status``, ``footprint``, ``net`` and ``stored``
    (table → ``(inserted, updated)``) are set.
    """

    def __init__(self, ledger: Ledger, kind: str, fields: dict[str, Any]) -> None:
        self.ledger = ledger
        self.kind = kind
        self.run_id: str = fields["run_id"]
        self.fields = fields
        self._inputs: dict[str, Any] = {}
        self._pending: dict[str, Future[dict[str, Any]]] = {}
        self._pending_outputs: dict[str, Future[dict[str, Any]]] = {}
        self._outputs: dict[str, Any] = {}
        self._explanation: Any = None
        self._claims: list[dict[str, Any]] = []
        self._training: tuple[float, int] | None = None
        self._writes: list[tuple[str, pd.DataFrame]] = []
        self.seq: int | None = None
        self.record_hash: str | None = None
        self.status: str | None = None
        self.footprint: Footprint | None = None
        self.net: Any = None
        self.stored: dict[str, tuple[int, int]] = {}

    def input(self, name: str, value: Any) -> str:
        """Record an input: a file/directory path (checked, then hashed), DataFrame, Ibis table or bytes."""
        d = describe(value, text_is_path=True)
        self._inputs[name] = d
        return d["sha256"]

    def _input_in_background(self, name: str, value: Any, pool: ThreadPoolExecutor) -> None:
        """Record a file input: checked now (a FIFO or a device is refused before it is opened), hashed on a
        thread while the run's block works (hashlib releases the GIL); other inputs are hashed now."""
        if isinstance(value, PurePath) or isinstance(value, str):
            check_readable(value, allow_dir=True)
            self._pending[name] = pool.submit(describe, value, text_is_path=True)
        else:
            self.input(name, value)

    def _resolve_inputs(self, *, quiet: bool = False) -> None:
        """Wait for the inputs hashed in the background (``quiet``: drop one whose hashing failed)."""
        pending, self._pending = self._pending, {}
        _collect(pending, self._inputs, quiet=quiet)

    def output(self, name: str, value: Any) -> str:
        """Record an output (hash only: DataFrame, bytes, text, Path or JSON value); returns its hash."""
        d = describe(value, text_is_path=False)
        self._outputs[name] = d
        return d["sha256"]

    def outputs(self, values: Mapping[str, Any], *, background: bool = False) -> None:
        """Record several outputs.  ``background=True``: hash them on a thread while the run goes on (the
        store's writes at the end of the run release the GIL); the hashes are waited for before the record is
        made, and the values must not be changed in the meantime."""
        if not background:
            for k, v in values.items():
                self.output(k, v)
            return
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="coreduce-hash")
        try:
            for k, v in values.items():
                self._pending_outputs[k] = pool.submit(describe, v, text_is_path=False)
        finally:
            pool.shutdown(wait=False)

    def _resolve_outputs(self, *, quiet: bool = False) -> None:
        """Wait for the outputs hashed in the background (``quiet``: drop one whose hashing failed)."""
        pending, self._pending_outputs = self._pending_outputs, {}
        _collect(pending, self._outputs, quiet=quiet)

    def write(self, table: str, df: pd.DataFrame, *, source: str | None = None, validate: bool = True) -> int:
        """Stage a canonical frame to upsert into ``table`` when the run ends, in the same transaction as
        the ledger record (nothing is written if the run fails).

        Parameters
        ----------
        table : str
            A canonical table of ``schema/tables.csv`` (not ``ledger``/``claims``).
        df : pandas.DataFrame
            Its rows (validated now with :func:`coreduce.schema.validate` unless ``validate=False``).
        source : str, optional
            Name used in validation errors (default ``"run <run_id> output <table>"``).

        Returns
        -------
        int
            Rows staged.
        """
        from coreduce import schema

        if table in (TABLE, CLAIMS):
            raise LedgerError(f"run.write: the {table!r} table is written by the ledger itself")
        if table not in schema.TABLES:
            raise LedgerError(f"run.write: unknown table {table!r}; canonical tables: {', '.join(schema.TABLES)}")
        clean = schema.validate(df, table, source=source or f"run {self.run_id} output {table}") if validate else df
        self._writes.append((table, clean))
        return len(clean)

    def explain(self, why: Any) -> None:
        """Attach the human-readable "why" (dict, list or text; dicts given twice are merged)."""
        if isinstance(why, Mapping) and isinstance(self._explanation, dict):
            self._explanation.update(why)
        else:
            self._explanation = dict(why) if isinstance(why, Mapping) else why

    def claim(
        self,
        pollutant: str | float,
        amount: float | None = None,
        unit: str = "t",
        *,
        basis: str | None = None,
        note: str | None = None,
        training_kg: float = 0.0,
        n_uses: int = 1,
    ) -> int:
        """Add a claimed reduction (a row of the ``claims`` table); never overwrites an earlier claim.

        Parameters
        ----------
        pollutant : str
            One of :data:`coreduce.schema.POLLUTANTS` (``CO2e``, ``CO2``, ``SO2``, ``NOx``, ``PM2.5`` …).
            (The old form ``claim(reduction_t)`` claims that many t of CO2.)
        amount : float
            Claimed reduction in ``unit`` (a cut is positive; an increase is claimed negative).
        unit : str
            Mass unit: ``g``, ``kg``, ``t``, ``kt``, ``Mt``.
        basis, note : str, optional
            What the reduction is measured against; free text.
        training_kg, n_uses : float, int
            If the run used a trained model: its training emissions [kg CO2] spread over ``n_uses`` uses;
            netted out of the CO2e claim with the run's own footprint (:func:`coreduce.footprint.net_benefit`).

        Returns
        -------
        int
            The claim's ``seq`` within the run (1, 2, …).
        """
        from coreduce import schema

        if not isinstance(pollutant, str):
            pollutant, amount = "CO2", float(pollutant)
        if pollutant not in schema.POLLUTANTS:
            raise LedgerError(f"claim: pollutant {pollutant!r} is not one of {', '.join(schema.POLLUTANTS)}")
        try:
            value = float(amount)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise LedgerError(f"claim {pollutant}: amount {amount!r} is not a number") from None
        if not math.isfinite(value):
            raise LedgerError(f"claim {pollutant}: amount {amount!r} is not finite")
        if unit not in CLAIM_UNITS:
            raise LedgerError(f"claim {pollutant}: unit {unit!r} is not one of {', '.join(CLAIM_UNITS)}")
        if n_uses < 1:
            raise LedgerError(f"claim: n_uses must be >= 1, got {n_uses}")
        if training_kg:
            t = (float(training_kg), int(n_uses))
            if self._training is not None and self._training != t:
                raise LedgerError(f"claim: training already given as {self._training}, now {t}")
            self._training = t
        seq = len(self._claims) + 1
        self._claims.append({"seq": seq, "pollutant": pollutant, "amount": value, "unit": unit,
                             "basis": basis, "note": note})  # fmt: skip
        return seq

    @property
    def claims(self) -> list[dict[str, Any]]:
        """The claims added so far, in order."""
        return [dict(c) for c in self._claims]


def netted_claim(claims: list[Mapping[str, Any]]) -> tuple[str | None, float | None]:
    """The pollutant the compute footprint is netted from (``CO2e``, else ``CO2``) and its total claim [t]."""
    from coreduce.units import conversion_factor

    for p in NETTED:
        rows = [c for c in claims if c["pollutant"] == p]
        if rows:
            return p, sum(float(c["amount"]) * conversion_factor(str(c["unit"]), "t") for c in rows)
    return None, None


# =========================================================================== result types
class Ledger:
    """The run ledger of a store.

    Parameters
    ----------
    store : Store or str
        A :class:`coreduce.store.Store` or its URL.
    province, factor_id : str or None
        Grid factor for the footprint (:func:`coreduce.footprint.grid_factor`); default
        ``COREDUCE_PROVINCE`` or the national factor.
    footprint : str or None
        ``"codecarbon"``, ``"fallback"`` or ``"off"``; default ``COREDUCE_FOOTPRINT`` (codecarbon).
    create : bool
        Create (or migrate: add the columns later versions declare) the ``ledger`` and ``claims`` tables
        now (default True); with False they are created at the first append.

    Examples
    --------
    >>> led = Ledger(Store("ws.duckdb"))  # doctest: +SKIP
    >>> with led.run("optimise", params={"episode": "2024-01"}) as run:  # doctest: +SKIP
    ...     run.write("inventory", inv)
    ...     run.claim("SO2", 12.5, basis="counterfactual: no curtailment")
    ...     run.claim("CO2e", 840.0)
    >>> led.verify().ok  # doctest: +SKIP
    True
    """

    def __init__(
        self,
        store: Store | str,
        *,
        province: str | None = None,
        factor_id: str | None = None,
        footprint: str | None = None,
        create: bool = True,
    ) -> None:
        self.store = store if isinstance(store, Store) else Store(store, create=False)
        self.province = province
        self.factor_id = factor_id
        self.footprint_mode = footprint
        self._ready = False
        if create:
            self.ensure_tables()

    def __repr__(self) -> str:
        return f"Ledger({self.display_url!r})"

    @property
    def display_url(self) -> str:
        """The store URL with any password masked."""
        return self.store.display_url

    # ------------------------------------------------------------------ tables
    def _columns(self, table: str = TABLE) -> list[str]:
        rows = self.store.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "AND table_schema = current_schema() ORDER BY ordinal_position",
            [table],
        )
        return [str(r[0]) for r in rows]

    def ensure_tables(self) -> None:
        """Create the ``ledger`` and ``claims`` tables (declared in ``tables.csv``) and add the columns a ledger
        written by an older coreduce lacks (``ALTER TABLE … ADD COLUMN``); idempotent and race-free."""
        self.store.create_tables([TABLE, CLAIMS])
        with self.store.transaction() as tx:
            tx.lock(TABLE)  # one migrator at a time (concurrent CREATE INDEX IF NOT EXISTS can collide)
            have = {str(r[0]) for r in tx.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "AND table_schema = current_schema()", [TABLE])}  # fmt: skip
            for c, _, _, _ in table_columns(TABLE):
                if c not in have:
                    tx.execute(add_column_sql(TABLE, c))
            tx.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS ledger_run_id ON {TABLE} (run_id)")
        self._ready = True

    def exists(self) -> bool:
        """Whether the store has a ``ledger`` table."""
        return bool(self._columns())

    # ------------------------------------------------------------------ writing
    @contextmanager
    def run(
        self,
        kind: str,
        *,
        entrypoint: str | None = None,
        params: Mapping[str, Any] | None = None,
        inputs: Mapping[str, Any] | None = None,
        seed: int | None = None,
        model_version: str | None = None,
        factor_version: str | None = None,
    ) -> Iterator[Run]:
        """Record the ``with`` block as one run; on exit its staged writes and its record are committed in one
        transaction (``ok``), or, if the block or that transaction fails, an ``error`` record is appended.

        Parameters
        ----------
        kind : str
            ``account``, ``forecast``, ``optimise``, ``benefits``, ``evaluate``, ``ingest``, ``demo``...
        entrypoint : str or None
            Registered entrypoint ``"module:function"`` that :meth:`reproduce` can call with ``params``.
        params : mapping or None
            JSON-able parameters (stored as canonical JSON).
        inputs : mapping or None
            Name → file path (checked to be a regular file or directory, then hashed), DataFrame, Ibis
            table or bytes.
        seed : int or None
            Seeds :mod:`random` and NumPy's global generator at the start of the block; recorded.
        model_version, factor_version : str or None
            Recorded as given; ``factor_version`` defaults to :func:`factor_library_version`.

        Yields
        ------
        Run
            Add outputs, writes, explanation and claims to it.

        Raises
        ------
        Exception
            Whatever the block raised, after recording the run with status ``error``; a
            :class:`~coreduce.errors.StoreError` if the outputs could not be stored for another reason than a
            :class:`~coreduce.errors.CoreduceError` (raised as it is); either way the run is then recorded as
            ``error`` and nothing is stored.
        """
        fields: dict[str, Any] = {
            "run_id": uuid.uuid4().hex,
            "user": current_user(),
            "kind": kind,
            "entrypoint": entrypoint,
            "params": canonical_json(dict(params or {})),
            "factor_version": factor_version or factor_library_version(),
            "model_version": model_version,
            "seed": seed,
            "packages": canonical_json(package_versions()),
        }
        r = Run(self, kind, fields)
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="coreduce-hash") if inputs else None
        try:
            for name, value in (inputs or {}).items():
                r._input_in_background(name, value, pool)  # type: ignore[arg-type]
            if not self._ready:
                self.ensure_tables()
        except BaseException:
            r._resolve_inputs(quiet=True)
            raise
        finally:
            if pool is not None:
                pool.shutdown(wait=False)
        meter = FootprintMeter(self.province, factor_id=self.factor_id, mode=self.footprint_mode)
        token = _CURRENT.set(r)
        fields["started_at"] = datetime.now(UTC)
        meter.start()
        if seed is not None:
            seed_everything(seed)
        try:
            yield r
            r._resolve_inputs()  # the file inputs hashed while the block ran
        except BaseException as exc:
            _CURRENT.reset(token)
            r._resolve_inputs(quiet=True)
            r.footprint = meter.stop()
            self._record_error(r, exc)
            raise
        _CURRENT.reset(token)
        r.footprint = meter.stop()
        try:
            self._append(r, "ok", None, writes=r._writes)
        except BaseException as exc:  # the transaction rolled back: nothing stored, no ok record
            self._record_error(r, exc)
            if isinstance(exc, Exception) and not isinstance(exc, CoreduceError):  # user errors pass as they are
                where = f" (recorded as error, seq {r.seq})" if r.seq is not None else ""
                raise StoreError(
                    f"run {r.run_id}: its outputs could not be stored, so nothing was stored{where}: {error_text(exc)}"
                ) from exc
            raise

    def _record_error(self, r: Run, exc: BaseException) -> None:
        try:
            self._append(r, "error", error_text(exc), writes=[])
        except Exception as wexc:  # never mask the run's own exception
            exc.add_note(f"coreduce ledger: the failed run could not be recorded: {wexc}")

    def call(
        self,
        fn: Callable[..., Mapping[str, Any]] | str,
        params: Mapping[str, Any] | None = None,
        *,
        kind: str,
        inputs: Mapping[str, Any] | None = None,
        seed: int | None = None,
        model_version: str | None = None,
        factor_version: str | None = None,
    ) -> Mapping[str, Any]:
        """Call an entrypoint ``fn(**params)`` as one recorded run and return its outputs.

        ``fn`` is a function or the name of a registered entrypoint; it must return a mapping name → output.
        Outputs the entrypoint declares in ``writes`` are stored with the record, in one transaction. If
        ``seed`` is given and ``fn`` takes a ``seed`` argument not in ``params``, it is passed.
        """
        if isinstance(fn, str):
            ep = get_entrypoint(fn)
            entry, func, writes = fn, ep.fn, ep.writes
        else:
            entry, func = entrypoint_of(fn), getattr(fn, "_coreduce_unrecorded", fn)
            ep = _REGISTRY.get(entry)  # a function given directly: its own registration, no imports
            writes = ep.writes if ep is not None and ep.fn is func else {}
        kwargs = dict(params or {})
        with self.run(kind, entrypoint=entry, params=kwargs, inputs=inputs, seed=seed,
                      model_version=model_version, factor_version=factor_version) as r:  # fmt: skip
            out = func(**with_seed(func, kwargs, seed))
            if not isinstance(out, Mapping):
                raise LedgerError(f"entrypoint {entry}: returned {type(out).__name__}, expected a dict of outputs")
            r.outputs(out)
            for name, table in writes.items():
                r.write(table, out[name])
        return out

    def _record(self, r: Run, status: str, error: str | None, finished_at: datetime | None = None) -> dict[str, Any]:
        rec = dict(r.fields)
        rec["schema_version"] = CURRENT_VERSION
        rec["finished_at"] = finished_at or datetime.now(UTC)
        rec["inputs"] = canonical_json(r._inputs)
        rec["outputs"] = canonical_json(r._outputs)
        rec["explanation"] = None if r._explanation is None else canonical_json(r._explanation)
        rec["status"], rec["error"] = status, error
        fp = r.footprint
        rec["duration_s"] = (rec["finished_at"] - rec["started_at"]).total_seconds()
        if fp is not None:
            rec.update(
                energy_kwh=fp.energy_kwh, cpu_kwh=fp.cpu_kwh, gpu_kwh=fp.gpu_kwh, ram_kwh=fp.ram_kwh,
                emissions_kg=fp.emissions_kg, grid_factor_id=fp.grid_factor_id,
                grid_factor_value=fp.grid_factor_value_kg_per_kwh, footprint_method=fp.method,
            )  # fmt: skip
        else:
            rec["footprint_method"] = "off"
        claims = r._claims if status == "ok" else []  # a failed run claims nothing
        rec["claims_sha256"] = claims_hash(claims)
        pollutant, claimed_t = netted_claim(claims)
        training_kg, uses = r._training or (0.0, 1)
        if r._training is not None:
            rec.update(training_kg=training_kg, training_uses=uses)
        if pollutant is not None and claimed_t is not None:
            r.net = net_benefit(claimed_t, fp.emissions_kg if fp else 0.0, training_kg, uses)
            rec.update(claimed_reduction_t=claimed_t, net_reduction_t=r.net.net_t)
        rec["_claims"] = canon_claims(claims)
        return rec

    def _append(self, r: Run, status: str, error: str | None, *, writes: list[tuple[str, pd.DataFrame]]) -> None:
        finished = datetime.now(UTC)
        if r._pending_outputs:  # outputs still being hashed: write the rows first, make the record after
            return self._append_while_hashing(r, status, error, writes=writes, finished=finished)
        rec = self._record(r, status, error, finished)
        claims = rec.pop("_claims")
        names = db_columns()
        cols = ", ".join(_q(c) for c in names)
        marks = ", ".join("?" for _ in names)
        ccols = ", ".join(_q(c) for c in ("run_id", *CLAIM_FIELDS))
        cmarks = ", ".join("?" for _ in ("run_id", *CLAIM_FIELDS))
        stored: dict[str, tuple[int, int]] = {}
        with self.store.transaction() as tx:
            for table, df in _in_write_order(writes):
                ins, upd = tx.upsert(table, df)
                a, b = stored.get(table, (0, 0))
                stored[table] = (a + ins, b + upd)
            # one appender at a time: seq and prev_hash are read and written under this lock
            tx.lock(TABLE)
            last = tx.execute(f"SELECT seq, record_hash FROM {TABLE} ORDER BY seq DESC LIMIT 1")
            rec["seq"] = int(last[0][0]) + 1 if last else 1
            rec["prev_hash"] = str(last[0][1]) if last else GENESIS
            rec["record_hash"] = record_hash(rec)
            for c in claims:
                tx.execute(f"INSERT INTO {CLAIMS} ({ccols}) VALUES ({cmarks})",
                           [r.run_id, *(c[k] for k in CLAIM_FIELDS)])  # fmt: skip
            tx.execute(f"INSERT INTO {TABLE} ({cols}) VALUES ({marks})", [to_db(c, rec.get(c)) for c in names])
        r.seq, r.record_hash, r.status, r.stored = rec["seq"], rec["record_hash"], status, stored

    def _append_while_hashing(
        self, r: Run, status: str, error: str | None, *, writes: list[tuple[str, pd.DataFrame]], finished: datetime
    ) -> None:
        """:meth:`_append` for a run whose outputs are hashed on a thread: the staged rows are upserted first (in
        the same transaction, while the hashes are computed), then the record is made and appended."""
        names = db_columns()
        cols = ", ".join(_q(c) for c in names)
        marks = ", ".join("?" for _ in names)
        ccols = ", ".join(_q(c) for c in ("run_id", *CLAIM_FIELDS))
        cmarks = ", ".join("?" for _ in ("run_id", *CLAIM_FIELDS))
        stored: dict[str, tuple[int, int]] = {}
        try:
            with self.store.transaction() as tx:
                for table, df in _in_write_order(writes):
                    ins, upd = tx.upsert(table, df)
                    a, b = stored.get(table, (0, 0))
                    stored[table] = (a + ins, b + upd)
                r._resolve_outputs()
                rec = self._record(r, status, error, finished)
                claims = rec.pop("_claims")
                tx.lock(TABLE)
                last = tx.execute(f"SELECT seq, record_hash FROM {TABLE} ORDER BY seq DESC LIMIT 1")
                rec["seq"] = int(last[0][0]) + 1 if last else 1
                rec["prev_hash"] = str(last[0][1]) if last else GENESIS
                rec["record_hash"] = record_hash(rec)
                for c in claims:
                    tx.execute(f"INSERT INTO {CLAIMS} ({ccols}) VALUES ({cmarks})",
                               [r.run_id, *(c[k] for k in CLAIM_FIELDS)])  # fmt: skip
                tx.execute(f"INSERT INTO {TABLE} ({cols}) VALUES ({marks})", [to_db(c, rec.get(c)) for c in names])
        finally:
            r._resolve_outputs(quiet=True)  # never leave a hashing thread behind (an error record follows)
        r.seq, r.record_hash, r.status, r.stored = rec["seq"], rec["record_hash"], status, stored

    # ------------------------------------------------------------------ reading
    def _select(self, where: str = "", params: list[Any] | None = None, columns: list[str] | None = None,
                suffix: str = "ORDER BY seq") -> list[dict[str, Any]]:  # fmt: skip
        have = self._columns()
        if not have:
            return []
        want = [c for c in (columns or list(FIELD_TYPES)) if c in have]
        sql = f"SELECT {', '.join(_q(c) for c in want)} FROM {TABLE} {where} {suffix}"
        return [from_db(want, row) for row in self.store.execute(sql, params)]

    def records(self) -> list[dict[str, Any]]:
        """All records, ordered by ``seq``, as stored (JSON fields as text; fields the table lacks as None)."""
        return self._select()

    def claims(self, run_id: str | None = None) -> pd.DataFrame:
        """Claims rows (``run_id, seq, pollutant, amount, unit, basis, note``) of one run or all, in order."""
        cols = ["run_id", *CLAIM_FIELDS]
        if CLAIMS not in self._tables():
            return pd.DataFrame(columns=cols)
        where, params = ("WHERE run_id = ?", [run_id]) if run_id is not None else ("", None)
        rows = self.store.execute(
            f"SELECT {', '.join(_q(c) for c in cols)} FROM {CLAIMS} {where} ORDER BY run_id, seq", params
        )
        return pd.DataFrame(rows, columns=cols)

    def _tables(self) -> set[str]:
        rows = self.store.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        return {str(r[0]) for r in rows}

    def list(self) -> pd.DataFrame:
        """One row per run: seq, run_id, kind, user, started_at, duration_s, status, entrypoint, energy,
        emissions, claimed (CO2e) and net reduction."""
        keep = ["seq", "run_id", "kind", "user", "started_at", "duration_s", "status", "entrypoint",
                "energy_kwh", "emissions_kg", "footprint_method", "claimed_reduction_t", "net_reduction_t"]  # fmt: skip
        df = pd.DataFrame(self._select(columns=keep), columns=keep)
        return df.reset_index(drop=True)

    def count(self) -> int:
        """Number of records (0 without a ledger table)."""
        if not self.exists():
            return 0
        return int(self.store.execute(f"SELECT count(*) FROM {TABLE}")[0][0])

    def get(self, ref: str | int) -> dict[str, Any]:
        """The stored record of a run: ``run_id``, a unique ``run_id`` prefix (≥ 4 chars) or a ``seq``.

        One keyed query (``run_id``, then ``seq``, then prefix), never a scan of the whole ledger.
        """
        s = str(ref).strip().lstrip("#")
        hits = self._select("WHERE run_id = ?", [s], suffix="")
        if not hits and s.isdigit() and len(s) < 12:
            hits = self._select("WHERE seq = ?", [int(s)], suffix="")
        if not hits and len(s) >= 4:
            hits = self._select("WHERE substr(run_id, 1, ?) = ?", [len(s), s], suffix="ORDER BY seq LIMIT 2")
        if not hits:
            raise LedgerError(f"ledger of {self.display_url}: no run {str(ref)!r} (runs: {self.count()})")
        if len(hits) > 1:
            raise LedgerError(f"ledger: run prefix {str(ref)!r} is ambiguous (2 or more runs)")
        return hits[0]

    def show(self, ref: str | int) -> dict[str, Any]:
        """A run's full record with JSON fields decoded, timestamps as UTC ISO strings and its ``claims``
        (each with ``amount_t``; the netted one with ``net_t``, net of the compute footprint)."""
        rec = dict(self.get(ref))
        for c in JSON_FIELDS:
            rec[c] = decode_json(rec, c)
        for c in ("started_at", "finished_at"):
            rec[c] = iso(rec[c]) if rec[c] is not None else None
        claims = self.claims(rec["run_id"]).drop(columns="run_id").to_dict("records")
        pollutant, _ = netted_claim(claims)
        from coreduce.units import conversion_factor

        for c in claims:
            c["amount_t"] = float(c["amount"]) * conversion_factor(str(c["unit"]), "t")
        if pollutant is not None:
            for c in claims:
                if c["pollutant"] == pollutant:
                    c["net_of_footprint"] = True
        rec["claims"] = claims
        return rec

    # ------------------------------------------------------------------ audit
    def verify(self, *, expect_head: str | None = None, expect_count: int | None = None, remember: bool = False) -> Any:
        """Recompute the chain and the claims; see :func:`coreduce.ledger.audit.verify`."""
        from coreduce.ledger.audit import verify

        return verify(self, expect_head=expect_head, expect_count=expect_count, remember=remember)

    def reproduce(self, ref: str | int) -> Any:
        """Re-run a recorded registered entrypoint and compare outputs; see :func:`coreduce.ledger.audit.reproduce`."""
        from coreduce.ledger.audit import reproduce

        return reproduce(self, ref)


def _in_write_order(writes: list[tuple[str, pd.DataFrame]]) -> list[tuple[str, pd.DataFrame]]:
    """Staged writes, referenced tables first (:func:`coreduce.schema.write_order`), stable otherwise."""
    from coreduce import schema

    rank = {t: i for i, t in enumerate(schema.write_order())}
    return sorted(writes, key=lambda w: rank.get(w[0], len(rank)))


# =========================================================================== summaries
def footprint_summary(store_or_ledger: Store | Ledger | str, run_ids: list[str] | None = None) -> pd.DataFrame:
    """The "AI's own footprint" table: energy, emissions and net-of-footprint claims per run.

    Parameters
    ----------
    store_or_ledger : Store, Ledger or str
        Where the ledger lives.
    run_ids : list of str or None
        Runs to include (default all).

    Returns
    -------
    pandas.DataFrame
        Columns ``seq, run_id, kind, status, started_at, duration_s [s], energy_kwh [kWh],
        emissions_kg [kg CO2], grid_factor_id, footprint_method, claimed_t [t CO2e] (the CO2e claims, else
        the CO2 ones), compute_t [t CO2] (this run + amortised training), net_t [t CO2e], negative`` (True
        where the claim is eaten by the footprint; NA without a claim) and ``claims`` (every claim of the
        run, e.g. ``"CO2e 840 t; SO2 12.5 t"``).

    References
    ----------
    .. [1] :func:`coreduce.footprint.net_benefit` (amortisation rule).
    """
    led = store_or_ledger if isinstance(store_or_ledger, Ledger) else Ledger(store_or_ledger, create=False)
    recs = led.records()
    if run_ids is not None:
        want = set(run_ids)
        recs = [r for r in recs if r["run_id"] in want]
    claims = led.claims()
    by_run = {k: g for k, g in claims.groupby("run_id", sort=False)} if len(claims) else {}
    rows = []
    for r in recs:
        em = r["emissions_kg"]
        claimed = r["claimed_reduction_t"]
        if claimed is not None:
            nb = net_benefit(claimed, em or 0.0, r["training_kg"] or 0.0, int(r["training_uses"] or 1))
            compute_t, net_t, neg = nb.compute_t, nb.net_t, nb.negative
        else:
            compute_t = None if em is None else net_benefit(0.0, em).compute_t
            net_t, neg = None, pd.NA
        g = by_run.get(r["run_id"])
        text = "" if g is None else "; ".join(f"{c.pollutant} {c.amount:g} {c.unit}" for c in g.itertuples())
        rows.append({
            "seq": r["seq"], "run_id": r["run_id"], "kind": r["kind"], "status": r["status"],
            "started_at": r["started_at"], "duration_s": r["duration_s"], "energy_kwh": r["energy_kwh"],
            "emissions_kg": em, "grid_factor_id": r["grid_factor_id"], "footprint_method": r["footprint_method"],
            "claimed_t": claimed, "compute_t": compute_t, "net_t": net_t, "negative": neg, "claims": text,
        })  # fmt: skip
    cols = ["seq", "run_id", "kind", "status", "started_at", "duration_s", "energy_kwh", "emissions_kg",
            "grid_factor_id", "footprint_method", "claimed_t", "compute_t", "net_t", "negative", "claims"]  # fmt: skip
    df = pd.DataFrame(rows, columns=cols)
    df["negative"] = df["negative"].astype("boolean")
    return df


def claims_summary(store_or_ledger: Store | Ledger | str, run_ids: list[str] | None = None) -> pd.DataFrame:
    """Every claim, one row per (run, claim): ``seq, run_id, kind, status, claim_seq, pollutant, amount,
    unit, amount_t [t], basis, note, net_of_footprint`` (True on the claims the footprint is netted from).

    A failed run claims nothing (its claims are not recorded)."""
    from coreduce.units import conversion_factor

    led = store_or_ledger if isinstance(store_or_ledger, Ledger) else Ledger(store_or_ledger, create=False)
    recs = {r["run_id"]: r for r in led._select(columns=["seq", "run_id", "kind", "status"])}
    claims = led.claims()
    if run_ids is not None:
        claims = claims[claims["run_id"].isin(set(run_ids))]
    rows = []
    for rid, g in claims.groupby("run_id", sort=False):
        netted, _ = netted_claim(g.to_dict("records"))
        r = recs.get(rid, {})
        for c in g.itertuples():
            rows.append({
                "seq": r.get("seq"), "run_id": rid, "kind": r.get("kind"), "status": r.get("status"),
                "claim_seq": int(c.seq), "pollutant": c.pollutant, "amount": float(c.amount), "unit": c.unit,
                "amount_t": float(c.amount) * conversion_factor(str(c.unit), "t"), "basis": c.basis,
                "note": c.note, "net_of_footprint": c.pollutant == netted,
            })  # fmt: skip
    cols = ["seq", "run_id", "kind", "status", "claim_seq", "pollutant", "amount", "unit", "amount_t", "basis",
            "note", "net_of_footprint"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols).sort_values(["seq", "claim_seq"], kind="stable").reset_index(drop=True)


__all__ = [
    "CoreduceError", "Ledger", "Run", "claims_summary", "current_user", "factor_library_version",
    "footprint_summary", "netted_claim", "package_versions", "seed_everything", "with_seed",
]  # fmt: skip
