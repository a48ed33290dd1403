"""The run ledger: an append-only, hash-chained record of every run, in the store's ``ledger`` table.

Each record carries who ran what (entrypoint + canonical parameters), on which data (input hashes), with
which factor library, model version, seed and package versions, what came out (output hashes), why
(explanation), what it cost (energy and emissions, :mod:`coreduce.footprint`) and, for decisions, the
claimed and net-of-footprint reduction. ``record_hash`` is the SHA-256 of the canonical JSON of all other
fields including ``prev_hash`` (the previous record's ``record_hash``; 64 zeros for the first), so
:meth:`Ledger.verify` detects an altered, missing (gap in ``seq``) or reordered record and names the first
one. An unkeyed chain cannot stop someone who rewrites *every* later hash, nor a truncated tail: keep the
``head_hash`` that ``verify`` reports (e.g. in a published report) to anchor the chain externally.

Entrypoint convention
---------------------
A reproducible run is a function ``f(**params) -> Mapping[str, DataFrame | bytes | str | ...]`` (its
outputs) importable as ``"package.module:function"``, whose parameters are JSON values (paths as strings).
:meth:`Ledger.call` (or the :func:`recorded` decorator) records such a call; :meth:`Ledger.reproduce`
imports it, calls it again with the recorded parameters and seed, and compares the output hashes.
Inside a run, library code can add the "why" with :func:`explain` and a claimed reduction with
:func:`claim` without knowing about the ledger (both are no-ops outside a run).

References
----------
.. [1] Courty, B., et al. *mlco2/codecarbon* (footprint measurement, via :mod:`coreduce.footprint`).
.. [2] ``coreduce/account/data/grid_factors.csv`` (grid factors used for the footprint emissions).
"""

from __future__ import annotations

import contextvars
import functools
import getpass
import hashlib
import importlib
import inspect
import json
import math
import os
import random
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coreduce.errors import CoreduceError
from coreduce.footprint import Footprint, FootprintMeter, net_benefit
from coreduce.store import Store

GENESIS = "0" * 64
TABLE = "ledger"

# (column, SQL type); the order is the order of the DDL and of every SELECT.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("seq", "BIGINT"),
    ("run_id", "TEXT"),
    ("user", "TEXT"),
    ("started_at", "TIMESTAMPTZ"),
    ("finished_at", "TIMESTAMPTZ"),
    ("kind", "TEXT"),
    ("entrypoint", "TEXT"),
    ("params", "TEXT"),
    ("inputs", "TEXT"),
    ("factor_version", "TEXT"),
    ("model_version", "TEXT"),
    ("seed", "BIGINT"),
    ("packages", "TEXT"),
    ("outputs", "TEXT"),
    ("explanation", "TEXT"),
    ("status", "TEXT"),
    ("error", "TEXT"),
    ("duration_s", "DOUBLE PRECISION"),
    ("energy_kwh", "DOUBLE PRECISION"),
    ("cpu_kwh", "DOUBLE PRECISION"),
    ("gpu_kwh", "DOUBLE PRECISION"),
    ("ram_kwh", "DOUBLE PRECISION"),
    ("emissions_kg", "DOUBLE PRECISION"),
    ("grid_factor_id", "TEXT"),
    ("grid_factor_value", "DOUBLE PRECISION"),
    ("footprint_method", "TEXT"),
    ("claimed_reduction_t", "DOUBLE PRECISION"),
    ("training_kg", "DOUBLE PRECISION"),
    ("training_uses", "BIGINT"),
    ("net_reduction_t", "DOUBLE PRECISION"),
    ("prev_hash", "TEXT"),
    ("record_hash", "TEXT"),
)
_NAMES = tuple(c for c, _ in COLUMNS)
_TYPES = dict(COLUMNS)
_JSON_COLUMNS = ("params", "inputs", "packages", "outputs", "explanation")
_PACKAGES = (
    "coreduce", "pandas", "numpy", "pyarrow", "duckdb", "ibis-framework", "sqlglot", "psycopg", "pint",
    "codecarbon", "scikit-learn", "statsmodels", "lightgbm", "statsforecast", "torch", "linopy", "highspy",
    "pyfixest", "linearmodels",
)  # fmt: skip
_NULL = "\\N"


