"""Files coreduce writes for people: atomic, safe to open in a spreadsheet, without float noise.

Every output file (``--out``, the demo's CSVs and report) goes through this module:

* **Atomic.** The data is written to a unique temporary file in the target's own directory
  (``tempfile.mkstemp``: two writers never share it), flushed to disk and moved over the target with
  :func:`os.replace`.  A reader sees the old file or the new one, never half of one; two concurrent writers to
  the same path both succeed (the last one wins).
* **Regular files only.** An existing target that is a symbolic link, a directory, a device file, a FIFO or a
  socket is refused with :class:`OutputError` (one line, the CLI exits 2) instead of being replaced by (or,
  for a FIFO, blocking on) a regular file.
* **Formula injection neutralised** (OWASP "CSV injection"): a *text* cell that starts with ``=``, ``+``, ``-``,
  ``@``, a tab or a carriage return is written with a leading ``'`` so that a spreadsheet shows it as text
  instead of evaluating it (``=HYPERLINK(...)`` → ``'=HYPERLINK(...)``).  Numbers are never touched: numeric
  columns are not looked at, and a text cell that is a plain number (``-5``, ``+1.5e3``) is left as it is.
  ``neutralise_formulas=False`` (``--raw-csv`` on the command line) writes the text unchanged.
* **No float noise.** Floats are rounded to 12 significant digits (:data:`SIGNIFICANT_DIGITS`) and written in
  the shortest form that reads back to the same value: ``38235.600000000006`` → ``38235.6``.  Twelve digits keep
  every figure a factor or an activity can justify (factors carry 3–5 significant digits) while dropping the
  binary-rounding tail (a double holds 15–17); the relative change is at most 5e-13.
* **Timestamps** are ISO 8601 in UTC with a ``Z`` (``2019-01-01T00:00:00Z``, whole seconds); naive timestamps
  are taken to be UTC already (the project's convention, ``docs/conventions.md``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from coreduce.errors import CoreduceError

SIGNIFICANT_DIGITS = 12
"""Floats in exported files are rounded to this many significant digits."""

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""A text cell starting with one of these is prefixed with ``'`` (see :func:`neutralise_formulas`)."""

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_FORMULA_START = r"[=+\-@\t\r]"


class OutputError(CoreduceError):
    """An output path coreduce refuses or cannot write (names the path and what is wrong with it)."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def check_target(path: str | os.PathLike[str], *, create_dir: bool = True) -> Path:
    """Check that ``path`` may be replaced by a regular file; create its directory if missing.

    With ``create_dir=False`` nothing is created (a check before any work): the nearest existing ancestor of
    the directory must be a directory.

    Raises
    ------
    OutputError
        When ``path`` is a symbolic link, a directory or any other non-regular file (device, FIFO, socket),
        or its directory cannot be created.
    """
    p = Path(path)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        raise OutputError(p, f"its directory {str(_nearest_existing(p.parent))!r} is not a directory") from None
    except OSError as exc:
        raise OutputError(p, f"cannot check the output path ({exc.strerror or exc})") from None
    if st is not None:
        mode = st.st_mode
        if stat.S_ISLNK(mode):
            raise OutputError(p, "is a symbolic link; refusing to replace it (give the real path or a new one)")
        if stat.S_ISDIR(mode):
            raise OutputError(p, "is a directory; expected a file name")
        if not stat.S_ISREG(mode):
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device file"
            raise OutputError(p, f"is {kind}, not a regular file; refusing to replace it")
    parent = p.parent
    if not create_dir:
        anc = _nearest_existing(parent)
        if not anc.is_dir():
            raise OutputError(p, f"its directory {str(anc)!r} is not a directory")
        return p
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutputError(p, f"its directory {str(parent)!r} is not a directory") from None
    except OSError as exc:
        raise OutputError(p, f"cannot create its directory ({exc.strerror or exc})") from None
    if not parent.is_dir():
        raise OutputError(p, f"its directory {str(parent)!r} is not a directory")
    return p


def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists."""
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def _new_file_mode(existing: Path) -> int:
    """The permission bits the written file gets: the replaced file's, else 0o666 minus the umask."""
    try:
        st = os.stat(existing)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    except OSError:
        pass
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> Path:
    """Write a file atomically: ``write(f)`` fills a unique temporary file beside ``path``, then it replaces it.

    The temporary file is removed on any error, so nothing half-written is ever left at ``path`` or beside it.
    """
    target = check_target(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OutputError(target, f"cannot write in its directory ({exc.strerror or exc})") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode(target))
        check_target(target)  # still not a link/device/FIFO at the last moment
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, CoreduceError):
            raise OutputError(target, f"cannot write ({exc.strerror or exc})") from None
        raise
    return target


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write_bytes(path, text.encode(encoding))


