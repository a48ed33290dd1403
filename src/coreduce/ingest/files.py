"""Read canonical tables from files (CSV, Parquet, Excel) with clear, located errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from coreduce import schema
from coreduce.errors import InputError

_READERS = {
    ".csv": "csv",
    ".gz": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "excel",
    ".xls": "excel",
}


def read_raw(path: str | Path) -> pd.DataFrame:
    """Read a file as strings (no type guessing: validation does the typing and names bad cells).

    Raises
    ------
    InputError
        Missing file, unknown extension, unreadable or empty file, ragged CSV rows.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(str(p), "an existing file")
    kind = _READERS.get(p.suffix.lower())
    if kind is None:
        raise InputError(str(p), f"a file ending in one of {', '.join(sorted(_READERS))}", value=p.suffix)
    try:
        if kind == "csv":
            return pd.read_csv(
                p,
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                skipinitialspace=True,
                encoding="utf-8-sig",
            )
        if kind == "parquet":
            return pd.read_parquet(p)
        return pd.read_excel(p, dtype=str)
    except pd.errors.EmptyDataError:
        raise InputError(str(p), "a header line and at least one data row (the file is empty)") from None
    except pd.errors.ParserError as exc:
        msg = str(exc).splitlines()[0]
        row = None
        if "line" in msg:
            try:
                row = int(msg.split("line")[1].split(",")[0].strip())
            except ValueError:
                row = None
        raise InputError(str(p), f"the same number of fields on every line ({msg})", row=row) from None
    except UnicodeDecodeError:
        raise InputError(str(p), "UTF-8 text") from None
    except Exception as exc:  # pyarrow / openpyxl errors
        raise InputError(str(p), f"a readable {kind} file ({str(exc).splitlines()[0]})") from None


def read_table(path: str | Path, table: str) -> pd.DataFrame:
    """Read and validate one canonical table from a file.

    Parameters
    ----------
    path : str or pathlib.Path
        CSV (optionally gzip), Parquet or Excel file.
    table : str
        Canonical table name (``sites``, ``observations``, ``activity``, ``emission_factors``, ``inventory``).

    Returns
    -------
    pandas.DataFrame
        The validated, canonical frame.
    """
    return schema.validate(read_raw(path), table, source=str(path), row_offset=2)
