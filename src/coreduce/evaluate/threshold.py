"""Hansen (1999) fixed-effect panel threshold regression: single, double and triple thresholds.

Model (balanced panel, N entities x T periods)::

    y_it = mu_i + theta' z_it + beta_1' x_it 1(q_it < g_1) + ... + beta_{m+1}' x_it 1(q_it >= g_m) + e_it

Everything is computed after the within (entity-demeaning) transformation. The concentrated sum of squared
residuals over *all* candidate thresholds comes from one cumulative sum over the observations sorted by ``q``
(Frisch–Waugh–Lovell: ``S(g) = u'u - (w_g'u)' (w_g'w_g)^-1 (w_g'u)`` with ``u = M y``, ``w_g = M x 1(q < g)``),
so a search costs O(n) instead of one regression per grid point; conditional searches (the 2nd and 3rd
threshold) use a rank-k update of the same quantities, and the bootstrap runs all replications at once as
matrix operations. Nothing is JIT-compiled.

Two conventions, chosen by ``convention=``:

``"hansen"``
    Hansen's own programme (``thresh_p.R``; line-by-line port in R ``pdR::ptm``): demean each column by entity
    (the product x 1(q<g) is formed *before* demeaning), then drop the *last* period of every entity, so the
    regression has n = N(T-1) rows; regime indicator ``q < g`` (strict). This reproduces Hansen's published
    0.0157 / 0.5362 on his data with ``grid=400``.
``"all_periods"``
    The within transformation keeps all T periods (n = NT rows, the usual ``xtreg, fe`` / pyfixest estimator);
    regime indicator ``q <= g``. With ``grid=0`` this reproduces the exhaustive-search reference values of
    ``shared/data/hansen1999_investment/PROVENANCE.md`` (SSR 17.781651 single, 17.723696 double), which
    pyxthreg 0.0.3 ``grid=0`` and an independent NumPy search both give.

In both conventions sigma^2 = S/(N(T-1)) in the F and LR statistics (N(T-1) = the independent within
observations; Hansen 1999 eq. 9, ``ty`` in his code).

Candidates (``grid=``):
``grid = qn > 0`` (Hansen's quantile grid, 400 in his paper and xthreg): from the sorted unique values ``u`` of
``q``, take ``u[floor(s * #u)]`` (1-based, as in Hansen's code) for ``s = trim_1, trim_1 + 1/qn, ..., 1 - trim_1``.
A later threshold excludes the grid indices in Hansen's window ``[a - qn trim_j - 1, a + qn trim_j - 1)`` around
each fixed threshold at grid index ``a`` (0-based; the rule of ``thresh_p.R`` / ``pdR::r_est``).
``grid = 0`` (exhaustive): every distinct value of ``q`` that leaves at least ``floor(trim_1 * n_obs)``
observations in each regime (6,668 candidates on Hansen's data at 1 %, as in the PROVENANCE reference search);
a later threshold must be more than ``trim_j * n_obs`` observations away from each fixed one.

The matrix products here are tall and thin (n x 7); multi-threaded BLAS only adds contention, so the search
runs with BLAS limited to one thread (threadpoolctl).

References
----------
Hansen, B. E. (1999). Threshold effects in non-dynamic panels: Estimation, testing, and inference.
*Journal of Econometrics* 93(2), 345–368. doi:10.1016/S0304-4076(99)00025-1.
Wang, Q. (2015). Fixed-effect panel threshold model using Stata. *Stata Journal* 15(1), 121–134.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from coreduce.errors import InputError
from coreduce.evaluate.panel import SOURCE, as_list, balanced_panel, require_columns, require_numeric

Convention = Literal["hansen", "all_periods"]

__all__ = ["ThresholdResult", "ThresholdStage", "lr_critical_value", "threshold_regression"]


def lr_critical_value(level: float) -> float:
    """Asymptotic critical value of the LR(gamma) statistic: c(alpha) = -2 ln(1 - sqrt(level)).

    Hansen (1999) §3.3 / Hansen (2000) Theorem 2: 7.35 at 95 %, 5.94 at 90 %, 10.59 at 99 %.
    """
    if not 0.0 < level < 1.0:
        raise InputError(SOURCE, "a confidence level strictly between 0 and 1", column="level", value=level)
    return -2.0 * math.log(1.0 - math.sqrt(level))


# ----------------------------------------------------------------------------------------------------------------
# the search engine
# ----------------------------------------------------------------------------------------------------------------
class _Engine:
    """All concentrated-SSR searches for one design (z, x, q fixed); only y changes between calls.

    Arrays in "full" space have N*T rows sorted by (entity, time); "transformed" arrays have n rows (n = N(T-1)
    when the last period is dropped, else N*T). ``P`` is the transformation, ``A = P'`` its adjoint.
    """

    def __init__(
        self,
        z: np.ndarray,
        x: np.ndarray,
        q: np.ndarray,
        n_ent: int,
        n_per: int,
        *,
        drop_last: bool,
        strict: bool,
        candidates: np.ndarray,
    ) -> None:
        self.N, self.T, self.drop = n_ent, n_per, drop_last
        self.Tk = n_per - 1 if drop_last else n_per
        self.x = x
        self.kx = x.shape[1]
        self.order = np.argsort(q, kind="stable")
        self.rank = np.empty_like(self.order)
        self.rank[self.order] = np.arange(len(q))
        qs = q[self.order]
        self.candidates = candidates
        # k = number of observations in the lower regime for each candidate
        self.k = np.searchsorted(qs, candidates, side="left" if strict else "right")
        self.xs = x[self.order]
        # prefix sums at the candidate positions come from segment sums between the distinct positions (one
        # pass, G rows written) instead of a full cumulative sum (N*T rows written)
        edges = np.unique(self.k[self.k > 0])
        self._seg_starts = np.r_[0, edges[:-1]] if len(edges) else np.zeros(0, dtype=int)
        self._seg_trim = len(edges) > 0 and edges[-1] < len(q)
        if self._seg_trim:
            self._seg_starts = np.r_[self._seg_starts, edges[-1]]
        self._seg_map = np.searchsorted(edges, self.k, side="right")  # 0 -> empty prefix, j -> j-th edge

        base = np.column_stack([z, x])
        self.Bd = self.P(base)
        gram = self.Bd.T @ self.Bd
        if np.linalg.matrix_rank(gram) < gram.shape[0]:
            raise InputError(
                SOURCE,
                "regressors that vary within entities and are not collinear (a column is constant within every "
                "entity or a linear combination of others, so the fixed effects absorb it)",
            )
        self.BtBi = np.linalg.inv(gram)
        ab = self.A(self.Bd)  # (NT, kb)
        cxb = self._cumsum_at(self.xs[:, :, None] * ab[self.order][:, None, :])  # (G, kx, kb)
        self.XB = cxb
        self.WW = self._dppd() - np.einsum("gab,gdb->gad", cxb @ self.BtBi, cxb)

    # -- transformations -------------------------------------------------------------------------------------
    def P(self, v: np.ndarray) -> np.ndarray:
        """Within-transform full-space rows (N*T, ...) -> (n, ...): demean by entity, drop the last period."""
        shp = v.shape[1:]
        m = v.reshape((self.N, self.T, *shp))
        m = m - m.mean(axis=1, keepdims=True)
        if self.drop:
            m = m[:, : self.T - 1]
        return m.reshape((self.N * self.Tk, *shp))

    def A(self, u: np.ndarray) -> np.ndarray:
        """Adjoint of :meth:`P`: (n, ...) -> (N*T, ...)."""
        shp = u.shape[1:]
        m = u.reshape((self.N, self.Tk, *shp))
        if self.drop:
            m = np.concatenate([m, np.zeros((self.N, 1, *shp))], axis=1)
        m = m - m.mean(axis=1, keepdims=True)
        return m.reshape((self.N * self.T, *shp))

    def _cumsum_at(self, terms: np.ndarray) -> np.ndarray:
        """sum_{rank < k} terms, for every candidate k; ``terms`` are in q order."""
        if len(self._seg_starts) == 0:
            return np.zeros((len(self.k), *terms.shape[1:]))
        seg = np.add.reduceat(terms, self._seg_starts, axis=0)
        if self._seg_trim:
            seg = seg[:-1]
        c = np.concatenate([np.zeros((1, *terms.shape[1:])), np.cumsum(seg, axis=0)], axis=0)
        return c[self._seg_map]

    def _dppd(self) -> np.ndarray:
        """D_g' P'P D_g for every candidate g (D_g = x 1(rank < k_g)), by increments over q-sorted obs."""
        nt = self.N * self.T
        ent = np.repeat(np.arange(self.N), self.T)[self.order]  # entity of each obs in q order
        xs = self.xs
        # within-entity running sums of x in q order
        by_ent = np.argsort(ent, kind="stable")
        cs = np.cumsum(xs[by_ent], axis=0)
        ent_sorted = ent[by_ent]
        starts = np.r_[0, np.flatnonzero(np.diff(ent_sorted)) + 1]
        before_start = np.where(starts > 0, starts - 1, 0)
        base = np.where((starts > 0)[:, None], cs[before_start], 0.0)
        seg = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, nt]))
        offset = base[seg]
        s_after = np.empty_like(cs)
        s_after[by_ent] = cs - offset
        s_before = s_after - xs
        outer = lambda a: a[:, :, None] * a[:, None, :]  # noqa: E731
        delta = outer(xs) - (outer(s_after) - outer(s_before)) / self.T
        if self.drop:
            last_full = np.arange(self.N) * self.T + self.T - 1  # full-space row of each entity's last period
            last_rank = self.rank[last_full][ent]
            pos = np.arange(nt)
            xl = self.x[last_full][ent]
            r_after = xl * (last_rank <= pos)[:, None] - s_after / self.T
            r_before = xl * (last_rank < pos)[:, None] - s_before / self.T
            delta = delta - (outer(r_after) - outer(r_before))
        return self._cumsum_at(delta)

    # -- searches --------------------------------------------------------------------------------------------
    def resid(self, y: np.ndarray) -> np.ndarray:
        """u = M_B y for transformed y of shape (n, R)."""
        return y - self.Bd @ (self.BtBi @ (self.Bd.T @ y))

    def _wx(self, v: np.ndarray) -> np.ndarray:
        """D_g' P' v for every candidate: v (n, *s) -> (G, kx, *s)."""
        av = self.A(v)[self.order]
        xs = self.xs.reshape((self.xs.shape[0], self.kx) + (1,) * (v.ndim - 1))
        return self._cumsum_at(xs * av[:, None])

    def search(self, u: np.ndarray, fixed: np.ndarray | None = None, excluded: np.ndarray | None = None) -> np.ndarray:
        """Concentrated SSR for every candidate and replication: u (n, R), fixed (n_fixed, R) candidate indices.

        Returns (G, R); excluded candidates are +inf.
        """
        uu = np.einsum("nr,nr->r", u, u)
        wu = self._wx(u)  # (G, kx, R)
        ww = self.WW
        if fixed is None or len(fixed) == 0:
            if self.kx == 1:
                with np.errstate(divide="ignore", invalid="ignore"):
                    s = uu[None, :] - wu[:, 0, :] ** 2 / ww[:, 0, 0][:, None]
            else:
                sol = np.linalg.solve(ww[:, None], np.moveaxis(wu, 2, 1)[..., None])[..., 0]  # (G, R, kx)
                s = uu[None, :] - np.einsum("gkr,grk->gr", wu, sol)
            bad = ww.reshape(len(ww), -1)[:, :: self.kx + 1].min(axis=1) <= 1e-12 * max(ww.max(), 1.0)
            s[bad] = np.inf
        else:
            s = self._conditional(u, uu, wu, fixed)
        if excluded is not None:
            s = np.where(excluded, np.inf, s)
        return s

    def _conditional(self, u: np.ndarray, uu: np.ndarray, wu: np.ndarray, fixed: np.ndarray) -> np.ndarray:
        nf, r = fixed.shape
        kx = self.kx
        kfix = self.k[fixed]  # (nf, R)
        mask = self.rank[:, None, None] < kfix[None]  # (NT, nf, R)
        d = self.x[:, None, :, None] * mask[:, :, None, :]  # (NT, nf, kx, R)
        p = nf * kx
        d = d.reshape((d.shape[0], p, r))
        xb = self.XB[fixed]  # (nf, R, kx, kb)
        bpd = np.moveaxis(xb, 3, 0).transpose(0, 1, 3, 2).reshape(xb.shape[3], p, r)  # (kb, p, R) order (nf, kx)
        coef = (self.BtBi @ bpd.reshape(bpd.shape[0], -1)).reshape(bpd.shape)
        m = self.P(d) - (self.Bd @ coef.reshape(coef.shape[0], -1)).reshape((-1, p, r))  # (n, p, R)
        mm = np.einsum("npr,nqr->rpq", m, m)
        mu = np.einsum("npr,nr->rp", m, u)
        mm_inv = np.linalg.inv(mm)  # (R, p, p)
        a = np.einsum("rpq,rq->rp", mm_inv, mu)  # (R, p)
        s_fixed = uu - np.einsum("rp,rp->r", mu, a)
        wm = self._wx(m)  # (G, kx, p, R)
        c = wu - np.einsum("gkpr,rp->gkr", wm, a)  # (G, kx, R)
        wmi = np.einsum("gkpr,rpq->gkqr", wm, mm_inv)
        h = self.WW[..., None] - np.einsum("gkqr,glqr->gklr", wmi, wm)  # (G, kx, kx, R)
        scale = max(float(np.abs(self.WW).max()), 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            if kx == 1:
                hh = h[:, 0, 0, :]
                s = s_fixed[None, :] - c[:, 0, :] ** 2 / hh
                s[hh <= 1e-10 * scale] = np.inf
            else:
                hh = np.moveaxis(h, 3, 1)  # (G, R, kx, kx)
                det = np.linalg.det(hh)
                ok = np.abs(det) > (1e-10 * scale) ** kx
                hh_safe = np.where(ok[..., None, None], hh, np.eye(kx))
                sol = np.linalg.solve(hh_safe, np.moveaxis(c, 2, 1)[..., None])[..., 0]
                s = s_fixed[None, :] - np.einsum("gkr,grk->gr", c, sol)
                s[~ok] = np.inf
        return s


# ----------------------------------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class ThresholdStage:
    """One threshold search: the estimate, its test against one fewer threshold and its LR confidence set.

    ``gamma`` is the estimate of this stage's threshold given the earlier ones; for the double stage
    ``refined`` holds Hansen's refinement of the first threshold given the second, whose CI is
    ``refined_ci``. ``lr`` holds the LR(gamma) curve(s) (columns ``threshold, gamma, lr``).
    """

    n_thresholds: int
    gamma: float
    ci: tuple[float, float]
    ssr: float
    ssr_null: float
    f_stat: float
    p_value: float | None
    crit: dict[str, float] | None
    n_boot: int
    refined: float | None = None
    refined_ci: tuple[float, float] | None = None
    lr: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    boot_f: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)


@dataclass
class ThresholdResult:
    """Result of :func:`threshold_regression` (tidy tables + JSON-able summary)."""

    y: str
    x: list[str]
    rx: list[str]
    q: str
    convention: str
    grid: int
    trim: list[float]
    level: float
    seed: int | None
    n_entities: int
    n_periods: int
    n_rows: int
    df_sigma: int
    n_candidates: int
    ssr_linear: float
    stages: list[ThresholdStage]
    thresholds: list[float]
    coefficients: pd.DataFrame
    ssr_final: float

    @property
    def crit_lr(self) -> float:
        """c(alpha) for the LR confidence sets at :attr:`level`."""
        return lr_critical_value(self.level)

    def tests(self) -> pd.DataFrame:
        """One row per threshold stage: threshold, CI, SSR, F, bootstrap p and critical values."""
        rows = []
        for st in self.stages:
            row = {
                "model": ["single", "double", "triple"][st.n_thresholds - 1],
                "threshold": st.gamma,
                "ci_low": st.ci[0],
                "ci_high": st.ci[1],
                "ssr": st.ssr,
                "ssr_null": st.ssr_null,
                "F": st.f_stat,
                "p_value": st.p_value,
                "n_boot": st.n_boot,
            }
            for k in ("10%", "5%", "1%"):
                row[f"crit_{k}"] = (st.crit or {}).get(k)
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """Everything the CLI prints with ``--json`` (plain floats, lists, dicts)."""

        def f(v: Any) -> Any:
            if v is None:
                return None
            if isinstance(v, float | np.floating):
                return None if not np.isfinite(v) else float(v)
            return v

        stages = []
        for st in self.stages:
            d = {
                "n_thresholds": st.n_thresholds,
                "threshold": f(st.gamma),
                "ci": [f(st.ci[0]), f(st.ci[1])],
                "ssr": f(st.ssr),
                "ssr_null": f(st.ssr_null),
                "F": f(st.f_stat),
                "p_value": f(st.p_value),
                "crit": None if st.crit is None else {k: f(v) for k, v in st.crit.items()},
                "n_boot": st.n_boot,
            }
            if st.refined is not None:
                d["refined_first_threshold"] = f(st.refined)
                d["refined_first_ci"] = [f(st.refined_ci[0]), f(st.refined_ci[1])] if st.refined_ci else None
            stages.append(d)
        coefs = self.coefficients.replace({np.nan: None}).to_dict(orient="records")
        return {
            "model": "Hansen (1999) fixed-effect panel threshold regression",
            "y": self.y,
            "x": self.x,
            "rx": self.rx,
            "q": self.q,
            "convention": self.convention,
            "grid": self.grid,
            "trim": self.trim,
            "level": self.level,
            "lr_critical_value": self.crit_lr,
            "seed": self.seed,
            "n_entities": self.n_entities,
            "n_periods": self.n_periods,
            "n_rows": self.n_rows,
            "df_sigma": self.df_sigma,
            "n_candidates": self.n_candidates,
            "ssr_linear": self.ssr_linear,
            "stages": stages,
            "thresholds": [float(g) for g in self.thresholds],
            "ssr_final": self.ssr_final,
            "coefficients": coefs,
        }

    def plot_lr(self):
        """The LR(gamma) curves with the c(alpha) line (a :class:`plotly.graph_objects.Figure`)."""
        import plotly.graph_objects as go

        fig = go.Figure()
        for st in self.stages:
            for name, curve in st.lr.groupby("threshold", sort=False):
                fig.add_trace(go.Scatter(x=curve["gamma"], y=curve["lr"], mode="lines", name=str(name)))
        fig.add_hline(
            y=self.crit_lr,
            line_dash="dash",
            annotation_text=f"c({self.level:.0%}) = {self.crit_lr:.2f}",
        )
        fig.update_layout(
            title=f"LR(γ) for threshold variable {self.q} (Hansen 1999)",
            xaxis_title=f"threshold γ ({self.q})",
            yaxis_title="LR(γ)",
            template="plotly_white",
        )
        return fig


# ----------------------------------------------------------------------------------------------------------------
# the estimator
# ----------------------------------------------------------------------------------------------------------------
def _grid(q: np.ndarray, qn: int, trim: float) -> np.ndarray:
    """Hansen's quantile grid (``thresh_p.R``): u[floor(s * #u)] (1-based) for s = trim, trim + 1/qn, ..."""
    u = np.unique(q)
    span = (1.0 / qn) * (qn - 2 * qn * trim)
    count = math.floor(span / (1.0 / qn) + 1e-10) + 1  # R's seq(from, to, by) length
    s = trim + np.arange(count) * (1.0 / qn)
    idx = np.floor(s * len(u)).astype(int) - 1
    return u[np.clip(idx, 0, len(u) - 1)]


