"""Heterogeneity: split-sample two-way FE, Fisher permutation test and a stacked (SUEST-style) interaction test.

The permutation test follows the usual "bdiff" design: the group label is a property of the entity; it is
re-drawn B times by permuting the entities' labels (group sizes fixed), both subsamples are re-estimated and the
coefficient difference d* recorded. The p-values are the share of d* at least as large as the observed d
(one-sided, as bdiff reports) and of |d*| >= |d| (two-sided). Each replication absorbs the fixed effects with
pyfixest's compiled demeaner and solves one small least-squares problem per group, so 1,000 replications take
about a second on a 284 x 13 panel.

The interaction test estimates both groups in one fully interacted model (every slope and the time effects
interacted with the group; entity FE) with entity-clustered SEs and tests b_1 = b_0: the coefficients equal the
split-sample ones and, with disjoint clusters, the covariance is the SUEST one up to the small-sample factor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from coreduce.errors import InputError
from coreduce.evaluate.fe import twfe
from coreduce.evaluate.panel import SOURCE, as_list, demean, ols, require_columns
from coreduce.evaluate.results import Estimate


def _groups(data: pd.DataFrame, entity: str, group: str, source: str) -> tuple[list[Any], pd.Series]:
    require_columns(data, [entity, group], source=source)
    per = data.groupby(entity)[group].nunique()
    if (per > 1).any():
        raise InputError(source, f"a group that is constant within each {entity}", column=group, value=per.idxmax())
    labels = data.groupby(entity)[group].first()
    levels = sorted(labels.dropna().unique().tolist())
    if len(levels) != 2:
        raise InputError(source, "exactly two groups", column=group, value=levels)
    return levels, labels


def split_sample(
    data: pd.DataFrame,
    y: str,
    x: str,
    controls: str | Sequence[str] | None,
    *,
    entity: str,
    time: str,
    group: str,
    cluster: str | None = None,
    source: str = SOURCE,
) -> list[Estimate]:
    """Two-way FE in each of the two groups (models named ``group=level``)."""
    levels, _ = _groups(data, entity, group, source)
    out = []
    for lev in levels:
        est = twfe(data[data[group] == lev], y, x, controls, entity=entity, time=time, cluster=cluster, stepwise=False)
        est[0].name = f"{group}={lev}"
        out.append(est[0])
    return out


@dataclass
class PermutationTest:
    """Fisher permutation test of b(group 1) - b(group 0) for one coefficient."""

    coef: str
    groups: list[Any]
    b: tuple[float, float]
    diff: float
    p_one_sided: float
    p_two_sided: float
    reps: int
    seed: int | None
    null: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {
            "coef": self.coef,
            "groups": [str(g) for g in self.groups],
            "b": list(self.b),
            "diff": self.diff,
            "p_one_sided": self.p_one_sided,
            "p_two_sided": self.p_two_sided,
            "reps": self.reps,
            "seed": self.seed,
        }


def permutation_test(
    data: pd.DataFrame,
    y: str,
    x: str,
    controls: str | Sequence[str] | None,
    *,
    entity: str,
    time: str,
    group: str,
    reps: int = 1000,
    seed: int | None = None,
    source: str = SOURCE,
) -> PermutationTest:
    """Permute the entities' group labels ``reps`` times; re-estimate the coefficient of ``x`` in both groups.

    Returns
    -------
    PermutationTest
        ``diff`` = b(second level) - b(first level) (levels sorted), its one- and two-sided permutation p-values
        (share of replications with d* >= d, resp. |d*| >= |d|) and the null draws.
    """
    cs = as_list(controls)
    cols = [y, x, *cs]
    require_columns(data, [*cols, time], source=source)
    levels, labels = _groups(data, entity, group, source)
    d = data[[entity, time, group, *cols]].dropna().reset_index(drop=True)
    ent_codes, ent_index = pd.factorize(d[entity])
    unit_label = (labels.reindex(ent_index).to_numpy() == levels[1]).astype(int)  # 1 = second group
    arr = d[cols].to_numpy(float)
    tcode = pd.factorize(d[time])[0]

    def coef_for(mask: np.ndarray) -> float:
        sub = arr[mask]
        codes = np.column_stack([ent_codes[mask], tcode[mask]]).astype(np.uint64)
        dm = demean(sub, codes, tol=1e-10)
        return float(ols(dm[:, 1:], dm[:, 0])[0])

    def diff_for(unit_lab: np.ndarray) -> tuple[float, float]:
        row_lab = unit_lab[ent_codes]
        return coef_for(row_lab == 0), coef_for(row_lab == 1)

    b0, b1 = diff_for(unit_label)
    obs = b1 - b0
    rng = np.random.default_rng(seed)
    null = np.empty(reps)
    for r in range(reps):
        p0, p1 = diff_for(rng.permutation(unit_label))
        null[r] = p1 - p0
    return PermutationTest(
        coef=x,
        groups=levels,
        b=(b0, b1),
        diff=obs,
        p_one_sided=float(np.mean(null >= obs)) if obs >= 0 else float(np.mean(null <= obs)),
        p_two_sided=float(np.mean(np.abs(null) >= abs(obs))),
        reps=reps,
        seed=seed,
        null=null,
    )


def interaction_test(
    data: pd.DataFrame,
    y: str,
    x: str,
    controls: str | Sequence[str] | None,
    *,
    entity: str,
    time: str,
    group: str,
    cluster: str | None = None,
    source: str = SOURCE,
) -> dict[str, Any]:
    """Stacked fully interacted model; Wald (t) test of equal coefficients of ``x`` across the two groups.

    Returns ``{"b0", "b1", "diff", "se", "t", "p", "df"}`` with entity-clustered (or ``cluster``) CRV1 SEs and
    t(G - 1) p-values.
    """
    import pyfixest as pf

    cs = as_list(controls)
    levels, _ = _groups(data, entity, group, source)
    d = data[[entity, time, group, y, x, *cs, *([cluster] if cluster and cluster not in (entity, time) else [])]]
    d = d.dropna().copy()
    d["_g"] = (d[group] == levels[1]).astype(int)
    terms = []
    for v in [x, *cs]:
        for k in (0, 1):
            name = f"{v}__g{k}"
            d[name] = d[v] * (d["_g"] == k)
            terms.append(name)
    cl = cluster or entity
    fit = pf.feols(f"{y} ~ {' + '.join(terms)} | {entity} + _g^{time}", d, vcov={"CRV1": cl})
    names = list(fit.coef().index)
    i0, i1 = names.index(f"{x}__g0"), names.index(f"{x}__g1")
    v = np.asarray(fit._vcov)
    b = fit.coef().to_numpy()
    diff = float(b[i1] - b[i0])
    se = float(np.sqrt(v[i1, i1] + v[i0, i0] - 2 * v[i0, i1]))
    df = int(d[cl].nunique() - 1)
    t = diff / se
    return {
        "b0": float(b[i0]),
        "b1": float(b[i1]),
        "diff": diff,
        "se": se,
        "t": t,
        "p": float(2 * stats.t.sf(abs(t), df)),
        "df": df,
        "groups": [str(g) for g in levels],
    }
