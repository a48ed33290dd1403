"""Environment–economy–society index: normalisation, entropy weights, TOPSIS, coupling-coordination degree.

- min–max normalisation per indicator: benefit x' = (x − min)/(max − min); cost x' = (max − x)/(max − min);
- entropy weights: p_ij = x'_ij / Σ_i x'_ij, e_j = −(1/ln m) Σ_i p_ij ln p_ij (0·ln 0 = 0), d_j = 1 − e_j,
  w_j = d_j / Σ d_j;
- TOPSIS on the weighted normalised matrix v_ij = w_j x'_ij: D+ = ‖v_i − max_j‖, D− = ‖v_i − min_j‖,
  C_i = D− / (D+ + D−);
- coupling-coordination degree of n subsystem scores U_k ∈ [0, 1]:
  C = n · (Π U_k)^(1/n) / Σ U_k, T = Σ a_k U_k (a_k = 1/n by default), D = √(C·T).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from coreduce.errors import InputError


def normalise(df: pd.DataFrame, directions: Mapping[str, str]) -> pd.DataFrame:
    """Min–max normalise the indicator columns named in ``directions`` (``benefit`` or ``cost``)."""
    out = pd.DataFrame(index=df.index)
    for c, d in directions.items():
        if c not in df.columns:
            raise InputError("indicators", f"a column {c!r}", row=1, column=c)
        if d not in ("benefit", "cost"):
            raise InputError("indicators", "direction benefit or cost", column=c, value=d)
        x = pd.to_numeric(df[c], errors="coerce")
        if x.isna().any():
            i = int(x.isna().to_numpy().nonzero()[0][0])
            raise InputError("indicators", "a number", row=i + 2, column=c, value=df[c].iloc[i])
        lo, hi = float(x.min()), float(x.max())
        rng = hi - lo
        if rng == 0:
            out[c] = 1.0
        else:
            out[c] = (x - lo) / rng if d == "benefit" else (hi - x) / rng
    return out


def entropy_weights(norm: pd.DataFrame) -> pd.Series:
    """Entropy weights of the columns of a normalised (non-negative) matrix; rows are alternatives."""
    x = norm.to_numpy(float)
    m = x.shape[0]
    if m < 2:
        raise InputError("indicators", "at least two alternatives (rows) for entropy weights")
    s = x.sum(axis=0)
    p = np.divide(x, s, out=np.zeros_like(x), where=s > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(p), 0.0)
    e = -plogp.sum(axis=0) / np.log(m)
    e = np.where(s > 0, e, 1.0)
    d = 1.0 - e
    if d.sum() <= 0:
        return pd.Series(np.full(x.shape[1], 1.0 / x.shape[1]), index=norm.columns)
    return pd.Series(d / d.sum(), index=norm.columns)


def topsis(norm: pd.DataFrame, weights: pd.Series | Mapping[str, float]) -> pd.DataFrame:
    """TOPSIS closeness C_i of each row of a normalised matrix; higher is better; ``rank`` 1 = best."""
    w = pd.Series(weights, dtype=float).reindex(norm.columns)
    v = norm.to_numpy(float) * w.to_numpy()
    dp = np.sqrt(((v - v.max(axis=0)) ** 2).sum(axis=1))
    dm = np.sqrt(((v - v.min(axis=0)) ** 2).sum(axis=1))
    c = np.divide(dm, dp + dm, out=np.zeros_like(dm), where=(dp + dm) > 0)
    out = pd.DataFrame({"d_plus": dp, "d_minus": dm, "score": c}, index=norm.index)
    out["rank"] = out["score"].rank(ascending=False, method="min").astype(int)
    return out


def coupling_coordination(scores: Sequence[float], weights: Sequence[float] | None = None) -> dict[str, float]:
    """Coupling degree C, comprehensive index T and coordination degree D = √(C·T) of subsystem scores."""
    u = np.asarray(scores, dtype=float)
    n = len(u)
    if n < 2 or (u < 0).any() or (u > 1).any():
        raise InputError("subsystems", "two or more subsystem scores in [0, 1]", value=list(u))
    a = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, dtype=float)
    c = float(n * np.prod(u) ** (1.0 / n) / u.sum()) if u.sum() > 0 else 0.0
    t = float((a * u).sum())
    return {"C": c, "T": t, "D": float(np.sqrt(c * t))}


def ees_index(
    df: pd.DataFrame, directions: Mapping[str, str], subsystems: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Rank alternatives (measures, districts, cities): entropy weights + TOPSIS; with ``subsystems``
    (indicator → ``environment``/``economy``/``society``) also each subsystem's weighted score and the
    coupling-coordination degree ``D`` per row."""
    norm = normalise(df, directions)
    w = entropy_weights(norm)
    out = topsis(norm, w)
    if subsystems:
        names = sorted(set(subsystems.values()))
        for s in names:
            cols = [c for c in norm.columns if subsystems.get(c) == s]
            ws = w[cols] / w[cols].sum()
            out[s] = (norm[cols] * ws).sum(axis=1)
        out["coordination"] = [coupling_coordination(list(r))["D"] for r in out[names].to_numpy()]
    out.attrs["weights"] = w.to_dict()
    return out