def _exhaustive(q: np.ndarray, trim: float, strict: bool) -> np.ndarray:
    """Every distinct q leaving at least floor(trim * n) observations in each regime."""
    u = np.unique(q)
    k = np.searchsorted(np.sort(q), u, side="left" if strict else "right")
    n = len(q)
    lo = math.floor(trim * n)
    keep = (k >= lo) & (n - k >= lo)
    return u[keep]


class _Exclusion:
    """Which candidates a later threshold may not take, given fixed ones (per-stage trim)."""

    def __init__(self, engine: _Engine, grid: int, n_obs: int) -> None:
        self.engine, self.grid, self.n = engine, grid, n_obs
        g = len(engine.candidates)
        self.first = np.searchsorted(engine.candidates, engine.candidates, side="left")  # Hansen's nn
        self.j = np.arange(g)

    def mask(self, fixed: np.ndarray, trim: float) -> np.ndarray:
        """fixed (n_fixed, R) candidate indices -> (G, R) boolean, True = excluded."""
        out = np.zeros((len(self.j), fixed.shape[1]), dtype=bool)
        for row in fixed:
            if self.grid > 0:
                qnt = self.grid * trim
                a = self.first[row][None, :]
                j = self.j[:, None]
                out |= (j >= a - qnt - 1) & (j < a + qnt - 1)
            else:
                kk = self.engine.k
                out |= np.abs(kk[:, None] - kk[row][None, :]) <= trim * self.n
        return out


