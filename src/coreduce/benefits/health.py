"""Health impact of a PM2.5 change: avoided deaths per age group and endpoint, money, Monte Carlo.

Formulas (shared/reference §2; BenMAP-CE / COBRA documentation):

- log-linear CRF: β = ln(RR)/per; avoided cases Δy = y0 · (1 − exp(−β·ΔC)) · Pop, with y0 the baseline
  incidence at the *before* concentration and ΔC the cut [µg/m³] (BenMAP-CE health impact function);
- GEMM (Burnett et al. 2018): RR(C) = exp{θ·ln(1 + z/α) / (1 + exp(−(z − μ)/ν))}, z = max(0, C − cf);
  avoided Δy = y0 · (1 − RR(C0 − ΔC)/RR(C0)) · Pop — the same "observed incidence at C0" convention,
  which reduces to the BenMAP form when RR is log-linear;
- money: Δy · VSL, VSL transferred by income elasticity VSL_t = VSL_b · (Y_t/Y_b)^e.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from coreduce import coefficients
from coreduce.errors import InputError

Z95 = 1.959963984540054


def loglinear_beta(rr: float, per: float = 10.0) -> float:
    """β [per µg/m³] of a log-linear CRF with relative risk ``rr`` per ``per`` µg/m³: ln(rr)/per."""
    if rr <= 0 or per <= 0:
        raise InputError("crf", "rr > 0 and per > 0", value=f"rr={rr}, per={per}")
    return math.log(rr) / per


def benmap_avoided(delta_c: Any, y0: Any, pop: Any, beta: float) -> Any:
    """BenMAP-CE/COBRA log-linear health impact function Δy = y0·(1 − e^(−β·ΔC))·Pop (works on arrays)."""
    return np.asarray(y0) * (1.0 - np.exp(-beta * np.asarray(delta_c, dtype=float))) * np.asarray(pop)


def gemm_rr(c: Any, theta: float, alpha: float, mu: float, nu: float, cf: float = 2.4) -> Any:
    """GEMM hazard ratio at concentration ``c`` [µg/m³] (Burnett et al. 2018), z = max(0, c − cf)."""
    z = np.maximum(0.0, np.asarray(c, dtype=float) - cf)
    return np.exp(theta * np.log1p(z / alpha) / (1.0 + np.exp(-(z - mu) / nu)))


def vsl_transfer(vsl_base: float, income_base: float, income_target: float, elasticity: float = 1.0) -> float:
    """VSL transferred by income elasticity: VSL_base · (income_target/income_base)^elasticity."""
    if income_base <= 0 or income_target <= 0:
        raise InputError("vsl", "positive incomes", value=f"{income_base}, {income_target}")
    return float(vsl_base * (income_target / income_base) ** elasticity)


@dataclass
class HealthResult:
    """Avoided cases per group, their total, and the money.

    Attributes
    ----------
    table : pandas.DataFrame
        ``group, endpoint, population, baseline_rate, delta_pm25, rr, avoided`` (+ ``value`` when a VSL
        is given).
    avoided : float
        Total avoided cases per year.
    value : float or None
        avoided × VSL (currency of the VSL).
    crf : dict
        The function used: name, parameters, source, coefficient-set version.
    """

    table: pd.DataFrame
    avoided: float
    value: float | None
    crf: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "avoided": self.avoided,
            "value": self.value,
            "crf": self.crf,
            "groups": self.table.to_dict(orient="records"),
        }


def _groups(groups: pd.DataFrame | None, population: float | None, baseline: float | None) -> pd.DataFrame:
    if groups is None:
        if population is None or baseline is None:
            raise InputError("health", "population and baseline mortality (or a groups table)")
        groups = pd.DataFrame({"group": ["all"], "population": [population], "baseline_rate": [baseline]})
    for c in ("population", "baseline_rate"):
        if c not in groups.columns:
            raise InputError("groups", f"a column {c!r}", row=1, column=c)
        v = pd.to_numeric(groups[c], errors="coerce")
        bad = v.isna() | (v < 0)
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise InputError("groups", "a number >= 0", row=i + 2, column=c, value=groups[c].iloc[i])
    g = groups.copy()
    if "group" not in g.columns:
        g["group"] = [str(i) for i in range(len(g))]
    g[["population", "baseline_rate"]] = g[["population", "baseline_rate"]].astype(float)
    return g


def _delta(g: pd.DataFrame, delta_pm25: float | None) -> np.ndarray:
    if "delta_pm25" in g.columns:
        return pd.to_numeric(g["delta_pm25"], errors="raise").to_numpy(float)
    if delta_pm25 is None:
        raise InputError("health", "a PM2.5 change (delta_pm25)")
    return np.full(len(g), float(delta_pm25))


def health_impact(
    delta_pm25: float | None = None,
    *,
    population: float | None = None,
    baseline_mortality: float | None = None,
    groups: pd.DataFrame | None = None,
    crf: str = "krewski2009",
    endpoint: str | None = None,
    rr: float | None = None,
    per: float = 10.0,
    baseline_pm25: float | None = None,
    vsl: float | None = None,
) -> HealthResult:
    """Avoided deaths (and their value) from a PM2.5 cut.

    Parameters
    ----------
    delta_pm25 : float
        The cut in annual-mean PM2.5 [µg/m³] (positive = cleaner); or a ``delta_pm25`` column in ``groups``.
    population, baseline_mortality : float
        One group: exposed population and baseline incidence [cases per person per year].
    groups : pandas.DataFrame, optional
        Per age group/endpoint: ``group, population, baseline_rate[, endpoint, delta_pm25, baseline_pm25]``.
    crf : str
        A ``crf`` coefficient set name (``krewski2009``, ``who2021``), ``loglinear`` (give ``rr``/``per``) or
        ``gemm`` (coefficient set ``gemm``, row ``burnett2018_ncdlri_china``; needs ``baseline_pm25``).
    vsl : float, optional
        Value of a statistical life; the result's ``value`` = avoided × vsl.
    """
    g = _groups(groups, population, baseline_mortality)
    dc = _delta(g, delta_pm25)
    info: dict[str, Any]
    if crf == "gemm":
        s = coefficients.load("gemm")
        row = s.row(gemm="burnett2018_ncdlri_china") if endpoint is None else s.row(endpoint=endpoint)
        c0 = g["baseline_pm25"].to_numpy(float) if "baseline_pm25" in g.columns else None
        if c0 is None:
            if baseline_pm25 is None:
                raise InputError("health", "baseline_pm25 (the GEMM is not log-linear: RR depends on the level)")
            c0 = np.full(len(g), float(baseline_pm25))
        p = {k: float(row[k]) for k in ("theta", "alpha", "mu", "nu", "cf")}
        r0, r1 = gemm_rr(c0, **p), gemm_rr(c0 - dc, **p)
        ratio = r1 / r0
        avoided = g["baseline_rate"].to_numpy() * (1.0 - ratio) * g["population"].to_numpy()
        g["rr"] = r0 / r1
        info = {
            "crf": "gemm",
            "name": str(row["gemm"]),
            **p,
            "baseline_pm25": list(map(float, c0)),
            "source": str(row["source"]),
            "verified": str(row["verified"]),
            "version": s.version,
        }
    else:
        if crf == "loglinear":
            if rr is None:
                raise InputError("health", "--rr for crf loglinear")
            beta = loglinear_beta(rr, per)
            info = {"crf": "loglinear", "rr": rr, "per": per, "beta": beta, "source": "user-supplied RR"}
        else:
            s = coefficients.load("crf")
            row = s.row(crf=crf) if endpoint is None else s.row(crf=crf, endpoint=endpoint)
            beta = loglinear_beta(float(row["rr"]), float(row["per"]))
            info = {
                "crf": crf,
                "endpoint": str(row["endpoint"]),
                "rr": float(row["rr"]),
                "per": float(row["per"]),
                "beta": beta,
                "age_min": float(row["age_min"]),
                "source": str(row["source"]),
                "verified": str(row["verified"]),
                "version": s.version,
            }
        avoided = benmap_avoided(dc, g["baseline_rate"].to_numpy(), g["population"].to_numpy(), beta)
        g["rr"] = np.exp(beta * dc)
    g["delta_pm25"] = dc
    g["avoided"] = avoided
    total = float(np.sum(avoided))
    value = None if vsl is None else total * float(vsl)
    if vsl is not None:
        g["value"] = g["avoided"] * float(vsl)
        info["vsl"] = float(vsl)
    return HealthResult(g, total, value, info)


def monte_carlo(
    delta_pm25: float,
    *,
    population: float,
    baseline_mortality: float,
    crf: str = "krewski2009",
    baseline_pm25: float | None = None,
    vsl: float | None = None,
    vsl_elasticity: tuple[float, float] | None = None,
    vsl_base: tuple[float, float, float] | None = None,
    n: int = 10_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Monte Carlo on the coefficients (seeded): percentiles 2.5/50/97.5 of avoided deaths (and value).

    Log-linear CRFs: ln RR ~ Normal(ln rr, (ln rr_high − ln rr_low)/(2·1.96)) from the set's 95 % CI.
    GEMM: θ ~ Normal(θ, theta_se).  VSL: with ``vsl_base=(vsl_b, income_b, income_t)`` and
    ``vsl_elasticity=(lo, hi)`` the elasticity is Uniform(lo, hi) and VSL = vsl_b·(income_t/income_b)^e;
    otherwise ``vsl`` is fixed.
    """
    rng = np.random.default_rng(seed)
    if crf == "gemm":
        if baseline_pm25 is None:
            raise InputError("health", "baseline_pm25 for the GEMM")
        row = coefficients.load("gemm").row(gemm="burnett2018_ncdlri_china")
        theta = rng.normal(float(row["theta"]), float(row["theta_se"]), n)
        p = {k: float(row[k]) for k in ("alpha", "mu", "nu", "cf")}
        z0, z1 = (max(0.0, c - p["cf"]) for c in (baseline_pm25, baseline_pm25 - delta_pm25))

        def shape(z: float) -> float:
            return math.log1p(z / p["alpha"]) / (1.0 + math.exp(-(z - p["mu"]) / p["nu"]))

        avoided = baseline_mortality * (1.0 - np.exp(theta * (shape(z1) - shape(z0)))) * population
    else:
        row = coefficients.load("crf").row(crf=crf)
        sd = (math.log(float(row["rr_high"])) - math.log(float(row["rr_low"]))) / (2 * Z95)
        beta = rng.normal(math.log(float(row["rr"])), sd, n) / float(row["per"])
        avoided = benmap_avoided(delta_pm25, baseline_mortality, population, beta)
    out: dict[str, Any] = {"n": n, "seed": seed, "avoided": _pct(avoided)}
    if vsl_base is not None and vsl_elasticity is not None:
        e = rng.uniform(vsl_elasticity[0], vsl_elasticity[1], n)
        v = vsl_base[0] * (vsl_base[2] / vsl_base[1]) ** e
        out["value"] = _pct(avoided * v)
    elif vsl is not None:
        out["value"] = _pct(avoided * vsl)
    return out