def round_significant(values: pd.Series | np.ndarray, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    """Round floats to ``digits`` significant digits (vectorised; NaN, ±inf and 0 unchanged).

    Each value ends as the double nearest its rounded decimal, so it prints in that decimal's shortest
    form: ``38235.600000000006`` → ``38235.6``.
    """
    x = np.asarray(values, dtype="float64").copy()
    finite = np.isfinite(x) & (x != 0)
    if not finite.any():
        return x
    with np.errstate(divide="ignore", invalid="ignore"):
        decimals = np.zeros(x.shape, dtype="int64")
        decimals[finite] = digits - 1 - np.floor(np.log10(np.abs(x[finite]))).astype("int64")
    for d in np.unique(decimals[finite]):
        m = finite & (decimals == d)
        if -22 <= d <= 22:  # 10**|d| is exact in binary64: x*10^d, rint, /10^d is the nearest double
            x[m] = np.round(x[m], int(d))
        else:  # very large or very small magnitudes: through the decimal string (rare)
            x[m] = [float(f"{v:.{digits}g}") for v in x[m]]
    return x


def neutralise_formulas(text: pd.Series) -> pd.Series:
    """Prefix ``'`` to the text cells of ``text`` that a spreadsheet would read as a formula.

    A cell is changed when it is a string starting with ``= + - @``, a tab or a carriage return and is not a
    plain number (``-5`` and ``+1.5e3`` stay as they are).  Non-string cells are left alone.  Each distinct
    value is looked at once (entity and sector columns repeat a few values over many rows).
    """
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    values = np.asarray(uniques, dtype=object)
    if len(values) == 0:
        return text
    fixed = np.array(
        [
            "'" + v if isinstance(v, str) and v.startswith(FORMULA_PREFIXES) and re.fullmatch(_NUMBER, v) is None else v
            for v in values
        ],
        dtype=object,
    )
    changed = fixed != values
    if not changed.any():
        return text
    out = np.empty(len(codes), dtype=object)
    valid = codes >= 0
    out[valid] = fixed[codes[valid]]
    out[~valid] = text.to_numpy(dtype=object)[~valid]
    return pd.Series(out, index=text.index, name=text.name, dtype=object)


def _iso_utc(col: pd.Series) -> pd.Series:
    """Timestamps as ISO 8601 UTC text with ``Z`` (whole seconds; NaT → empty), formatting each distinct value once."""
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        col = col.dt.tz_convert("UTC").dt.tz_localize(None)
    arr = col.to_numpy(dtype="datetime64[s]")
    codes, uniques = pd.factorize(arr, use_na_sentinel=True)
    text = np.array([s + "Z" for s in np.datetime_as_string(np.asarray(uniques, dtype="datetime64[s]"), unit="s")],
                    dtype=object)  # fmt: skip
    out = np.full(len(codes), None, dtype=object)
    valid = codes >= 0
    out[valid] = text[codes[valid]]
    return pd.Series(out, index=col.index, dtype=object)


def csv_frame(df: pd.DataFrame, *, neutralise: bool = True, digits: int = SIGNIFICANT_DIGITS) -> pd.DataFrame:
    """The frame as it is written: floats rounded, timestamps as ISO 8601 UTC text, formulas neutralised."""
    out = pd.DataFrame(index=df.index)
    for name, col in df.items():
        dtype = col.dtype
        if pd.api.types.is_float_dtype(dtype):
            out[name] = pd.Series(
                round_significant(col.to_numpy(dtype="float64", na_value=np.nan), digits), index=df.index
            )
        elif isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
            out[name] = _iso_utc(col)
        elif pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            out[name] = col
        else:
            out[name] = neutralise_formulas(col) if neutralise else col
    if neutralise:
        out.columns = [
            "'" + c if isinstance(c, str) and c.startswith(FORMULA_PREFIXES) and not _is_number(c) else c
            for c in out.columns
        ]
    return out


def _is_number(s: str) -> bool:
    return re.fullmatch(_NUMBER, s) is not None


def write_csv(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    neutralise_formulas: bool = True,
    digits: int = SIGNIFICANT_DIGITS,
) -> Path:
    """Write ``df`` as CSV to ``path`` atomically (gzip, level 1, when the name ends in ``.gz``).

    Parameters
    ----------
    df : DataFrame
        Written without its index.
    path : path
        Target file; an existing symlink, directory, device file or FIFO is refused (:class:`OutputError`).
    neutralise_formulas : bool
        Prefix ``'`` to text cells a spreadsheet would evaluate (see the module docstring); ``False`` writes
        the text as it is (``--raw-csv``).
    digits : int
        Significant digits floats are rounded to (default :data:`SIGNIFICANT_DIGITS` = 12).

    Returns
    -------
    Path
        The written path.
    """
    frame = csv_frame(df, neutralise=neutralise_formulas, digits=digits)
    target = Path(path)
    compression: dict[str, object] | None = (
        {"method": "gzip", "compresslevel": 1, "mtime": 0} if target.suffix == ".gz" else None
    )
    columns = None if compression is not None else _csv_columns(frame)

    def write(f: IO[bytes]) -> None:
        if columns is None:
            frame.to_csv(f, index=False, lineterminator="\n", compression=compression, mode="wb")
            return
        f.write(_csv_line([str(c) for c in frame.columns]).encode("utf-8"))
        n = len(frame)
        for start in range(0, n, _CSV_BATCH):  # a bounded slice of text at a time
            stop = min(n, start + _CSV_BATCH)
            parts = [col(start, stop) for col in columns]
            lines = pc.binary_join_element_wise(*parts, pa.scalar(",", pa.large_string()))
            lines = pc.binary_join_element_wise(lines, pa.scalar("", pa.large_string()),
                                                pa.scalar("\n", pa.large_string()))  # fmt: skip
            buf = lines.buffers()
            offsets = np.frombuffer(buf[1], dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
            if buf[2] is not None:
                f.write(memoryview(buf[2])[int(offsets[0]) : int(offsets[-1])])

    return atomic_write(target, write)


#: rows of CSV text built at a time by the fast writer
_CSV_BATCH = 1 << 20


def _csv_line(fields: list[str]) -> str:
    """One CSV record as pandas writes it (Python's csv module, minimal quoting, ``\n``)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields)
    return buf.getvalue()


def _csv_field(v: str) -> str:
    """One text field as the csv module writes it inside a record of several fields."""
    return "" if v == "" else _csv_line([v])[:-1]


def _csv_columns(frame: pd.DataFrame) -> list[Callable[[int, int], pa.Array]] | None:
    """Per column, a function giving the CSV text of rows ``[start, stop)`` exactly as ``DataFrame.to_csv``
    writes them (text quoted by the csv module, floats as NumPy's ``str``, nulls empty), each distinct text value
    quoted once and floats formatted by Arrow in C; None when the frame holds anything else (the caller lets
    pandas write it)."""
    if len(frame) == 0 or len(frame.columns) < 2 or not all(isinstance(c, str) for c in frame.columns):
        return None
    out: list[Callable[[int, int], pa.Array]] = []
    for _, col in frame.items():
        if pd.api.types.is_float_dtype(col.dtype) and col.dtype == np.float64:
            out.append(_float_csv(col.to_numpy()))
            continue
        if col.dtype != object and not isinstance(col.dtype, pd.StringDtype):
            return None
        codes, uniques = pd.factorize(col, use_na_sentinel=True)
        values = np.asarray(uniques, dtype=object)
        if not all(isinstance(v, str) for v in values):
            return None
        text = pa.array([*(_csv_field(v) for v in values), ""], pa.large_string())  # the last one: null -> ""
        idx = np.where(codes < 0, len(values), codes)
        out.append(lambda a, b, text=text, idx=idx: pc.take(text, pa.array(idx[a:b])))
    return out


def _float_csv(a: np.ndarray) -> Callable[[int, int], pa.Array]:
    """Float text as pandas writes it (``ndarray.astype(str)``: shortest round trip, ``5.0``, ``1e-05``,
    ``1e+16``; NaN empty): integral values below 1e16 as integers with ``.0``, fractional ones in [1e-4, 1e15)
    by Arrow's shortest round-trip cast (the same digits; a text Arrow writes with an exponent goes the slow
    way), everything else (exponents, zero's sign, infinities) per distinct value by NumPy itself."""

    def text(start: int, stop: int) -> pa.Array:
        x = a[start:stop]
        with np.errstate(invalid="ignore"):
            mag = np.abs(x)
            finite = np.isfinite(x)
            integral = finite & (mag < 1e16) & (x == np.trunc(x)) & (x != 0)
            fixed = finite & ~integral & (mag >= 1e-4) & (mag < 1e15)
        out = pc.cast(pa.array(np.where(fixed, x, 0.5)), pa.large_string())
        if fixed.any():
            expo = pc.fill_null(pc.match_substring(out, "e"), False).to_numpy(zero_copy_only=False)
            fixed &= ~expo
        if integral.any():
            ints = pa.array(np.where(integral, x, 0.0).astype(np.int64)).cast(pa.large_string())
            ints = pc.binary_join_element_wise(
                ints, pa.scalar(".0", pa.large_string()), pa.scalar("", pa.large_string())
            )
            out = pc.if_else(pa.array(integral), ints, out)
        slow = ~(fixed | integral)
        if slow.any():
            # by bit pattern: -0.0 and 0.0 are distinct values here (their texts differ)
            codes, uniques = pd.factorize(x[slow].view(np.int64), use_na_sentinel=False)
            u = np.asarray(uniques, dtype=np.int64).view(np.float64)
            words = [("" if np.isnan(v) else str(t)) for v, t in zip(u.tolist(), u.astype(str).tolist(), strict=True)]
            idx = np.zeros(len(x), dtype=np.int64)
            idx[slow] = codes
            out = pc.if_else(pa.array(slow), pc.take(pa.array(words, pa.large_string()), pa.array(idx)), out)
        return out

    return text


__all__ = [
    "FORMULA_PREFIXES",
    "SIGNIFICANT_DIGITS",
    "OutputError",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_target",
    "csv_frame",
    "neutralise_formulas",
    "round_significant",
    "write_csv",
]
