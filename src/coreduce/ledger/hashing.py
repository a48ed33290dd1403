"""Hashing for the ledger: canonical JSON, content hashes of frames, files and values.

Every function here is frozen by the golden tests in ``tests/ledger/golden/``: a ledger record's hash is
made of these outputs, so changing any of them would make every stored record verify as altered. A new
canonical form needs a new record-schema version (:mod:`coreduce.ledger.records`), never an edit here.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coreduce.errors import CoreduceError, InputError

_NULL = "\\N"


class LedgerError(CoreduceError):
    """A ledger problem the user can fix (unknown run, forged entrypoint, invalid stored record ...)."""


# =========================================================================== bytes and files
def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def check_readable(path: str | Path, *, allow_dir: bool = False) -> Path:
    """``path`` if it is a regular, readable file (or a directory when ``allow_dir``); checked with
    ``os.stat`` *before* anything opens it, so a FIFO or ``/dev/zero`` is refused instead of hanging.

    Raises
    ------
    coreduce.errors.InputError
        Missing path, directory (unless allowed), FIFO, device, socket, or no read permission.
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise InputError(str(p), "an existing file") from None
    except OSError as exc:
        raise InputError(str(p), f"a readable file ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        if allow_dir:
            return p
        raise InputError(str(p), "a regular file, not a directory")
    if not stat.S_ISREG(st.st_mode):
        kind = "FIFO" if stat.S_ISFIFO(st.st_mode) else "device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(
            st.st_mode) else "socket" if stat.S_ISSOCK(st.st_mode) else "special file"  # fmt: skip
        raise InputError(str(p), f"a regular file, not a {kind}")
    if not os.access(p, os.R_OK):
        raise InputError(str(p), "a file this user may read (permission denied)")
    return p


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a regular file's bytes; of a directory, of its regular files' relative paths and hashes
    (sorted). FIFOs, devices and sockets are refused before they are opened.

    Raises
    ------
    coreduce.errors.InputError
        Not a regular file or directory, or unreadable.
    """
    p = check_readable(path, allow_dir=True)
    if p.is_dir():
        files = [f for f in sorted(p.rglob("*")) if stat.S_ISREG(os.stat(f).st_mode)]
        lines = [f"{f.relative_to(p).as_posix()}\t{sha256_file(f)}" for f in files]
        return sha256_bytes("\n".join(lines).encode())
    h = hashlib.sha256()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# =========================================================================== canonical JSON
def iso(ts: Any) -> str:
    """UTC ISO 8601 with microseconds and ``Z``; naive values are taken as UTC."""
    t = pd.Timestamp(ts)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, (datetime, pd.Timestamp)):
        return iso(o)
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


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {str(k): _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj


def canonical_json(obj: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 text, NaN as null; numpy/pandas/Path values converted."""
    return json.dumps(_nan_to_none(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_json_default, allow_nan=False)  # fmt: skip


# =========================================================================== frames
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
        return iso(v)
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


# =========================================================================== values
def describe(value: Any, *, text_is_path: bool) -> dict[str, Any]:
    """Hash and describe an input or output value (``sha256``, ``kind`` and its shape or absolute path).

    A path is checked (regular file or directory, readable) before it is opened.
    """
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
        p = check_readable(value, allow_dir=True)
        return {"sha256": sha256_file(p), "kind": "dir" if p.is_dir() else "file", "path": str(p.resolve())}
    if isinstance(value, str):
        return {"sha256": sha256_bytes(value.encode("utf-8")), "kind": "text", "chars": len(value)}
    return {"sha256": sha256_bytes(canonical_json(value).encode("utf-8")), "kind": "json"}


def hash_value(value: Any) -> str:
    """SHA-256 of an output value: DataFrame/Series/Ibis table (:func:`hash_frame`), bytes, text (UTF-8),
    :class:`pathlib.Path` (file bytes) or any JSON-able value (canonical JSON)."""
    return describe(value, text_is_path=False)["sha256"]
