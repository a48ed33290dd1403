"""2SLS with absorbed fixed effects, first stages and Kleibergen–Paap rk statistics (on linearmodels).

The fixed effects are absorbed by demeaning every variable (pyfixest's MAP demeaner, tolerance 1e-12); the
demeaned data go to :class:`linearmodels.iv.IV2SLS`, whose ``first_stage`` gives the Kleibergen–Paap rk LM and
rk Wald F statistics (checked against ivreg2r reference values in ``tests/evaluate/test_iv.py``) and the
Cragg–Donald F. The coefficient covariance is linearmodels' cluster sandwich rescaled to the reghdfe/ivreghdfe
convention ``G/(G-1) * (n-1)/(n-K)`` with K = slopes + the fixed-effect levels not nested in the cluster, so the
2SLS SEs equal pyfixest's (tested), and tables never mix conventions.

The KP statistics are computed by linearmodels on the demeaned data. Its finite-sample scaling of the rk Wald F,
``chi2 * (n - L) / n / L1`` (robust) or ``chi2 * (n - L) / (n - 1) * (G - 1) / G / L1`` (clustered; L the
instruments including the included exogenous regressors, L1 the excluded ones), does not know about the absorbed
fixed effects; :func:`kp_wald_f_ivreghdfe` rescales it to ivreghdfe's ``n - L - sdofminus`` with sdofminus = the
absorbed degrees of freedom plus the constant (ivreghdfe.ado, Correia, lines 668–711 and 1826–1836 of the 2023
version), so the reported F equals what Stata users see. Without clusters, or when no fixed effect is nested in the
cluster, this is exactly the F of the same model with the FE written as dummies (tested against linearmodels on
the LSDV regression). The rk LM statistic needs no rescaling (it equals the LSDV computation, tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from coreduce.errors import InputError
from coreduce.evaluate.panel import SOURCE, as_list, require_columns, require_numeric
from coreduce.evaluate.results import Estimate


@cache
def stock_yogo_table() -> pd.DataFrame:
    """Stock–Yogo (2005) weak-instrument critical values (``evaluate/data/stock_yogo.csv``, cited per row)."""
    with resources.files("coreduce.evaluate").joinpath("data/stock_yogo.csv").open(encoding="utf-8") as fh:
        return pd.read_csv(fh)


def stock_yogo(n_endog: int, n_instruments: int) -> dict[str, float]:
    """Critical values for the Cragg–Donald / KP Wald F, e.g. ``{"size 10%": 16.38, ..., "bias 5%": ...}``.

    Empty when the table has no entry (size: 1–2 endogenous, 1–10 instruments; bias: 1–3 endogenous,
    3–10 instruments, and at least as many instruments as endogenous regressors).
    """
    t = stock_yogo_table()
    sel = t[(t.n_endog == n_endog) & (t.n_instruments == n_instruments)]
    return {f"{r.test} {round(r.threshold * 100)}%": float(r.critical_value) for r in sel.itertuples()}


def absorb(frame: pd.DataFrame, fe: Sequence[pd.Series]) -> pd.DataFrame:
    """Demean every column of ``frame`` by the fixed effects ``fe`` (alternating projections, tol 1e-12)."""
    if not fe:
        return frame
    from pyfixest.estimation import demean

    codes = np.column_stack([pd.factorize(f)[0] for f in fe]).astype(np.uint64)
    x = frame.to_numpy(dtype=float)
    res, ok = demean(x, codes, np.ones(len(frame)), tol=1e-12, maxiter=100_000)
    if not ok:
        raise InputError(SOURCE, "fixed effects that the demeaning algorithm can absorb (it did not converge)")
    return pd.DataFrame(res, index=frame.index, columns=frame.columns)


def _nested(fe: pd.Series, cluster: pd.Series) -> bool:
    return bool((pd.DataFrame({"f": fe.to_numpy(), "c": cluster.to_numpy()}).groupby("f")["c"].nunique() == 1).all())


def fe_dof(fe: Sequence[pd.Series], cluster: pd.Series | None) -> int:
    """Fixed-effect parameters counted in K by reghdfe/fixest: levels of FE not nested in the cluster.

    Non-nested FE cost sum(levels) - (their number - 1); when every FE is nested in the cluster the constant
    they absorb still counts as 1.
    """
    if not fe:
        return 0
    free = [f for f in fe if cluster is None or not _nested(f, cluster)]
    if not free:
        return 1
    return int(sum(f.nunique() for f in free) - (len(free) - 1))


def ivreghdfe_sdofminus(fe: Sequence[pd.Series], cluster: pd.Series | None) -> int:
    """ivreghdfe's small-sample ``sdofminus`` for absorbed fixed effects: the constant plus reghdfe's ``df_a``.

    reghdfe's ``df_a`` drops one redundant level per extra FE and every FE nested in the cluster; ivreghdfe counts a
    ``df_a`` of 0 (all FE nested) as 1 ("adjustment to match ivreg2 and old reghdfe") and adds the partialled-out
    constant. Without fixed effects nothing is absorbed (0: the constant is an included regressor).
    """
    if not fe:
        return 0
    df_a = fe_dof(fe, cluster) - 1  # fe_dof counts the absorbed constant
    return 1 + max(df_a, 1)


def kp_wald_f_ivreghdfe(f_linearmodels: float, n: int, l_total: int, sdofminus: int) -> float:
    """Rescale linearmodels' rk Wald F or Cragg–Donald F (dof ``n - L``) to ivreghdfe's (``n - L - sdofminus``)."""
    if sdofminus == 0:
        return f_linearmodels
    return f_linearmodels * (n - l_total - sdofminus) / (n - l_total)


@dataclass
class IVResult:
    """2SLS estimate (as an :class:`Estimate`) with its first stages and identification statistics."""

    estimate: Estimate
    first_stage: pd.DataFrame
    diagnostics: dict[str, Any]
    stock_yogo: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate.to_dict(),
            "first_stage": self.first_stage.to_dict(orient="records"),
            "diagnostics": self.diagnostics,
            "stock_yogo": self.stock_yogo,
        }


def iv2sls(
    data: pd.DataFrame,
    y: str,
    endog: str | Sequence[str],
    instruments: str | Sequence[str],
    exog: str | Sequence[str] | None = None,
    *,
    fe: str | Sequence[str] | None = None,
    cluster: str | None = None,
    name: str = "2SLS",
    source: str = SOURCE,
) -> IVResult:
    """Two-stage least squares with absorbed fixed effects and Kleibergen–Paap diagnostics.

    Parameters
    ----------
    data : pandas.DataFrame
    y : str
        Dependent variable.
    endog : str or list of str
        Endogenous regressors (any number).
    instruments : str or list of str
        Excluded instruments (at least as many as ``endog``).
    exog : str or list of str, optional
        Included exogenous controls.
    fe : str or list of str, optional
        Fixed effects to absorb (e.g. ``["city", "year"]``); without them a constant is included.
    cluster : str, optional
        Cluster variable (default: heteroskedasticity-robust).

    Returns
    -------
    IVResult
        ``estimate`` (coefficients, reghdfe-convention SEs), ``first_stage`` (one row per endogenous regressor and
        instrument: coefficient, SE, plus partial R² and F), ``diagnostics`` (``kp_rk_lm``, ``kp_rk_lm_p``,
        ``kp_rk_lm_df``, ``kp_rk_wald_f``, ``cragg_donald_f``) and Stock–Yogo critical values.

    References
    ----------
    Kleibergen, F. and Paap, R. (2006). Generalized reduced rank tests using the singular value decomposition.
    *Journal of Econometrics* 133(1), 97–126. Stock and Yogo (2005), see ``data/stock_yogo.csv``.
    """
    from linearmodels.iv import IV2SLS

    en, zs, xs, fes = as_list(endog), as_list(instruments), as_list(exog), as_list(fe)
    cols = [y, *en, *zs, *xs]
    require_columns(data, [*cols, *fes, *([cluster] if cluster else [])], source=source)
    if not en:
        raise InputError(source, "at least one endogenous regressor", column="endog")
    if len(zs) < len(en):
        raise InputError(source, f"at least {len(en)} excluded instruments (order condition)", column="instruments")
    df = data[list(dict.fromkeys([*cols, *fes, *([cluster] if cluster else [])]))].dropna().reset_index(drop=True)
    require_numeric(df, cols, source=source)
    fe_series = [df[f] for f in fes]
    dm = absorb(df[cols].astype(float), fe_series)
    exog_df = dm[xs] if xs else None
    if not fes:
        const = pd.DataFrame({"const": np.ones(len(dm))})
        exog_df = const if exog_df is None else pd.concat([const, exog_df], axis=1)
    if cluster:
        fit_kw: dict[str, Any] = {"cov_type": "clustered", "clusters": pd.Series(pd.factorize(df[cluster])[0])}
    else:
        fit_kw = {"cov_type": "robust"}
    res = IV2SLS(dm[y], exog_df, dm[en], dm[zs]).fit(**fit_kw)
    n = len(df)
    k = len(res.params)
    k_total = k + fe_dof(fe_series, df[cluster] if cluster else None)
    if cluster:
        g = df[cluster].nunique()
        adj = g / (g - 1) * (n - 1) / (n - k_total)
        vlabel = f"CRV1 clustered by {cluster}"
    else:
        adj = n / (n - k_total)  # HC1
        vlabel = "heteroskedasticity-robust (HC1)"
    cov = res.cov * adj
    se = pd.Series(np.sqrt(np.diag(cov)), index=res.params.index)
    from scipy import stats as st

    tdist = st.t(df=(df[cluster].nunique() - 1) if cluster else (n - k_total))
    pval = pd.Series(2 * tdist.sf(np.abs(res.params / se)), index=res.params.index)
    resid = dm[y].to_numpy() - res.fitted_values.to_numpy().ravel()
    tss_within = float(((dm[y] - dm[y].mean()) ** 2).sum())
    fs = res.first_stage
    kp = fs.kleibergen_paap
    sdof = ivreghdfe_sdofminus(fe_series, df[cluster] if cluster else None)
    diag = {
        "kp_rk_lm": float(kp.stat),
        "kp_rk_lm_p": float(kp.pval),
        "kp_rk_lm_df": int(kp.df),
        "kp_rk_wald_f": kp_wald_f_ivreghdfe(float(fs.kleibergen_paap_f), n, len(zs) + len(xs), sdof),
        # ivreghdfe: cdf = cd * (N - sdofminus - iv1_ct) / exex1_ct, the same rescaling
        "cragg_donald_f": kp_wald_f_ivreghdfe(float(fs.cragg_donald_f), n, len(zs) + len(xs), sdof),
        "sdofminus": sdof,
        "n_endog": len(en),
        "n_instruments": len(zs),
    }
    rows = []
    fd = fs.diagnostics
    for e in en:
        ind = fs.individual[e]
        for z in zs:
            rows.append(
                {
                    "endog": e,
                    "instrument": z,
                    "coef": float(ind.params[z]),
                    "se": float(ind.std_errors[z]),
                    "partial_r2": float(fd.loc[e, "partial.rsquared"]),
                    "partial_f": float(fd.loc[e, "f.stat"]),
                }
            )
    est = Estimate(
        name=name,
        depvar=y,
        coef=res.params.rename(None),
        se=se,
        pvalue=pval,
        nobs=n,
        r2=None,
        r2_within=1 - float(resid @ resid) / tss_within if tss_within > 0 else None,
        fixed_effects=fes,
        controls=xs,
        vcov=vlabel,
        engine="linearmodels IV2SLS (reghdfe df)",
        stats=diag,
        fit=res,
    )
    return IVResult(est, pd.DataFrame(rows), diag, stock_yogo(len(en), len(zs)))