def _pct(x: np.ndarray) -> dict[str, float]:
    q = np.percentile(x, [2.5, 50, 97.5])
    return {"p2.5": float(q[0]), "p50": float(q[1]), "p97.5": float(q[2]), "mean": float(np.mean(x))}


def source_receptor(cuts: pd.DataFrame, matrix: pd.DataFrame) -> pd.DataFrame:
    """ΔPM2.5 per receptor from emission cuts through a reduced-form, linear source–receptor matrix.

    ΔC_r = Σ_s Σ_p M[s, r, p] · cut[s, p].  coreduce bundles no matrix (none could be cited): give your own
    (e.g. from an ISRM/InMAP or a COBRA-style run).

    Parameters
    ----------
    cuts : pandas.DataFrame
        ``source, pollutant, cut_t`` (emission cut per year [t], positive = reduced).
    matrix : pandas.DataFrame
        ``source, receptor, pollutant, ug_m3_per_t`` (annual-mean PM2.5 per t/yr of the precursor).

    Returns
    -------
    pandas.DataFrame
        ``receptor, delta_pm25`` [µg/m³]; a (source, pollutant) cut the matrix lacks is an error.
    """
    for name, df, cols in (
        ("cuts", cuts, ("source", "pollutant", "cut_t")),
        ("matrix", matrix, ("source", "receptor", "pollutant", "ug_m3_per_t")),
    ):
        for c in cols:
            if c not in df.columns:
                raise InputError(name, f"a column {c!r}", row=1, column=c)
    m = cuts.merge(matrix, on=["source", "pollutant"], how="left")
    miss = m["ug_m3_per_t"].isna()
    if miss.any():
        r = m[miss].iloc[0]
        raise InputError("matrix", f"a coefficient for source {r['source']!r} and pollutant {r['pollutant']!r}")
    m["delta_pm25"] = m["cut_t"].astype(float) * m["ug_m3_per_t"].astype(float)
    return m.groupby("receptor", sort=True)["delta_pm25"].sum().reset_index()


