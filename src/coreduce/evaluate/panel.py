"""Panel-data helpers shared by the estimators: column checks, balance checks, one clear error each."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from coreduce.errors import InputError

SOURCE = "<DataFrame>"


def as_list(value: str | Sequence[str] | None) -> list[str]:
    """``"a,b"`` / ``["a", "b"]`` / ``None`` -> a list of column names."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def require_columns(data: pd.DataFrame, columns: Sequence[str], *, source: str = SOURCE) -> None:
    """Raise :class:`InputError` for the first column that is missing from ``data``."""
    for col in columns:
        if col not in data.columns:
            raise InputError(source, f"a column named '{col}' (have: {', '.join(map(str, data.columns))})", column=col)


def require_numeric(data: pd.DataFrame, columns: Sequence[str], *, source: str = SOURCE) -> None:
    """Raise :class:`InputError` naming the first non-numeric or missing value in ``columns``.

    Rows are reported 1-based as in a CSV file with a header line (data row ``i`` is line ``i + 2``).
    """
    for col in columns:
        values = pd.to_numeric(data[col], errors="coerce")
        bad = values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise InputError(source, "a finite number", row=pos + 2, column=col, value=data[col].iloc[pos])


def balanced_panel(
    data: pd.DataFrame, entity: str, time: str, *, source: str = SOURCE
) -> tuple[pd.DataFrame, int, int]:
    """Sort ``data`` by (entity, time) and check it is a strongly balanced panel.

    Returns
    -------
    (sorted frame, N entities, T periods)

    Raises
    ------
    InputError
        On a duplicated (entity, time) pair or an entity that lacks some period.
    """
    dup = data.duplicated([entity, time])
    if dup.any():
        pos = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(
            source, f"one row per ({entity}, {time}) pair", row=pos + 2, column=time, value=data[time].iloc[pos]
        )
    out = data.sort_values([entity, time], kind="stable").reset_index(drop=True)
    counts = out.groupby(entity, sort=False)[time].size()
    n_periods = out[time].nunique()
    short = counts[counts != n_periods]
    if len(short):
        ent = short.index[0]
        raise InputError(
            source,
            f"a balanced panel: every {entity} observed in all {n_periods} periods of '{time}' "
            f"(this one has {int(short.iloc[0])}; drop or fill it first)",
            column=entity,
            value=ent,
        )
    return out, len(counts), int(n_periods)


def fe_codes(data: pd.DataFrame, fe: Sequence[str]) -> np.ndarray:
    """Integer codes (n x len(fe), uint64) of the fixed-effect columns, for :func:`demean`."""
    return np.column_stack([pd.factorize(data[f])[0] for f in fe]).astype(np.uint64)


def demean(x: np.ndarray, codes: np.ndarray, *, tol: float = 1e-12) -> np.ndarray:
    """Absorb the fixed effects ``codes`` from the columns of ``x`` (pyfixest's compiled MAP demeaner)."""
    from pyfixest.estimation import demean as _demean

    x = np.asarray(x, dtype=float)
    two_d = x.reshape(len(x), -1)
    res, ok = _demean(np.ascontiguousarray(two_d), codes, np.ones(len(x)), tol=tol, maxiter=100_000)
    if not ok:
        raise InputError(SOURCE, "fixed effects that the demeaning algorithm can absorb (it did not converge)")
    return res.reshape(x.shape)


def ols(xd: np.ndarray, yd: np.ndarray) -> np.ndarray:
    """Least-squares coefficients of demeaned data (no intercept)."""
    return np.linalg.lstsq(xd, yd, rcond=None)[0]
