"""Read canonical tables from files (CSV, Parquet, Excel) with clear, located errors.

CSV files are read by DuckDB's CSV reader with the header taken as written (no type or dialect guessing):
every field arrives as text, validation does the typing, and a row with too many or too few fields, or bytes
that are not UTF-8, is an error naming its line.  Rows are located by their line in the file (blank lines
and quoted line breaks counted), through a :class:`CsvLocator` attached to the frame
(``df.attrs["locator"]``) and used by :func:`coreduce.schema.validate`.

Only regular files are read: a directory, FIFO or device is refused at once (reading ``/dev/zero`` or a FIFO
would never end).
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from coreduce import schema
from coreduce.errors import CoreduceError, InputError, InputErrors
from coreduce.schema import engine
from coreduce.schema.engine import RowLocator, lit, q

_READERS = {
    ".csv": "csv",
    ".gz": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "excel",
    ".xls": "excel",
}
_SEQ = itertools.count()


def check_regular_file(path: str | Path) -> Path:
    """``path`` as a Path if it is an existing regular file (symlinks followed); else :class:`InputError`.

    Uses ``stat`` only, so a FIFO or device is refused without being opened.
    """
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise InputError(str(p), "an existing file") from None
    except OSError as exc:
        raise InputError(str(p), f"a readable file ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        kind = (
            "a directory"
            if stat.S_ISDIR(mode)
            else "a FIFO (named pipe)"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "not a regular file"
        )
        raise InputError(str(p), f"a regular file (this is {kind})")
    return p


def _open_text(p: Path) -> io.TextIOBase:
    raw = gzip.open(p, "rb") if p.suffix.lower() == ".gz" else open(p, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def csv_header(path: str | Path) -> list[str]:
    """The header fields of a CSV file (stripped); errors for an empty file or repeated names."""
    p = Path(path)
    with _open_text(p) as fh:
        try:
            header = next(csv.reader(fh))
        except StopIteration:
            header = []
        except csv.Error as exc:
            raise InputError(str(p), f"a CSV header line ({exc})", row=1) from None
    names = [h.strip() for h in header]
    if not names or names == [""]:
        raise InputError(str(p), "a header line and at least one data row (the file is empty)")
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise InputError(str(p), "a header with unique column names (this one is repeated)", row=1, column=n,
                             value=n)  # fmt: skip
        seen.add(n)
    return names


class CsvLocator(RowLocator):
    """Record position (0-based, blank lines skipped, as the reader counts) → line of the file and raw field.

    Used only when there are errors to report: it reads the file once with Python's ``csv`` module.
    """

    def __init__(self, path: str | Path, header: Sequence[str]) -> None:
        super().__init__(None, 2)
        self.path = Path(path)
        self.header = list(header)

    def _scan(self, positions: Sequence[int]) -> dict[int, tuple[int, list[str]]]:
        want = set(int(p) for p in positions)
        out: dict[int, tuple[int, list[str]]] = {}
        if not want:
            return out
        last = max(want)
        with _open_text(self.path) as fh:
            reader = csv.reader(fh)
            prev_end = 0
            rec = -1
            for i, fields in enumerate(reader):
                start = prev_end + 1
                prev_end = reader.line_num
                if i == 0 or not fields:  # header; blank line
                    continue
                rec += 1
                if rec in want:
                    out[rec] = (start, fields)
                if rec >= last:
                    break
        return out

    def lines(self, positions: Sequence[int]) -> dict[int, int]:
        found = self._scan(positions)
        return {int(p): found[int(p)][0] if int(p) in found else int(p) + 2 for p in positions}

    def raw(self, positions: Sequence[int], column: str) -> dict[int, Any]:
        if column not in self.header:
            return {}
        j = self.header.index(column)
        found = self._scan(positions)
        return {p: (f[j] if j < len(f) else None) for p, (_, f) in found.items()}


def csv_relation(path: str | Path) -> tuple[str, list[str]]:
    """A DuckDB ``read_csv`` expression reading ``path`` as text columns named by its header, and the header."""
    p = Path(path)
    header = csv_header(p)
    cols = "{" + ", ".join(f"{lit(h)}: 'VARCHAR'" for h in header) + "}"
    rel = (
        f"read_csv({lit(str(p))}, auto_detect=false, header=true, delim=',', quote='\"', escape='\"', "
        f"columns={cols}, store_rejects=true, ignore_errors=true, "
        f"rejects_table='__coreduce_rejects', rejects_scan='__coreduce_rejects_scan')"
    )
    return rel, header


def csv_first_row(path: str | Path, header: Sequence[str]) -> dict[str, str]:
    """The first data record of a CSV file as header → text (empty if there is none); a hint, not a check."""
    with _open_text(Path(path)) as fh:
        reader = csv.reader(fh)
        try:
            next(reader)
            row = next(r for r in reader if r)
        except (StopIteration, csv.Error):
            return {}
    return dict(zip(header, row, strict=False))


def raise_rejects(con: Any, path: str | Path, header: Sequence[str], table: str | None = None) -> None:
    """Raise :class:`InputErrors` for the lines DuckDB's CSV reader rejected in its last scan (if any)."""
    try:
        rows = con.execute(
            "SELECT line, column_name, error_type, error_message FROM __coreduce_rejects "
            "ORDER BY line, column_idx LIMIT 500"
        ).fetchall()
        n = con.execute("SELECT count(DISTINCT (line, error_type)) FROM __coreduce_rejects").fetchone()[0]
    except Exception:  # no rejects table: nothing was rejected
        return
    finally:
        for t in ("__coreduce_rejects", "__coreduce_rejects_scan"):
            try:
                con.execute(f"DROP TABLE IF EXISTS {q(t)}")
            except Exception:  # pragma: no cover
                pass
    if not rows:
        return
    by_line: dict[tuple[int, str], tuple[str | None, str]] = {}
    for line, col, kind, msg in rows:  # DuckDB rejects a line once per surplus field: keep the last (largest)
        by_line[(int(line), kind)] = (col, msg)
    errs = []
    for (line, kind), (col, msg) in sorted(by_line.items()):
        if kind in ("TOO MANY COLUMNS", "MISSING COLUMNS"):
            found = msg.rsplit("Found:", 1)[-1].strip() if "Found:" in msg else "?"
            expected = f"{len(header)} fields as in the header line (found {found})"
            col = None
        elif kind == "INVALID ENCODING":
            expected = "UTF-8 text"
        else:
            expected = f"a well-formed CSV line ({msg.splitlines()[0]})"
        errs.append(InputError(str(path), expected, row=line, column=col, table=table))
    raise InputErrors(errs, int(n))