#: breathing rate [m³ per person per day] used to turn an intake fraction back into a population-weighted
#: concentration: the value InMAP's intake-fraction code uses (``br = 15 // m3 person-1 day-1``,
#: spatialmodel/InMAP).  Give the study's own rate when it differs.
BREATHING_RATE_M3_PER_DAY = 15.0


def pm25_from_emissions(
    cuts_t: dict[str, float],
    population: float,
    *,
    setting: str = "urban",
    if_set: str = "humbert2011",
    days: float = 365.0,
    breathing_rate: float = BREATHING_RATE_M3_PER_DAY,
    user_paths: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Population-weighted PM2.5 change from emission cuts through intake fractions (reduced form).

    An intake fraction iF is the mass of PM2.5 (primary, or secondary formed from the precursor) inhaled by the
    whole population per mass emitted.  With ``population`` people breathing ``breathing_rate`` m³/day for
    ``days`` days, the population-weighted mean concentration change is

        ΔC [µg/m³] = Σ_p iF_p · cut_p [t] · 10¹² µg/t / (population · breathing_rate · days)

    (``days=365``: the annual-mean-equivalent change of a one-off or annual cut, what the long-term CRFs take).
    In the linear range ΔC · population — hence the avoided cases — does not depend on which population is
    chosen, as long as it is the one the iF was computed over.  Pollutants without a row (CO2, VOCs, CO …)
    contribute nothing and are listed under ``ignored``.

    Returns
    -------
    dict
        ``delta_pm25`` [µg/m³], ``by_pollutant`` (µg/m³ each), ``inhaled_kg``, ``if_set``, ``setting``,
        ``population``, ``days``, ``breathing_rate``, ``verified`` (all rows verified?), ``sources``, ``ignored``.
    """
    if population <= 0 or days <= 0 or breathing_rate <= 0:
        raise InputError(
            "pm25_from_emissions", "population, days and breathing_rate > 0", value=f"{population}, {days}"
        )
    cs = coefficients.load("intake_fraction", user_paths)
    rows = cs.rows(if_set=if_set)
    if rows.empty:
        raise InputError("intake_fraction", f"an if_set among {sorted(set(cs.frame['if_set']))}", value=if_set)
    by, inhaled, srcs, ver, ignored = {}, 0.0, {}, [], []
    for p, cut in cuts_t.items():
        r = rows[(rows["pollutant"] == p) & (rows["setting"].isin([setting, "any"]))]
        if r.empty:
            ignored.append(p)
            continue
        row = r.iloc[0]
        ifr = float(row["intake_fraction"])
        by[p] = ifr * float(cut) * 1e12 / (population * breathing_rate * days)
        inhaled += ifr * float(cut) * 1000.0
        srcs[p] = str(row["source"])
        ver.append(str(row["verified"]) == "yes")
    return {
        "delta_pm25": float(sum(by.values())),
        "by_pollutant": by,
        "inhaled_kg": inhaled,
        "if_set": if_set,
        "setting": setting,
        "population": float(population),
        "days": float(days),
        "breathing_rate": float(breathing_rate),
        "verified": bool(ver) and all(ver),
        "sources": srcs,
        "ignored": sorted(ignored),
        "version": cs.version,
    }