class LedgerError(CoreduceError):
    """A ledger problem the user can fix (unknown run, run without entrypoint, bad outputs...)."""


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ddl() -> str:
    """``CREATE TABLE IF NOT EXISTS ledger``, portable between DuckDB and PostgreSQL."""
    cols = [f"{_q(c)} {t}" for c, t in COLUMNS]
    cols += ["PRIMARY KEY (seq)", "UNIQUE (run_id)"]
    return f"CREATE TABLE IF NOT EXISTS {TABLE} (\n  " + ",\n  ".join(cols) + "\n)"


# =========================================================================== hashing
def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes; of a directory, of its files' relative paths and hashes (sorted)."""
    p = Path(path)
    if p.is_dir():
        lines = [f"{f.relative_to(p).as_posix()}\t{sha256_file(f)}" for f in sorted(p.rglob("*")) if f.is_file()]
        return sha256_bytes("\n".join(lines).encode())
    h = hashlib.sha256()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, (datetime, pd.Timestamp)):
        return _iso(o)
    if isinstance(o, date):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, Decimal):
        return float(o)
    if isinstance(o, (set, frozenset)):
        return sorted(o, key=str)
    if isinstance(o, pd.DataFrame):
        return json.loads(o.to_json(orient="records", date_format="iso"))
    if isinstance(o, pd.Series):
        return json.loads(o.to_json(date_format="iso"))
    if isinstance(o, np.ndarray):
        return o.tolist()
    if hasattr(o, "as_dict"):
        return o.as_dict()
    raise TypeError(f"{type(o).__name__} is not JSON-serialisable")


