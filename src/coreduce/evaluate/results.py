"""One small result type for every estimator, so tables can mix them (coefficients, SEs, p, N, R², FE, notes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class Estimate:
    """A fitted model as a publication table needs it.

    ``fit`` keeps the underlying library object (a pyfixest ``Feols``, a linearmodels result, ...) so nothing is
    lost; ``stats`` holds model-level extras (first-stage F, Kleibergen–Paap statistics, ...).
    """

    name: str
    depvar: str
    coef: pd.Series
    se: pd.Series
    pvalue: pd.Series
    nobs: int
    r2: float | None = None
    r2_within: float | None = None
    fixed_effects: list[str] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)
    vcov: str = ""
    engine: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    fit: Any = field(default=None, repr=False)

    def tidy(self) -> pd.DataFrame:
        """term, estimate, std_error, p_value (one row per coefficient)."""
        return pd.DataFrame(
            {
                "model": self.name,
                "term": self.coef.index,
                "estimate": self.coef.to_numpy(),
                "std_error": self.se.reindex(self.coef.index).to_numpy(),
                "p_value": self.pvalue.reindex(self.coef.index).to_numpy(),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able summary."""

        def clean(v: Any) -> Any:
            if isinstance(v, float | np.floating):
                return float(v) if np.isfinite(v) else None
            if isinstance(v, np.integer):
                return int(v)
            return v

        return {
            "name": self.name,
            "depvar": self.depvar,
            "coef": {k: clean(v) for k, v in self.coef.items()},
            "se": {k: clean(v) for k, v in self.se.items()},
            "pvalue": {k: clean(v) for k, v in self.pvalue.items()},
            "nobs": int(self.nobs),
            "r2": clean(self.r2),
            "r2_within": clean(self.r2_within),
            "fixed_effects": self.fixed_effects,
            "controls": self.controls,
            "vcov": self.vcov,
            "engine": self.engine,
            "stats": {k: clean(v) for k, v in self.stats.items()},
        }


def vcov_label(vcov: str | dict[str, str]) -> str:
    """A table note for a pyfixest ``vcov`` argument."""
    if isinstance(vcov, dict):
        (kind, var), *_ = vcov.items()
        return f"{kind} clustered by {var}"
    return {"iid": "homoskedastic", "hetero": "heteroskedasticity-robust (HC1)"}.get(vcov, str(vcov))


def from_pyfixest(fit: Any, *, name: str = "", controls: list[str] | None = None, vcov: str = "") -> Estimate:
    """Wrap a pyfixest ``Feols``/``Feiv`` result."""
    fe = [f.strip() for f in (fit._fixef or "").split("+") if f.strip() and f.strip() != "0"]
    r2w = getattr(fit, "_r2_within", None)
    return Estimate(
        name=name,
        depvar=fit._depvar,
        coef=fit.coef().rename(None),
        se=fit.se().rename(None),
        pvalue=fit.pvalue().rename(None),
        nobs=int(fit._N),
        r2=float(fit._r2) if getattr(fit, "_r2", None) is not None else None,
        r2_within=float(r2w) if r2w is not None and np.isfinite(r2w) else None,
        fixed_effects=fe,
        controls=list(controls or []),
        vcov=vcov,
        engine="pyfixest",
        fit=fit,
    )
