"""Baseline two-way fixed effects with cluster-robust SEs and stepwise controls (on pyfixest).

Standard errors follow the reghdfe/fixest convention (pyfixest 0.60 default): CRV1 with
``G/(G-1) * (n-1)/(n-K)``, where fixed effects nested in the cluster variable are not counted in K.
linearmodels' two-way ``PanelOLS`` counts every absorbed effect and applies no ``G/(G-1)``; the two differ by a
known factor (see ``tests/evaluate/test_fe.py`` and ``shared/reference/econometrics.md`` §5). Never mix SEs from
different engines within one table.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from coreduce.errors import InputError
from coreduce.evaluate.panel import SOURCE, as_list, require_columns
from coreduce.evaluate.results import Estimate, from_pyfixest, vcov_label


def _vcov(cluster: str | None, entity: str | None, vcov: str | dict[str, str] | None) -> str | dict[str, str]:
    if vcov is not None:
        return vcov
    if cluster is not None:
        return {"CRV1": cluster}
    if entity is not None:
        return {"CRV1": entity}
    return "hetero"


def fe_formula(y: str, rhs: Sequence[str], fe: Sequence[str], *, stepwise: Sequence[str] = ()) -> str:
    """A pyfixest formula: ``y ~ x1 + x2 + csw0(c1, c2) | fe1 + fe2``."""
    terms = list(rhs)
    if stepwise:
        terms.append(f"csw0({', '.join(stepwise)})")
    right = " + ".join(terms) if terms else "1"
    return f"{y} ~ {right}" + (f" | {' + '.join(fe)}" if fe else "")


def twfe(
    data: pd.DataFrame,
    y: str,
    x: str | Sequence[str],
    controls: str | Sequence[str] | None = None,
    *,
    entity: str,
    time: str | None,
    cluster: str | None = None,
    stepwise: bool = True,
    vcov: str | dict[str, str] | None = None,
    extra_fe: str | Sequence[str] | None = None,
    source: str = SOURCE,
) -> list[Estimate]:
    """Two-way (entity + time) fixed-effects regressions, adding the controls one at a time (``csw0``).

    Parameters
    ----------
    data : pandas.DataFrame
        Panel in long form.
    y : str
        Dependent variable.
    x : str or list of str
        Variables of interest (always included).
    controls : str or list of str, optional
        Control variables; with ``stepwise=True`` column k adds the first k controls (column 1 has none),
        the layout of the usual "Table 1"; otherwise one model with all controls.
    entity, time : str
        Fixed effects (``time=None`` for one-way entity FE).
    cluster : str, optional
        Cluster variable (default: ``entity``).
    vcov : str or dict, optional
        Overrides the covariance (pyfixest syntax: ``"iid"``, ``"hetero"``, ``{"CRV1": "city"}``).
    extra_fe : str or list of str, optional
        More absorbed fixed effects (e.g. province-by-year).

    Returns
    -------
    list of Estimate
        One per column, named ``(1)``, ``(2)``, ...; ``fit`` keeps the pyfixest ``Feols``.
    """
    import pyfixest as pf

    xs, cs = as_list(x), as_list(controls)
    fes = [entity] + ([time] if time else []) + as_list(extra_fe)
    cov = _vcov(cluster, entity, vcov)
    cl = [cov[next(iter(cov))]] if isinstance(cov, dict) else []
    require_columns(data, [y, *xs, *cs, *fes, *cl], source=source)
    if not xs:
        raise InputError(source, "at least one regressor of interest", column="x")
    if y in xs or y in cs:
        raise InputError(source, f"a dependent variable that is not also a regressor ('{y}')", column=y)
    if stepwise and cs:
        fml = fe_formula(y, xs, fes, stepwise=cs)
    else:
        fml = fe_formula(y, xs + cs, fes)
    fit = pf.feols(fml, data=data, vcov=cov)
    fits = fit.to_list() if hasattr(fit, "to_list") else [fit]
    out = []
    for i, f in enumerate(fits):
        used = [c for c in cs if c in f.coef().index]
        out.append(from_pyfixest(f, name=f"({i + 1})", controls=used, vcov=vcov_label(cov)))
    return out


def feols(
    data: pd.DataFrame,
    formula: str,
    *,
    vcov: str | dict[str, str] = "hetero",
    name: str = "(1)",
    controls: Sequence[str] = (),
) -> Estimate:
    """Any pyfixest formula as one :class:`Estimate` (for the robustness and heterogeneity batteries)."""
    import pyfixest as pf

    fit = pf.feols(formula, data=data, vcov=vcov)
    if hasattr(fit, "to_list"):
        fit = fit.to_list()[0]
    return from_pyfixest(fit, name=name, controls=list(controls), vcov=vcov_label(vcov))
