"""Mediation: the three-equation (Baron–Kenny) procedure with two-way FE, Sobel/Aroian tests and a cluster bootstrap.

(1) y = c x + controls + FE;  (2) m = a x + controls + FE;  (3) y = c' x + b m + controls + FE.
Indirect effect a b; Sobel z = a b / sqrt(b² s_a² + a² s_b²) (Sobel 1982), Aroian adds s_a² s_b² (Aroian 1947);
the bootstrap resamples whole entities (clusters) with replacement — a drawn entity appears as a new entity each
time it is drawn — re-estimates (2) and (3) and reports percentile and bias-corrected CIs of a b.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from coreduce.evaluate.fe import twfe
from coreduce.evaluate.panel import SOURCE, as_list, demean, ols, require_columns
from coreduce.evaluate.results import Estimate


@dataclass
class MediationResult:
    """The three equations and the indirect-effect tests."""

    equations: list[Estimate]
    a: float
    b: float
    c: float
    c_prime: float
    indirect: float
    sobel_z: float
    sobel_p: float
    aroian_z: float
    aroian_p: float
    boot_ci: tuple[float, float]
    boot_ci_bc: tuple[float, float]
    boot_se: float
    reps: int
    seed: int | None
    level: float
    boot: np.ndarray

    @property
    def share_mediated(self) -> float:
        """a b / c (the proportion of the total effect that runs through the mediator)."""
        return self.indirect / self.c if self.c else float("nan")

    def to_dict(self) -> dict[str, Any]:
        keys = ("a", "b", "c", "c_prime", "indirect", "sobel_z", "sobel_p", "aroian_z", "aroian_p", "boot_se")
        out: dict[str, Any] = {k: float(getattr(self, k)) for k in keys}
        out.update(
            boot_ci=list(self.boot_ci),
            boot_ci_bc=list(self.boot_ci_bc),
            reps=self.reps,
            seed=self.seed,
            level=self.level,
            share_mediated=self.share_mediated,
        )
        return out


def mediation(
    data: pd.DataFrame,
    y: str,
    x: str,
    m: str,
    controls: str | Sequence[str] | None = None,
    *,
    entity: str,
    time: str,
    cluster: str | None = None,
    reps: int = 500,
    seed: int | None = None,
    level: float = 0.95,
    source: str = SOURCE,
) -> MediationResult:
    """Three-equation mediation analysis with entity + time FE (see the module docstring).

    Returns
    -------
    MediationResult
        ``equations`` (the three pyfixest fits as :class:`Estimate`, clustered by ``cluster`` or ``entity``),
        a, b, c, c', a b, Sobel and Aroian z and p, bootstrap percentile and bias-corrected CIs.
    """
    cs = [c for c in as_list(controls) if c != m]  # the mediator cannot also be a control
    require_columns(data, [y, x, m, *cs, entity, time], source=source)
    d = data[list(dict.fromkeys([entity, time, y, x, m, *cs, *([cluster] if cluster else [])]))].dropna()
    d = d.reset_index(drop=True)
    kw = dict(entity=entity, time=time, cluster=cluster, stepwise=False, source=source)
    eq1 = twfe(d, y, x, cs, **kw)[0]
    eq2 = twfe(d, m, x, cs, **kw)[0]
    eq3 = twfe(d, y, [x, m], cs, **kw)[0]
    for e, name in zip((eq1, eq2, eq3), ("(1) total", "(2) mediator", "(3) direct"), strict=True):
        e.name = name
    a, sa = float(eq2.coef[x]), float(eq2.se[x])
    b, sb = float(eq3.coef[m]), float(eq3.se[m])
    ab = a * b
    sobel_z = ab / np.sqrt(b**2 * sa**2 + a**2 * sb**2)
    aroian_z = ab / np.sqrt(b**2 * sa**2 + a**2 * sb**2 + sa**2 * sb**2)

    # cluster bootstrap of a*b
    unit = cluster or entity
    ucode, uindex = pd.factorize(d[unit])
    rows_of = [np.flatnonzero(ucode == u) for u in range(len(uindex))]
    arr = d[[y, m, x, *cs]].to_numpy(float)
    tcode = pd.factorize(d[time])[0]
    rng = np.random.default_rng(seed)
    boot = np.empty(reps)
    for r in range(reps):
        draw = rng.integers(0, len(rows_of), size=len(rows_of))
        idx = np.concatenate([rows_of[u] for u in draw])
        new_unit = np.repeat(np.arange(len(draw)), [len(rows_of[u]) for u in draw])
        ent = pd.factorize(d[entity].to_numpy()[idx])[0] if unit != entity else new_unit
        if unit != entity:  # entities nested in the drawn clusters: make each draw's entities distinct
            ent = pd.factorize(pd.Series(new_unit).astype(str) + "|" + pd.Series(ent).astype(str))[0]
        codes = np.column_stack([ent, tcode[idx]]).astype(np.uint64)
        dm = demean(arr[idx], codes, tol=1e-10)
        a_r = ols(dm[:, [2, *range(3, dm.shape[1])]], dm[:, 1])[0]
        b_r = ols(dm[:, [2, 1, *range(3, dm.shape[1])]], dm[:, 0])[1]
        boot[r] = a_r * b_r
    alpha = 1 - level
    ci = (float(np.quantile(boot, alpha / 2)), float(np.quantile(boot, 1 - alpha / 2)))
    z0 = stats.norm.ppf(np.clip(np.mean(boot < ab), 1 / (2 * reps), 1 - 1 / (2 * reps)))
    zc = stats.norm.ppf(1 - alpha / 2)
    ci_bc = (
        float(np.quantile(boot, stats.norm.cdf(2 * z0 - zc))),
        float(np.quantile(boot, stats.norm.cdf(2 * z0 + zc))),
    )
    return MediationResult(
        equations=[eq1, eq2, eq3],
        a=a,
        b=b,
        c=float(eq1.coef[x]),
        c_prime=float(eq3.coef[x]),
        indirect=ab,
        sobel_z=float(sobel_z),
        sobel_p=float(2 * stats.norm.sf(abs(sobel_z))),
        aroian_z=float(aroian_z),
        aroian_p=float(2 * stats.norm.sf(abs(aroian_z))),
        boot_ci=ci,
        boot_ci_bc=ci_bc,
        boot_se=float(boot.std(ddof=1)),
        reps=reps,
        seed=seed,
        level=level,
        boot=boot,
    )