def canonical_json(obj: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 text, NaN as null; numpy/pandas/Path values converted."""
    return json.dumps(_nan_to_none(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_json_default, allow_nan=False)  # fmt: skip


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {str(k): _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj


def _iso(ts: Any) -> str:
    """UTC ISO 8601 with microseconds and ``Z``; naive values are taken as UTC."""
    t = pd.Timestamp(ts)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace("\x1f", "\\x1f").replace("\n", "\\n").replace("\r", "\\r")


def _num(v: float) -> str:
    if not math.isfinite(v):
        return _NULL if math.isnan(v) else repr(v)
    if v == int(v) and abs(v) < 2**53:
        return str(int(v))  # 1.0 and 1 hash alike (an int column read back as float keeps its hash)
    return repr(v)


def _scalar(v: Any) -> str:
    if v is None or v is pd.NaT or v is pd.NA:
        return _NULL
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating, Decimal)):
        return _num(float(v))
    if isinstance(v, (datetime, pd.Timestamp, np.datetime64)):
        return _iso(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    return _esc(str(v))


def _canon_column(s: pd.Series) -> list[str]:
    dt = s.dtype
    if isinstance(dt, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dt):
        u = s.dt.tz_localize("UTC") if not isinstance(dt, pd.DatetimeTZDtype) else s.dt.tz_convert("UTC")
        out = u.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return [_NULL if isinstance(x, float) or x is None or x is pd.NA else x for x in out.tolist()]
    if pd.api.types.is_bool_dtype(dt) or pd.api.types.is_integer_dtype(dt):
        return [_scalar(x) for x in s.astype(object).tolist()]
    if pd.api.types.is_float_dtype(dt):
        return [_num(x) for x in s.to_numpy(dtype=float, na_value=np.nan).tolist()]
    obj = s.astype(object)
    if pd.api.types.infer_dtype(obj, skipna=True) in ("string", "empty"):  # fast path: text columns
        null = obj.isna().to_numpy()
        text = obj.where(~null, "")
        if text.str.contains(r"[\\\x1f\n\r]", regex=True).any():
            text = text.map(_esc)
        return np.where(null, _NULL, text.to_numpy()).tolist()
    return [_scalar(x) for x in obj.tolist()]


def hash_frame(df: pd.DataFrame) -> str:
    """SHA-256 of a DataFrame's content, independent of row order, column order, index and backend dtype.

    Canonical form: columns sorted by name; each value written as text (UTC ISO timestamps with
    microseconds, shortest round-trip floats with integral floats written as integers, ``\\N`` for every
    null, ``true``/``false``, strings escaped); one line per row, fields separated by ``\\x1f``; rows
    sorted; header line first. The same table read from DuckDB or PostgreSQL (``datetime64[us]`` vs
    ``[ns]``, ``int64`` vs ``float64`` with nulls, ``object`` vs ``string``) therefore hashes alike.

    Parameters
    ----------
    df : pandas.DataFrame
        Any frame (the index is ignored; use ``reset_index()`` first to include it).

    Returns
    -------
    str
        64 hex digits.
    """
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        raise LedgerError(f"hash_frame: duplicate column names in {names}")
    frame = df.set_axis(names, axis=1)
    cols = sorted(names)
    lines: list[str] = [""] * len(frame)
    for i, c in enumerate(cols):
        vals = _canon_column(frame[c])
        lines = vals if i == 0 else [a + "\x1f" + b for a, b in zip(lines, vals, strict=True)]
    lines.sort()
    header = "\x1f".join(_esc(c) for c in cols)
    return sha256_bytes(("\n".join([header, *lines]) + "\n").encode("utf-8"))


def _describe(value: Any, *, text_is_path: bool) -> dict[str, Any]:
    """Hash and describe an input or output value."""
    if isinstance(value, pd.Series):
        value = value.to_frame()
    if not isinstance(value, pd.DataFrame) and hasattr(value, "to_pandas") and hasattr(value, "schema"):
        value = value.to_pandas()  # an Ibis table expression
    if isinstance(value, pd.DataFrame):
        return {"sha256": hash_frame(value), "kind": "frame", "rows": len(value), "columns": len(value.columns)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        b = bytes(value)
        return {"sha256": sha256_bytes(b), "kind": "bytes", "bytes": len(b)}
    if isinstance(value, Path) or (isinstance(value, str) and text_is_path):
        p = Path(value)
        if not p.exists():
            raise LedgerError(f"input {str(value)!r}: no such file or directory")
        return {"sha256": sha256_file(p), "kind": "dir" if p.is_dir() else "file", "path": str(p.resolve())}
    if isinstance(value, str):
        return {"sha256": sha256_bytes(value.encode("utf-8")), "kind": "text", "chars": len(value)}
    return {"sha256": sha256_bytes(canonical_json(value).encode("utf-8")), "kind": "json"}


def hash_value(value: Any) -> str:
    """SHA-256 of an output value: DataFrame/Series/Ibis table (:func:`hash_frame`), bytes, text (UTF-8),
    :class:`pathlib.Path` (file bytes) or any JSON-able value (canonical JSON)."""
    return _describe(value, text_is_path=False)["sha256"]


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
    """Content version of the packaged factor library: ``sha256:`` + 16 hex of its data files.

    Hash over the sorted names and bytes of ``coreduce/account/data/*.csv``, so any edit of a factor
    changes the version recorded on each run.
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


def entrypoint_of(fn: Callable[..., Any]) -> str:
    """``"module:qualname"`` of a function (the string :func:`resolve_entrypoint` imports back)."""
    fn = getattr(fn, "_coreduce_unrecorded", fn)
    return f"{fn.__module__}:{fn.__qualname__}"


def resolve_entrypoint(entrypoint: str) -> Callable[..., Any]:
    """Import ``"package.module:function"`` (dotted attribute paths allowed after the colon)."""
    if ":" not in entrypoint:
        raise LedgerError(f"entrypoint {entrypoint!r}: expected 'package.module:function'")
    mod_name, attr = entrypoint.split(":", 1)
    try:
        obj: Any = importlib.import_module(mod_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise LedgerError(f"entrypoint {entrypoint!r} cannot be imported: {exc}") from exc
    return getattr(obj, "_coreduce_unrecorded", obj)


def seed_everything(seed: int) -> None:
    """Seed Python's :mod:`random` and NumPy's legacy global generator (code should prefer
    ``numpy.random.default_rng(seed)`` with the seed passed in)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 -- seeding the legacy global generator is the point


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        ps = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in ps or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in ps.values())


# =========================================================================== records
def _canon_field(name: str, v: Any) -> Any:
    if v is None:
        return None
    t = _TYPES[name]
    if t == "TIMESTAMPTZ":
        return _iso(v)
    if t == "BIGINT":
        return int(v)
    if t == "DOUBLE PRECISION":
        f = float(v)
        return f if math.isfinite(f) else None
    return str(v)


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of every ledger field except ``record_hash`` (``prev_hash`` included)."""
    body = {c: _canon_field(c, record.get(c)) for c in _NAMES if c != "record_hash"}
    return sha256_bytes(canonical_json(body).encode("utf-8"))


_CURRENT: contextvars.ContextVar[Run | None] = contextvars.ContextVar("coreduce_run", default=None)
_DEFAULT_LEDGER: contextvars.ContextVar[Ledger | None] = contextvars.ContextVar("coreduce_ledger", default=None)


class Run:
    """The open record of one run (yielded by :meth:`Ledger.run`).

    After the ``with`` block: ``seq``, ``record_hash``, ``footprint`` and ``net`` are set.
    """

    def __init__(self, ledger: Ledger, kind: str, fields: dict[str, Any]) -> None:
        self.ledger = ledger
        self.kind = kind
        self.run_id: str = fields["run_id"]
        self.fields = fields
        self._inputs: dict[str, Any] = {}
        self._outputs: dict[str, Any] = {}
        self._explanation: Any = None
        self._claim: tuple[float, float, int] | None = None
        self.seq: int | None = None
        self.record_hash: str | None = None
        self.footprint: Footprint | None = None
        self.net: Any = None

    def input(self, name: str, value: Any) -> str:
        """Record an input: a file/directory path (hash of its bytes), DataFrame, Ibis table or bytes."""
        d = _describe(value, text_is_path=True)
        self._inputs[name] = d
        return d["sha256"]

    def output(self, name: str, value: Any) -> str:
        """Record an output (hash only: DataFrame, bytes, text, Path or JSON value); returns its hash."""
        d = _describe(value, text_is_path=False)
        self._outputs[name] = d
        return d["sha256"]

    def outputs(self, values: Mapping[str, Any]) -> None:
        """Record several outputs."""
        for k, v in values.items():
            self.output(k, v)

    def explain(self, why: Any) -> None:
        """Attach the human-readable "why" (dict, list or text; dicts given twice are merged)."""
        if isinstance(why, Mapping) and isinstance(self._explanation, dict):
            self._explanation.update(why)
        else:
            self._explanation = dict(why) if isinstance(why, Mapping) else why

    def claim(self, reduction_t: float, *, training_kg: float = 0.0, n_uses: int = 1) -> None:
        """Record a claimed reduction [t CO2] and, if the run used a trained model, its training emissions
        [kg CO2] spread over ``n_uses`` uses (see :func:`coreduce.footprint.net_benefit`)."""
        if n_uses < 1:
            raise LedgerError(f"claim: n_uses must be >= 1, got {n_uses}")
        self._claim = (float(reduction_t), float(training_kg), int(n_uses))


def current_run() -> Run | None:
    """The run open in this context (``None`` outside :meth:`Ledger.run`)."""
    return _CURRENT.get()


def explain(why: Any) -> None:
    """Attach an explanation to the current run; no-op outside a run (library code may always call it)."""
    r = _CURRENT.get()
    if r is not None:
        r.explain(why)


def claim(reduction_t: float, *, training_kg: float = 0.0, n_uses: int = 1) -> None:
    """Record a claimed reduction [t CO2] on the current run; no-op outside a run."""
    r = _CURRENT.get()
    if r is not None:
        r.claim(reduction_t, training_kg=training_kg, n_uses=n_uses)


@dataclass
class VerifyResult:
    """Outcome of :meth:`Ledger.verify`.

    ``problem`` is ``None`` or one of ``"missing"``, ``"reordered"``, ``"broken-link"``, ``"altered"``;
    ``first_bad_seq`` / ``first_bad_run_id`` name the first bad record (``run_id`` is ``None`` for a
    missing record); ``head_hash`` is the last record's hash (anchor it outside the store).
    """

    ok: bool
    n: int
    first_bad_seq: int | None = None
    first_bad_run_id: str | None = None
    problem: str | None = None
    message: str = ""
    head_hash: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class OutputDiff:
    """One output (or input) whose hash differs: ``recorded`` / ``reproduced`` are hashes or ``None``."""

    name: str
    recorded: str | None
    reproduced: str | None


@dataclass
class ReproduceResult:
    """Outcome of :meth:`Ledger.reproduce`: ``matched`` is True when every output hash is equal."""

    run_id: str
    entrypoint: str
    matched: bool
    diffs: list[OutputDiff] = field(default_factory=list)
    input_diffs: list[OutputDiff] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        Create the ``ledger`` table if missing (default True).

    Examples
    --------
    >>> led = Ledger(Store("ws.duckdb"))  # doctest: +SKIP
    >>> with led.run("account", entrypoint="coreduce.account.jobs:account_files",
    ...              params={"activity": "a.csv"}, inputs={"activity": "a.csv"}) as run:  # doctest: +SKIP
    ...     inv = account_files(activity="a.csv")["inventory"]
    ...     run.output("inventory", inv)
    ...     run.explain({"CO2_t": float(inv.amount.sum())})
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
        if create:
            self.store.execute(ddl())

    def __repr__(self) -> str:
        return f"Ledger({self.store!r})"

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
        """Record the ``with`` block as one run; the record is appended on exit (``ok`` or ``error``).

        Parameters
        ----------
        kind : str
            ``account``, ``forecast``, ``optimise``, ``benefits``, ``evaluate``, ``ingest``, ``demo``...
        entrypoint : str or None
            ``"module:function"`` that :meth:`reproduce` can call with ``params``.
        params : mapping or None
            JSON-able parameters (stored as canonical JSON).
        inputs : mapping or None
            Name → file path, DataFrame, Ibis table or bytes; hashed now.
        seed : int or None
            Seeds :mod:`random` and NumPy's global generator at the start of the block; recorded.
        model_version, factor_version : str or None
            Recorded as given; ``factor_version`` defaults to :func:`factor_library_version`.

        Yields
        ------
        Run
            Add outputs, explanation and claims to it.

        Raises
        ------
        Exception
            Whatever the block raised, after recording the run with status ``error``.
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
        for name, value in (inputs or {}).items():
            r.input(name, value)
        meter = FootprintMeter(self.province, factor_id=self.factor_id, mode=self.footprint_mode)
        token = _CURRENT.set(r)
        fields["started_at"] = datetime.now(UTC)
        meter.start()
        if seed is not None:
            seed_everything(seed)
        try:
            yield r
        except BaseException as exc:
            _CURRENT.reset(token)
            r.footprint = meter.stop()
            try:
                self._append(r, "error", f"{type(exc).__name__}: {exc}")
            except Exception as wexc:  # never mask the run's own exception
                exc.add_note(f"coreduce ledger: the failed run could not be recorded: {wexc}")
            raise
        _CURRENT.reset(token)
        r.footprint = meter.stop()
        self._append(r, "ok", None)

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
        """Call an entrypoint ``fn(**params)`` as one recorded, reproducible run and return its outputs.

        ``fn`` is a function or a ``"module:function"`` string; it must return a mapping name → output.
        If ``seed`` is given and ``fn`` takes a ``seed`` argument not in ``params``, it is passed.
        """
        if isinstance(fn, str):
            entry, func = fn, resolve_entrypoint(fn)
        else:
            entry, func = entrypoint_of(fn), getattr(fn, "_coreduce_unrecorded", fn)
        kwargs = dict(params or {})
        with self.run(kind, entrypoint=entry, params=kwargs, inputs=inputs, seed=seed,
                      model_version=model_version, factor_version=factor_version) as r:  # fmt: skip
            out = func(**_with_seed(func, kwargs, seed))
            if not isinstance(out, Mapping):
                raise LedgerError(f"entrypoint {entry}: returned {type(out).__name__}, expected a dict of outputs")
            r.outputs(out)
        return out

    def _append(self, r: Run, status: str, error: str | None) -> None:
        rec = dict(r.fields)
        rec["finished_at"] = datetime.now(UTC)
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
        if r._claim is not None:
            claimed, training_kg, uses = r._claim
            r.net = net_benefit(claimed, fp.emissions_kg if fp else 0.0, training_kg, uses)
            rec.update(claimed_reduction_t=claimed, training_kg=training_kg, training_uses=uses,
                       net_reduction_t=r.net.net_t)  # fmt: skip
        cols = ", ".join(_q(c) for c in _NAMES)
        marks = ", ".join("?" for _ in _NAMES)
        with self.store.transaction() as tx:
            if self.store.backend == "postgres":
                # one appender at a time: seq and prev_hash are read and written under this lock
                tx.execute(f"LOCK TABLE {TABLE} IN SHARE ROW EXCLUSIVE MODE")
            last = tx.execute(f"SELECT seq, record_hash FROM {TABLE} ORDER BY seq DESC LIMIT 1")
            rec["seq"] = int(last[0][0]) + 1 if last else 1
            rec["prev_hash"] = str(last[0][1]) if last else GENESIS
            rec["record_hash"] = record_hash(rec)
            values = [_db_value(c, rec.get(c)) for c in _NAMES]
            tx.execute(f"INSERT INTO {TABLE} ({cols}) VALUES ({marks})", values)
        r.seq, r.record_hash = rec["seq"], rec["record_hash"]

    # ------------------------------------------------------------------ reading
    def _exists(self) -> bool:
        return TABLE in self.store.con.list_tables()

    def records(self) -> list[dict[str, Any]]:
        """All records, ordered by ``seq``, as stored (JSON fields as text)."""
        if not self._exists():
            return []
        cols = ", ".join(_q(c) for c in _NAMES)
        rows = self.store.execute(f"SELECT {cols} FROM {TABLE} ORDER BY seq")
        return [dict(zip(_NAMES, row, strict=True)) for row in rows]

    def list(self) -> pd.DataFrame:
        """One row per run: seq, run_id, kind, user, started_at, duration_s, status, entrypoint, energy,
        emissions, claimed and net reduction."""
        keep = ["seq", "run_id", "kind", "user", "started_at", "duration_s", "status", "entrypoint",
                "energy_kwh", "emissions_kg", "footprint_method", "claimed_reduction_t", "net_reduction_t"]  # fmt: skip
        df = pd.DataFrame(self.records(), columns=list(_NAMES))
        return df[keep].reset_index(drop=True)

    def get(self, ref: str | int) -> dict[str, Any]:
        """The stored record of a run: ``run_id``, a unique ``run_id`` prefix (≥ 4 chars) or a ``seq``."""
        recs = self.records()
        s = str(ref).strip().lstrip("#")
        hits = [r for r in recs if r["run_id"] == s]
        if not hits and s.isdigit() and len(s) < 12:
            hits = [r for r in recs if int(r["seq"]) == int(s)]
        if not hits and len(s) >= 4:
            hits = [r for r in recs if r["run_id"].startswith(s)]
        if not hits:
            raise LedgerError(f"ledger of {self.store.url!r}: no run {ref!r} (runs: {len(recs)})")
        if len(hits) > 1:
            raise LedgerError(f"ledger: run prefix {ref!r} is ambiguous ({len(hits)} runs)")
        return hits[0]

    def show(self, ref: str | int) -> dict[str, Any]:
        """A run's full record with JSON fields decoded and timestamps as UTC ISO strings."""
        rec = dict(self.get(ref))
        for c in _JSON_COLUMNS:
            if rec[c] is not None:
                rec[c] = json.loads(rec[c])
        for c in ("started_at", "finished_at"):
            rec[c] = _iso(rec[c]) if rec[c] is not None else None
        return rec

    def verify(self) -> VerifyResult:
        """Recompute the chain; name the first missing, reordered or altered record.

        Checks, record by record in ``seq`` order: ``seq`` is 1, 2, 3... (a gap = a deleted record);
        ``prev_hash`` equals the previous record's recomputed hash (else the record was moved, or records
        before it inserted/deleted and renumbered); the record's fields hash to its ``record_hash``.

        Returns
        -------
        VerifyResult
        """
        recs = self.records()
        by_hash = {r["record_hash"]: r for r in recs}
        prev = GENESIS
        for i, r in enumerate(recs, start=1):
            seq, rid = int(r["seq"]), r["run_id"]
            if seq != i:
                after = f"seq {i - 1}" if i > 1 else "the start"
                return VerifyResult(False, len(recs), i, None, "missing",
                                    f"record seq {i} is missing: seq {seq} (run {rid}) follows {after}")  # fmt: skip
            if r["prev_hash"] != prev:
                moved = by_hash.get(r["prev_hash"])
                if moved is not None and moved is not r:
                    msg = (f"record seq {seq} (run {rid}) is out of order: it was appended after run "
                           f"{moved['run_id']}, now seq {moved['seq']}")  # fmt: skip
                    return VerifyResult(False, len(recs), seq, rid, "reordered", msg)
                msg = (f"record seq {seq} (run {rid}): prev_hash does not match seq {i - 1}; records before it "
                       "were deleted, inserted or altered and re-hashed")  # fmt: skip
                return VerifyResult(False, len(recs), seq, rid, "broken-link", msg)
            h = record_hash(r)
            if h != r["record_hash"]:
                msg = f"record seq {seq} (run {rid}) was altered: its fields no longer hash to its record_hash"
                return VerifyResult(False, len(recs), seq, rid, "altered", msg)
            prev = h
        head = recs[-1]["record_hash"] if recs else GENESIS
        return VerifyResult(True, len(recs), message=f"{len(recs)} records, chain intact", head_hash=head)

    def reproduce(self, ref: str | int) -> ReproduceResult:
        """Re-run a recorded entrypoint with its recorded parameters and seed; compare output hashes.

        Nothing is appended to the ledger. Inputs recorded as files are re-hashed and reported in
        ``input_diffs`` when they changed since the run.

        Raises
        ------
        LedgerError
            Unknown run, or a run recorded without an entrypoint.
        """
        rec = self.get(ref)
        entry = rec["entrypoint"]
        if not entry:
            raise LedgerError(f"run {rec['run_id']} was recorded without an entrypoint; it cannot be reproduced")
        fn = resolve_entrypoint(entry)
        params = json.loads(rec["params"] or "{}")
        recorded_in = json.loads(rec["inputs"] or "{}")
        input_diffs = []
        for name, d in sorted(recorded_in.items()):
            if d.get("path"):
                p = Path(d["path"])
                now = sha256_file(p) if p.exists() else None
                if now != d["sha256"]:
                    input_diffs.append(OutputDiff(name, d["sha256"], now))
        seed = rec["seed"]
        if seed is not None:
            seed_everything(int(seed))
        recorded_out = {k: v["sha256"] for k, v in json.loads(rec["outputs"] or "{}").items()}
        try:
            out = fn(**_with_seed(fn, params, None if seed is None else int(seed)))
        except Exception as exc:
            err = f"{type(exc).__name__}: {exc}"
            same = rec["status"] == "error" and rec["error"] == err
            return ReproduceResult(rec["run_id"], entry, same, [], input_diffs, err)
        if not isinstance(out, Mapping):
            raise LedgerError(f"entrypoint {entry}: returned {type(out).__name__}, expected a dict of outputs")
        now_out = {k: hash_value(v) for k, v in out.items()}
        names = sorted(set(recorded_out) | set(now_out))
        diffs = [OutputDiff(k, recorded_out.get(k), now_out.get(k)) for k in names]
        diffs = [d for d in diffs if d.recorded != d.reproduced]
        matched = not diffs and rec["status"] == "ok"
        return ReproduceResult(rec["run_id"], entry, matched, diffs, input_diffs, None)


def _with_seed(fn: Callable[..., Any], params: dict[str, Any], seed: int | None) -> dict[str, Any]:
    if seed is not None and "seed" not in params and _accepts(fn, "seed"):
        return {**params, "seed": seed}
    return params


def _db_value(name: str, v: Any) -> Any:
    if v is None:
        return None
    t = _TYPES[name]
    if t == "DOUBLE PRECISION":
        f = float(v)
        return f if math.isfinite(f) else None
    if t == "BIGINT":
        return int(v)
    return v


# =========================================================================== conveniences
@contextmanager
def use_ledger(ledger: Ledger | None) -> Iterator[Ledger | None]:
    """Make ``ledger`` the one :func:`recorded` functions write to inside the block."""
    token = _DEFAULT_LEDGER.set(ledger)
    try:
        yield ledger
    finally:
        _DEFAULT_LEDGER.reset(token)


def recorded(
    kind: str,
    *,
    ledger: Ledger | None = None,
    inputs: tuple[str, ...] = (),
    model_version: str | None = None,
) -> Callable[[Callable[..., Mapping[str, Any]]], Callable[..., Mapping[str, Any]]]:
    """Decorator: each call of an entrypoint becomes a recorded run (when a ledger is active).

    Parameters
    ----------
    kind : str
        Run kind.
    ledger : Ledger or None
        Ledger to write to; default the one set by :func:`use_ledger` (no ledger → the call is not recorded).
    inputs : tuple of str
        Names of parameters holding file paths or DataFrames to hash as inputs.
    model_version : str or None
        Recorded as given.

    Examples
    --------
    >>> @recorded("forecast", inputs=("history",))          # doctest: +SKIP
    ... def forecast_job(history: str, horizon: int = 24, seed: int = 0) -> dict: ...
    >>> with use_ledger(Ledger(store)):                      # doctest: +SKIP
    ...     forecast_job(history="obs.csv", horizon=48)
    """

    def deco(fn: Callable[..., Mapping[str, Any]]) -> Callable[..., Mapping[str, Any]]:
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Mapping[str, Any]:
            led = ledger or _DEFAULT_LEDGER.get()
            if led is None:
                return fn(*args, **kwargs)
            bound = sig.bind(*args, **kwargs)
            params = dict(bound.arguments)
            seed = params.get("seed")
            ins = {n: params[n] for n in inputs if params.get(n) is not None}
            return led.call(fn, params, kind=kind, inputs=ins, seed=seed if isinstance(seed, int) else None,
                            model_version=model_version)  # fmt: skip

        wrapper._coreduce_unrecorded = fn  # type: ignore[attr-defined]
        return wrapper

    return deco


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
        emissions_kg [kg CO2], grid_factor_id, footprint_method, claimed_t [t CO2], compute_t [t CO2]
        (this run + amortised training), net_t [t CO2], negative`` (True where the claim is eaten by
        the footprint; NA without a claim).

    References
    ----------
    .. [1] :func:`coreduce.footprint.net_benefit` (amortisation rule).
    """
    led = store_or_ledger if isinstance(store_or_ledger, Ledger) else Ledger(store_or_ledger, create=False)
    recs = led.records()
    if run_ids is not None:
        want = set(run_ids)
        recs = [r for r in recs if r["run_id"] in want]
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
        rows.append({
            "seq": r["seq"], "run_id": r["run_id"], "kind": r["kind"], "status": r["status"],
            "started_at": r["started_at"], "duration_s": r["duration_s"], "energy_kwh": r["energy_kwh"],
            "emissions_kg": em, "grid_factor_id": r["grid_factor_id"], "footprint_method": r["footprint_method"],
            "claimed_t": claimed, "compute_t": compute_t, "net_t": net_t, "negative": neg,
        })  # fmt: skip
    cols = ["seq", "run_id", "kind", "status", "started_at", "duration_s", "energy_kwh", "emissions_kg",
            "grid_factor_id", "footprint_method", "claimed_t", "compute_t", "net_t", "negative"]  # fmt: skip
    df = pd.DataFrame(rows, columns=cols)
    df["negative"] = df["negative"].astype("boolean")
    return df