def _fit_coefficients(
    eng: _Engine,
    z: np.ndarray,
    x: np.ndarray,
    q: np.ndarray,
    yt: np.ndarray,
    thresholds: Sequence[float],
    strict: bool,
    znames: list[str],
    xnames: list[str],
    df_sigma: int,
) -> tuple[pd.DataFrame, float, np.ndarray, np.ndarray]:
    """OLS at given thresholds: homoskedastic, White (Hansen: no df correction) and entity-cluster SEs."""
    th = sorted(thresholds)
    below = [(q < g) if strict else (q <= g) for g in th]
    regimes = []
    prev = np.zeros(len(q), dtype=bool)
    for b in below:
        regimes.append(b & ~prev)
        prev = b
    regimes.append(~prev)
    cols = [z] + [x * r[:, None] for r in regimes]
    xx = eng.P(np.column_stack(cols))
    xxi = np.linalg.inv(xx.T @ xx)
    beta = xxi @ (xx.T @ yt)
    e = yt - xx @ beta
    ssr = float(e @ e)
    k = xx.shape[1]
    # homoskedastic: e'e / (N(T-1) - k) = e'e / (NT - N - k), the FE degrees of freedom
    se_h = np.sqrt(np.diag(xxi) * ssr / (df_sigma - k))
    # White (HC0), as Hansen's programme prints it
    xe = xx * e[:, None]
    se_w = np.sqrt(np.diag(xxi @ (xe.T @ xe) @ xxi))
    # entity-cluster CRV1 with the reghdfe/fixest small-sample factor: the entity FE are nested in the cluster
    # and count as one parameter (the constant): G/(G-1) * (n_obs - 1)/(n_obs - k - 1), n_obs = N*T
    sg = xe.reshape(eng.N, eng.Tk, k).sum(axis=1)
    g, n_obs = eng.N, eng.N * eng.T
    adj = g / (g - 1) * (n_obs - 1) / (n_obs - k - 1)
    se_c = np.sqrt(np.diag(xxi @ (sg.T @ sg) @ xxi) * adj)
    bounds = [-np.inf, *th, np.inf]
    rows = []
    for i, name in enumerate(znames):
        rows.append({"term": name, "regime": None, "lower": None, "upper": None, "coef": beta[i]})
    for r in range(len(regimes)):
        for j, name in enumerate(xnames):
            lo, hi = bounds[r], bounds[r + 1]
            rows.append(
                {
                    "term": name,
                    "regime": r + 1,
                    "lower": None if not np.isfinite(lo) else float(lo),
                    "upper": None if not np.isfinite(hi) else float(hi),
                    "coef": beta[len(znames) + r * len(xnames) + j],
                }
            )
    tab = pd.DataFrame(rows)
    tab["se"] = se_h
    tab["se_white"] = se_w
    tab["se_cluster"] = se_c
    tab["t_white"] = tab["coef"] / tab["se_white"]
    return tab, ssr, beta, xx


