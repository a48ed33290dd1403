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
import pyarrow as pa
import pyarrow.compute as pc

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


def _canon_column(s: pd.Series) -> pa.Array:
    """The canonical text of every value of a column (what :func:`_scalar` gives each value) as an Arrow string
    array, computed per distinct value for timestamps, text and fractional floats and with array operations for
    the rest (no Python string per row where it can be helped: a detail inventory has millions of rows)."""
    dt = s.dtype
    if isinstance(dt, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dt):
        u = s.dt.tz_localize("UTC") if not isinstance(dt, pd.DatetimeTZDtype) else s.dt.tz_convert("UTC")
        codes, uniques = pd.factorize(u)  # NaT -> -1; a column holds few distinct timestamps
        return _expand(codes, list(uniques.strftime("%Y-%m-%dT%H:%M:%S.%fZ")))
    if pd.api.types.is_bool_dtype(dt) or pd.api.types.is_integer_dtype(dt):
        return pa.array([_scalar(x) for x in s.astype(object).tolist()], pa.large_string())
    if pd.api.types.is_float_dtype(dt):
        a = s.to_numpy(dtype=float, na_value=np.nan)
        finite = np.isfinite(a)
        with np.errstate(invalid="ignore"):
            integral = finite & (np.abs(a) < 2**53) & (a == np.trunc(a))
        # integral floats as integers (1.0 and 1 hash alike, as in _num); the rest by distinct value: shortest
        # round-trip text (repr, as in _num), NaN as \\N, +-inf as repr gives them
        return _float_text(a, finite, integral)
    obj = s.astype(object)
    if pd.api.types.infer_dtype(obj, skipna=True) in ("string", "empty"):  # fast path: text columns
        codes, uniques = pd.factorize(obj)  # nulls (None, NaN, NA) -> -1
        return _expand(codes, [_esc(x) for x in np.asarray(uniques, dtype=object)])
    return pa.array([_scalar(x) for x in obj.tolist()], pa.large_string())


#: |x| in [_FIXED_LO, _FIXED_HI): Python's repr writes fixed-point digits (it switches to an exponent below 1e-4
#: and from 1e16) and so does Arrow's float → string cast (double-conversion, shortest round trip; it switches
#: from 1e15): both give the same shortest round-trip digits, so the same text
_FIXED_LO, _FIXED_HI = 1e-4, 1e15


def _float_text(a: np.ndarray, finite: np.ndarray, integral: np.ndarray) -> pa.Array:
    """What :func:`_num` gives every value of a float array, as an Arrow string array: integral floats as
    integers, fractional ones in the fixed-point range by Arrow's shortest round-trip cast (C++, no Python per
    value), the rest (exponents, NaN, infinities) per distinct value with :func:`_num` itself."""
    with np.errstate(invalid="ignore"):
        mag = np.abs(a)
        fixed = finite & ~integral & (mag >= _FIXED_LO) & (mag < _FIXED_HI)
    out = pc.cast(pa.array(np.where(fixed, a, 0.5)), pa.large_string())
    if fixed.any():  # a text with an exponent would not be repr's: those values go the per-value way
        expo = pc.fill_null(pc.match_substring(out, "e"), False).to_numpy(zero_copy_only=False)
        if expo.any():
            fixed &= ~expo
    slow = ~(fixed | integral)
    if integral.any():
        ints = pa.array(np.where(integral, a, 0.0).astype(np.int64)).cast(pa.large_string())
        out = pc.if_else(pa.array(integral), ints, out)
    if slow.any():
        codes, uniques = pd.factorize(a[slow], use_na_sentinel=False)
        text = [_num(x) for x in np.asarray(uniques, dtype=float).tolist()]
        idx = np.zeros(len(a), dtype=np.int64)
        idx[slow] = codes
        out = pc.if_else(pa.array(slow), pc.take(pa.array(text, pa.large_string()), pa.array(idx)), out)
    return out


def _expand(codes: np.ndarray, text: list[str]) -> pa.Array:
    """``text[codes]`` with ``\\N`` where the code is -1 (a null), as an Arrow string array."""
    codes = np.asarray(codes, dtype=np.int64)
    idx = np.where(codes < 0, len(text), codes)
    return pc.take(pa.array([*text, _NULL], pa.large_string()), pa.array(idx))


def _text(v: str) -> pa.Scalar:
    return pa.scalar(v, pa.large_string())


def hash_frame(df: pd.DataFrame) -> str:
    """SHA-256 of a DataFrame's content, independent of row order, column order, index and backend dtype.

    Canonical form: columns sorted by name; each value written as text (UTC ISO timestamps with
    microseconds, shortest round-trip floats with integral floats written as integers, ``\\N`` for every
    null, ``true``/``false``, strings escaped); one line per row, fields separated by ``\\x1f``; rows
    sorted; header line first. The same table read from DuckDB or PostgreSQL (``datetime64[us]`` vs
    ``[ns]``, ``int64`` vs ``float64`` with nulls, ``object`` vs ``string``) therefore hashes alike.

    The lines are joined, sorted and hashed as Arrow arrays (UTF-8 byte order is code-point order, so the
    sort is Python's string sort); the golden tests in ``tests/ledger/golden/`` freeze the result.

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
    header = "\x1f".join(_esc(c) for c in cols)
    h = hashlib.sha256((header + "\n").encode("utf-8"))
    n = len(frame)
    if n == 0:
        return h.hexdigest()
    if cols:
        arrays = [_canon_column(frame[c]) for c in cols]
        lines = arrays[0] if len(arrays) == 1 else pc.binary_join_element_wise(*arrays, _text("\x1f"))
        del arrays
    else:
        lines = pa.array([""] * n, pa.large_string())
    lines = pc.take(lines, pc.sort_indices(lines))  # byte order of UTF-8 = code-point order of str
    lines = pc.binary_join_element_wise(lines, _text(""), _text("\n"))  # every line ends with a newline
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset : lines.offset + n + 1]
    data = lines.buffers()[2]
    if data is not None:
        h.update(memoryview(data)[int(offsets[0]) : int(offsets[-1])])
    return h.hexdigest()


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