def is_csv(path: str | Path) -> bool:
    """Whether :func:`read_raw` reads ``path`` as CSV (``.csv``, ``.csv.gz``, ``.txt``) — the files
    :meth:`coreduce.store.Store.ingest_csv` loads directly."""
    return _READERS.get(Path(path).suffix.lower()) == "csv"


def read_raw(path: str | Path) -> pd.DataFrame:
    """Read a file as strings (no type guessing: validation does the typing and names bad cells).

    Raises
    ------
    InputError
        Missing or non-regular file, unknown extension, unreadable or empty file, ragged CSV rows, repeated
        header names, text that is not UTF-8.
    """
    p = check_regular_file(path)
    kind = _READERS.get(p.suffix.lower())
    if kind is None:
        raise InputError(str(p), f"a file ending in one of {', '.join(sorted(_READERS))}", value=p.suffix)
    if kind == "csv":
        rel, header = csv_relation(p)
        con = schema.shared_connection()
        try:
            df = con.execute(f"SELECT * FROM {rel}").df()
        except Exception as exc:
            raise InputError(str(p), f"a readable CSV file ({str(exc).splitlines()[0]})") from None
        raise_rejects(con, p, header)
        if len(df) == 0:
            raise InputError(str(p), "at least one data row")
        df.attrs["locator"] = CsvLocator(p, header)
        return df
    try:
        if kind == "parquet":
            df = pd.read_parquet(p)
        else:
            df = pd.read_excel(p, dtype=str)
    except Exception as exc:  # pyarrow / openpyxl errors
        raise InputError(str(p), f"a readable {kind} file ({str(exc).splitlines()[0]})") from None
    names = [str(c).strip() for c in df.columns]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise InputError(str(p), "a header with unique column names (this one is repeated)", row=1, column=dup)
    return df


def read_table(path: str | Path, table: str, *, source: str | None = None) -> pd.DataFrame:
    """Read and validate one canonical table from a file.

    A CSV is staged straight from DuckDB's reader (every field as text, typed and checked in SQL, as
    :meth:`coreduce.store.Store.ingest_csv` does): no frame of Python strings is made and scanned again.
    Other files are read with :func:`read_raw` and validated with :func:`coreduce.schema.validate`.

    Parameters
    ----------
    path : str or pathlib.Path
        CSV (optionally gzip), Parquet or Excel file.
    table : str
        Canonical table name (one of :data:`coreduce.schema.TABLES`).
    source : str, optional
        Name used in error messages (default: ``path`` as given).

    Returns
    -------
    pandas.DataFrame
        The validated, canonical frame.

    Raises
    ------
    InputError, InputErrors
        As :func:`read_raw` and :func:`coreduce.schema.validate`: every problem with its line, column and value.
    """
    src = str(path) if source is None else source
    p = check_regular_file(path)
    if not is_csv(p):
        raw = read_raw(p)
        return schema.validate(raw, table, source=src, row_offset=2, locator=raw.attrs.get("locator"))
    sp = schema.spec(table)
    rel, header = csv_relation(p)
    con = schema.shared_connection()
    try:
        st = engine.stage(
            con, rel, sp, source=src, locator=CsvLocator(p, header), checks=schema.checks_for(table),
            after_load=lambda: raise_rejects(con, src, header),
        )  # fmt: skip
    except CoreduceError:
        raise
    except Exception as exc:  # the reader itself failed (compression, I/O)
        raise InputError(src, f"a readable CSV file ({str(exc).splitlines()[0]})") from None
    try:
        return engine.to_pandas(st.arrow(), sp)
    finally:
        st.drop()