def _ci(lr: np.ndarray, cands: np.ndarray, crit: float) -> tuple[float, float]:
    inside = np.isfinite(lr) & (lr < crit)
    if not inside.any():
        return (float("nan"), float("nan"))
    return float(cands[inside].min()), float(cands[inside].max())


def one_blas_thread(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``func`` with BLAS limited to one thread (small, tall matrix products; see the module docstring)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper


@one_blas_thread
def threshold_regression(
    data: pd.DataFrame,
    y: str,
    x: str | Sequence[str],
    rx: str | Sequence[str],
    q: str,
    entity: str,
    time: str,
    *,
    n_thresholds: int = 1,
    trim: float | Sequence[float] = 0.01,
    grid: int = 400,
    bootstrap: int | Sequence[int] = 300,
    seed: int | None = None,
    level: float = 0.95,
    convention: Convention = "hansen",
    source: str = SOURCE,
    chunk: int = 100,
) -> ThresholdResult:
    """Fixed-effect panel threshold regression (Hansen 1999) with 1–3 thresholds.

    Parameters
    ----------
    data : pandas.DataFrame
        A strongly balanced panel (one row per entity and period).
    y : str
        Dependent variable.
    x : str or list of str
        Regime-independent regressors (``"q1,q2"`` or a list); may be empty.
    rx : str or list of str
        Regime-dependent regressors (their slopes switch at the thresholds).
    q : str
        Threshold variable.
    entity, time : str
        Panel identifiers.
    n_thresholds : {1, 2, 3}
        Number of thresholds estimated sequentially (Hansen 1999 §5).
    trim : float or sequence of float
        Trimming per threshold (Hansen's application: 0.01, 0.01, 0.05); a scalar applies to all.
    grid : int
        ``qn`` points of Hansen's quantile grid (400 as in his paper and xthreg), or 0 for all distinct values.
    bootstrap : int or sequence of int
        Replications per test (Hansen: 300); 0 skips the bootstrap. Each replication resamples whole
        entities' residual vectors from the model under the null (``m - 1`` thresholds) and re-estimates every
        threshold sequentially, as Hansen's programme does.
    seed : int or None
        Seed of :func:`numpy.random.default_rng` for the bootstrap (recorded in the result).
    level : float
        Confidence level of the LR confidence sets, c = -2 ln(1 - sqrt(level)).
    convention : {"hansen", "all_periods"}
        See the module docstring.

    Returns
    -------
    ThresholdResult
        ``stages`` (one per threshold: estimate, LR CI, SSR, F, bootstrap p and 10/5/1 % critical values,
        LR curve), ``thresholds`` (final, refined), ``coefficients`` (homoskedastic, White and entity-cluster SEs).

    References
    ----------
    Hansen (1999), *J. Econometrics* 93(2) 345–368: eq. (7)–(9) concentrated SSR and F, §3.3 LR confidence
    set c(alpha), §4 bootstrap, §5 multiple thresholds and refinement.
    """
    if n_thresholds not in (1, 2, 3):
        raise InputError(source, "1, 2 or 3 thresholds", column="n_thresholds", value=n_thresholds)
    if convention not in ("hansen", "all_periods"):
        raise InputError(source, "'hansen' or 'all_periods'", column="convention", value=convention)
    xs, rxs = as_list(x), as_list(rx)
    if not rxs:
        raise InputError(source, "at least one regime-dependent regressor (rx)", column="rx")
    trims = [float(trim)] * n_thresholds if np.isscalar(trim) else [float(t) for t in trim]  # type: ignore[arg-type]
    if len(trims) < n_thresholds:
        trims = trims + [trims[-1]] * (n_thresholds - len(trims))
    for t in trims:
        if not 0.0 <= t < 0.5:
            raise InputError(source, "a trimming fraction in [0, 0.5)", column="trim", value=t)
    boots = [int(bootstrap)] * n_thresholds if np.isscalar(bootstrap) else [int(b) for b in bootstrap]  # type: ignore[arg-type]
    if len(boots) < n_thresholds:
        boots = boots + [boots[-1]] * (n_thresholds - len(boots))
    if grid < 0:
        raise InputError(source, "grid >= 0 (0 = every distinct value)", column="grid", value=grid)
    crit_lr = lr_critical_value(level)

    cols = [y, *xs, *rxs, q]
    require_columns(data, [*cols, entity, time], source=source)
    require_numeric(data, cols, source=source)
    panel, n_ent, n_per = balanced_panel(data[[entity, time, *dict.fromkeys(cols)]], entity, time, source=source)
    if n_per < 2:
        raise InputError(source, "at least 2 periods per entity", column=time, value=n_per)
    yv = panel[y].to_numpy(float)
    zv = panel[xs].to_numpy(float).reshape(len(panel), len(xs))
    xv = panel[rxs].to_numpy(float)
    qv = panel[q].to_numpy(float)

    drop = convention == "hansen"
    strict = convention == "hansen"
    cands = _grid(qv, grid, trims[0]) if grid > 0 else _exhaustive(qv, trims[0], strict)
    if len(cands) < 2:
        raise InputError(source, "a threshold variable with enough distinct values to search", column=q)
    eng = _Engine(zv, xv, qv, n_ent, n_per, drop_last=drop, strict=strict, candidates=cands)
    excl = _Exclusion(eng, grid, n_ent * n_per)
    df_sigma = n_ent * (n_per - 1)
    yt = eng.P(yv)[:, None]
    u = eng.resid(yt)
    ssr0 = float((u[:, 0] ** 2).sum())
    rng = np.random.default_rng(seed)

    def boot_stats(null_thresholds: list[int], b: int) -> np.ndarray:
        """F* for the test of len(null)+1 vs len(null) thresholds, B replications."""
        m = len(null_thresholds)
        if m == 0:
            fitted = (yt - u)[:, 0]
        else:
            fixed = np.array(null_thresholds)[:, None]
            _, _, beta, xx = _fit_coefficients(eng, zv, xv, qv, yt[:, 0], cands[fixed[:, 0]], strict, xs, rxs, df_sigma)
            fitted = xx @ beta
        resid = (yt[:, 0] - fitted).reshape(n_ent, eng.Tk)
        out = np.empty(b)
        for start in range(0, b, chunk):
            r = min(chunk, b - start)
            draw = rng.integers(0, n_ent, size=(r, n_ent))
            estar = resid[draw].reshape(r, -1).T  # (n, r): whole entities' residual vectors
            ub = eng.resid(fitted[:, None] + estar)
            s_prev = np.einsum("nr,nr->r", ub, ub)
            fixed_b = np.empty((0, r), dtype=int)
            s_cur = s_prev
            for stage in range(m + 1):
                s_prev = s_cur
                ex = excl.mask(fixed_b, trims[stage]) if stage > 0 else None
                s = eng.search(ub, fixed_b if stage > 0 else None, ex)
                idx = np.argmin(s, axis=0)
                s_cur = s[idx, np.arange(r)]
                fixed_b = np.vstack([fixed_b, idx[None, :]])
            out[start : start + r] = (s_prev - s_cur) / (s_cur / df_sigma)
        return out

    def summarise(f_obs: float, stats: np.ndarray) -> tuple[float | None, dict[str, float] | None]:
        if len(stats) == 0:
            return None, None
        srt = np.sort(stats)
        b = len(srt)
        crit = {k: float(srt[math.ceil(p * b) - 1]) for k, p in (("10%", 0.90), ("5%", 0.95), ("1%", 0.99))}
        return float(np.mean(stats > f_obs)), crit

    def lr_frame(label: str, s: np.ndarray, smin: float) -> tuple[pd.DataFrame, np.ndarray]:
        lr = (s - smin) / (smin / df_sigma)
        ok = np.isfinite(lr)
        return pd.DataFrame({"threshold": label, "gamma": cands[ok], "lr": lr[ok]}), lr

    stages: list[ThresholdStage] = []
    # -- single ------------------------------------------------------------------------------------------------
    s1 = eng.search(u)[:, 0]
    i1 = int(np.argmin(s1))
    ssr1 = float(s1[i1])
    f1 = (ssr0 - ssr1) / (ssr1 / df_sigma)
    curve1, lr1 = lr_frame("γ1 (single)", s1, ssr1)
    bf1 = boot_stats([], boots[0]) if boots[0] > 0 else np.empty(0)
    p1, c1 = summarise(f1, bf1)
    stages.append(
        ThresholdStage(
            1, float(cands[i1]), _ci(lr1, cands, crit_lr), ssr1, ssr0, f1, p1, c1, boots[0], lr=curve1, boot_f=bf1
        )
    )
    final_idx = [i1]
    final_ssr = ssr1

    if n_thresholds >= 2:
        fixed = np.array([[i1]])
        s2 = eng.search(u, fixed, excl.mask(fixed, trims[1]))[:, 0]
        i2 = int(np.argmin(s2))
        ssr2 = float(s2[i2])
        f2 = (ssr1 - ssr2) / (ssr2 / df_sigma)
        curve2, lr2 = lr_frame("γ2 | γ1", s2, ssr2)
        # Hansen's refinement: re-estimate gamma_1 with gamma_2 fixed
        fixed_r = np.array([[i2]])
        s1r = eng.search(u, fixed_r, excl.mask(fixed_r, trims[1]))[:, 0]
        i1r = int(np.argmin(s1r))
        curve1r, lr1r = lr_frame("γ1 | γ2 (refined)", s1r, float(s1r[i1r]))
        bf2 = boot_stats([i1], boots[1]) if boots[1] > 0 else np.empty(0)
        p2, c2 = summarise(f2, bf2)
        stages.append(
            ThresholdStage(
                2,
                float(cands[i2]),
                _ci(lr2, cands, crit_lr),
                ssr2,
                ssr1,
                f2,
                p2,
                c2,
                boots[1],
                refined=float(cands[i1r]),
                refined_ci=_ci(lr1r, cands, crit_lr),
                lr=pd.concat([curve2, curve1r], ignore_index=True),
                boot_f=bf2,
            )
        )
        final_idx = [i1r, i2]
        final_ssr = float(s1r[i1r])
        if n_thresholds == 3:
            fixed3 = np.array([[i1r], [i2]])
            null3 = float(eng.search(u, np.array([[i1r]]), None)[i2, 0])  # SSR of the double model (g1r, g2)
            s3 = eng.search(u, fixed3, excl.mask(fixed3, trims[2]))[:, 0]
            i3 = int(np.argmin(s3))
            ssr3 = float(s3[i3])
            f3 = (null3 - ssr3) / (ssr3 / df_sigma)
            curve3, lr3 = lr_frame("γ3 | γ1, γ2", s3, ssr3)
            bf3 = boot_stats([i1r, i2], boots[2]) if boots[2] > 0 else np.empty(0)
            p3, c3 = summarise(f3, bf3)
            stages.append(
                ThresholdStage(
                    3,
                    float(cands[i3]),
                    _ci(lr3, cands, crit_lr),
                    ssr3,
                    null3,
                    f3,
                    p3,
                    c3,
                    boots[2],
                    lr=curve3,
                    boot_f=bf3,
                )
            )
            final_idx = [i1r, i2, i3]
            final_ssr = ssr3

    thresholds = sorted(float(cands[i]) for i in final_idx)
    coefs, ssr_fit, _, _ = _fit_coefficients(eng, zv, xv, qv, yt[:, 0], thresholds, strict, xs, rxs, df_sigma)
    if not np.isclose(ssr_fit, final_ssr, rtol=1e-7, atol=1e-10):  # the FWL search and direct OLS must agree
        raise RuntimeError(f"threshold search SSR {final_ssr!r} differs from direct OLS {ssr_fit!r}")
    return ThresholdResult(
        y=y,
        x=xs,
        rx=rxs,
        q=q,
        convention=convention,
        grid=grid,
        trim=trims[:n_thresholds],
        level=level,
        seed=seed,
        n_entities=n_ent,
        n_periods=n_per,
        n_rows=len(yt),
        df_sigma=df_sigma,
        n_candidates=len(cands),
        ssr_linear=ssr0,
        stages=stages,
        thresholds=thresholds,
        coefficients=coefs,
        ssr_final=ssr_fit,
    )
