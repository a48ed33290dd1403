"""Robustness battery: alternative variables, winsorising (Stata's percentiles), sub-periods, dropped groups.

Every variant is the baseline two-way FE model with all controls (:func:`coreduce.evaluate.fe.twfe`), so the
variants sit side by side in one table with the same SE convention.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from coreduce.errors import InputError
from coreduce.evaluate.fe import twfe
from coreduce.evaluate.panel import SOURCE, as_list, require_columns
from coreduce.evaluate.results import Estimate


def stata_percentile(values: np.ndarray | pd.Series, p: float) -> float:
    """The p-th percentile (0 < p < 100) as Stata's ``summarize, detail``/``_pctile``/``winsor2`` compute it.

    Sort the n non-missing values x(1) <= ... <= x(n); P = n p / 100, i = floor(P). If P is an integer the
    percentile is (x(i) + x(i+1)) / 2, otherwise x(i+1) (Stata [R] summarize, Methods and formulas; the
    "averaged inverted empirical CDF", Hyndman–Fan definition 2).
    """
    x = np.sort(np.asarray(values, dtype=float)[~np.isnan(np.asarray(values, dtype=float))])
    n = len(x)
    if n == 0:
        return float("nan")
    big_p = n * p / 100.0
    i = math.floor(big_p)
    if math.isclose(big_p, i, rel_tol=0, abs_tol=1e-9):
        i = round(big_p)
        if i <= 0:
            return float(x[0])
        if i >= n:
            return float(x[-1])
        return float((x[i - 1] + x[i]) / 2)
    return float(x[min(i, n - 1)])


def winsorize(
    values: pd.Series, cuts: tuple[float, float] = (1, 99), *, by: pd.Series | None = None, trim: bool = False
) -> pd.Series:
    """``winsor2 v, cuts(1 99) [by()] [trim]``: values beyond the percentiles set to them (or to NaN with trim)."""
    lo_p, hi_p = cuts

    def one(s: pd.Series) -> pd.Series:
        lo, hi = stata_percentile(s, lo_p), stata_percentile(s, hi_p)
        if trim:
            return s.where((s >= lo) & (s <= hi))
        return s.clip(lower=lo, upper=hi)

    if by is None:
        return one(values)
    return values.groupby(by, group_keys=False).apply(one).reindex(values.index)


@dataclass
class Variant:
    """One robustness specification (how the data or variables differ from the baseline)."""

    label: str
    y: str | None = None
    x: str | None = None
    winsor: float | None = None
    winsor_by: str | None = None
    period: tuple[Any, Any] | None = None
    drop_column: str | None = None
    drop_values: list[Any] = field(default_factory=list)


def robustness(
    data: pd.DataFrame,
    y: str,
    x: str,
    controls: str | Sequence[str] | None,
    *,
    entity: str,
    time: str,
    cluster: str | None = None,
    variants: Sequence[Variant | dict[str, Any]] = (),
    winsor_vars: Sequence[str] | None = None,
    source: str = SOURCE,
) -> list[Estimate]:
    """Baseline plus each variant, as a list of :class:`Estimate` named by the variant label.

    Variant keys: ``y`` / ``x`` (alternative variable; its coefficient is reported under the baseline name so it
    lines up in the table), ``winsor`` (1 or 5: winsorise ``winsor_vars``, default y, x and the controls, at
    that percent in each tail; ``winsor_by`` = a column such as the year, as ``winsor2 …, by(year)``),
    ``period`` (inclusive ``(start, end)`` of ``time``), ``drop_column`` + ``drop_values`` (drop entities whose
    column takes these values, e.g. municipalities or pilot cities).
    """
    cs = as_list(controls)
    out = [_fit(data, y, x, cs, entity, time, cluster, "Baseline", x, source)]
    for v in variants:
        v = v if isinstance(v, Variant) else Variant(**v)
        d = data
        yy, xx = v.y or y, v.x or x
        if v.winsor is not None:
            cols = list(winsor_vars) if winsor_vars else [yy, xx, *cs]
            require_columns(d, cols, source=source)
            d = d.copy()
            by = None
            if v.winsor_by:
                require_columns(d, [v.winsor_by], source=source)
                by = d[v.winsor_by]
            for c in cols:
                d[c] = winsorize(d[c].astype(float), (v.winsor, 100 - v.winsor), by=by)
        if v.period is not None:
            lo, hi = v.period
            d = d[(d[time] >= lo) & (d[time] <= hi)]
        if v.drop_column is not None:
            require_columns(d, [v.drop_column], source=source)
            d = d[~d[v.drop_column].isin(v.drop_values)]
        if d.empty:
            raise InputError(source, f"observations left after applying variant '{v.label}'")
        out.append(_fit(d, yy, xx, cs, entity, time, cluster, v.label, x, source))
    return out


def _fit(d, y, x, cs, entity, time, cluster, label, x_name, source) -> Estimate:
    est = twfe(d, y, x, cs, entity=entity, time=time, cluster=cluster, stepwise=False, source=source)[0]
    est.name = label
    if x != x_name:  # report an alternative regressor in the baseline's row
        est.coef = est.coef.rename({x: x_name})
        est.se = est.se.rename({x: x_name})
        est.pvalue = est.pvalue.rename({x: x_name})
        est.stats["regressor"] = x
    return est
