"""Carbon-peak paths: a region's CO2 projected to 2060 from its Kaya drivers, with Monte Carlo bands.

Kaya identity (Kaya 1990; IPCC AR6 WGIII Ch.2 §2.4): ``CO2 = P · (GDP/P) · (CO2/GDP)``; with primary energy
(OWID) the carbon intensity of GDP splits into energy intensity ``E/GDP`` and carbon intensity of energy
``CO2/E``. Each factor's annual log growth rate is **fitted on history** (mean and standard error over the
last ``fit_years`` years); projections let each rate relax from its fitted value toward the scenario's
long-run rate with a time constant τ:

    g_X(t) = g_X,∞ + (ĝ_X − g_X,∞) · exp(−(t − t_last)/τ)

Monte Carlo draws ĝ_X ~ Normal(fitted mean, standard error) and τ ~ Uniform(τ_lo, τ_hi) per path; the bands are
the 5th/50th/95th percentiles over paths. The scenario rates (``SCENARIOS``) are **assumptions** stated here,
not data: ``baseline`` keeps each driver's own fitted trend, relaxing to zero growth with τ = 20–40 years
(convergence, as in the SSP2 "middle of the road" narrative, Riahi et al. 2017, Glob. Env. Change 42:153);
``low_carbon`` adds a 2 %/yr faster decline of carbon intensity (CO2/GDP or CO2/E); ``high_growth`` adds
1 %/yr to GDP per capita.

Data: OWID countries (``population``, ``gdp`` [2011 int-$], ``primary_energy_consumption`` [TWh], ``co2`` [Mt])
and CEADs provinces (``Scope_1_Total`` CO2) with population and real GDP (2000 prices) summed from the city
panel (vendor-compiled: see its PROVENANCE.md; a year is used only when all the province's cities are present).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: scenario -> {factor: (additional long-run growth rate per year, as a fraction)}; assumptions (see module doc)
SCENARIOS: dict[str, dict[str, float]] = {
    "baseline": {},
    "low_carbon": {"carbon_intensity": -0.02},
    "high_growth": {"gdp_per_capita": 0.01},
}

#: CEADs English province name -> the city panel's province_cn
PROVINCES_CN: dict[str, str] = {
    "Anhui": "安徽省", "Beijing": "北京市", "Chongqing": "重庆市", "Fujian": "福建省", "Gansu": "甘肃省",
    "Guangdong": "广东省", "Guangxi": "广西壮族自治区", "Guizhou": "贵州省", "Hainan": "海南省", "Hebei": "河北省",
    "Heilongjiang": "黑龙江省", "Henan": "河南省", "Hubei": "湖北省", "Hunan": "湖南省",
    "InnerMongolia": "内蒙古自治区", "Jiangsu": "江苏省", "Jiangxi": "江西省", "Jilin": "吉林省", "Liaoning": "辽宁省",
    "Ningxia": "宁夏回族自治区", "Qinghai": "青海省", "Shaanxi": "陕西省", "Shandong": "山东省", "Shanghai": "上海市",
    "Shanxi": "山西省", "Sichuan": "四川省", "Tianjin": "天津市", "Xinjiang": "新疆维吾尔自治区", "Yunnan": "云南省",
    "Zhejiang": "浙江省",
}  # fmt: skip


def find_peak(years, values) -> dict[str, Any]:
    """The peak of an annual series: ``year``, ``value`` and ``peaked`` (False when the maximum is the last
    year: still rising at the end of the horizon, so no peak is found)."""
    y, v = np.asarray(years), np.asarray(values, dtype=float)
    i = int(np.nanargmax(v))
    return {"year": int(y[i]), "value": float(v[i]), "peaked": bool(i < len(v) - 1)}


def drivers_owid(country: str, path=None) -> pd.DataFrame:
    """OWID history of one country: ``year, population, gdp, energy, co2`` (gdp 2011 int-$, energy TWh, co2 Mt)."""
    from coreduce.errors import InputError
    from coreduce.ingest.loaders import locate

    p = path or locate("owid")
    p = p / "owid-co2-data.parquet" if hasattr(p, "is_dir") and p.is_dir() else p
    cols = ["country", "year", "population", "gdp", "primary_energy_consumption", "co2"]
    d = pd.read_parquet(p, columns=cols) if str(p).endswith(".parquet") else pd.read_csv(p, usecols=cols)
    d = d[d["country"] == country]
    if d.empty:
        raise InputError(str(p), "an OWID country name (column country), e.g. China", column="country", value=country)
    d = d.rename(columns={"primary_energy_consumption": "energy"}).drop(columns="country")
    return d.dropna().sort_values("year").reset_index(drop=True)


def drivers_ceads(province: str) -> pd.DataFrame:
    """CEADs province CO2 (Mt) with population (persons) and real GDP (yuan, 2000 prices) from the city panel."""
    from coreduce.errors import InputError
    from coreduce.ingest.loaders import read_ceads_province_totals, shared_data_dir

    if province not in PROVINCES_CN:
        raise InputError(
            "ceads", f"a CEADs province among {', '.join(PROVINCES_CN)}", column="province", value=province
        )
    co2 = read_ceads_province_totals()
    co2 = co2[co2["province"] == province][["year", "scope_1_total_t"]]
    p = _city_panel(str(shared_data_dir() / "china_city_panel" / "china_city_panel_2000_2023.csv.gz"))
    p = p[p["province_cn"] == PROVINCES_CN[province]]
    g = p.groupby("year").agg(
        population=("resident_pop_10k", lambda s: s.sum(min_count=1) * 1e4),
        gdp=("gdp_real_2000prices_100m_yuan", lambda s: s.sum(min_count=1) * 1e8),
        cities=("city_cn", "nunique"),
        complete=("gdp_real_2000prices_100m_yuan", lambda s: bool(s.notna().all())),
    )
    g = g[(g["cities"] == g["cities"].max()) & g["complete"]]
    d = co2.merge(g[["population", "gdp"]].reset_index(), on="year")
    d["co2"] = d.pop("scope_1_total_t") / 1e6
    return d.dropna().sort_values("year").reset_index(drop=True)


@functools.lru_cache(maxsize=2)
def _city_panel(path: str) -> pd.DataFrame:
    """The city panel's population and real GDP columns (read once per process: every province uses it)."""
    return pd.read_csv(path, usecols=["province_cn", "city_cn", "year", "resident_pop_10k",
                                      "gdp_real_2000prices_100m_yuan"])  # fmt: skip


def kaya_factors(d: pd.DataFrame) -> pd.DataFrame:
    """Kaya factors by year: population, gdp_per_capita, and carbon_intensity (CO2/GDP) or, with energy,
    energy_intensity (E/GDP) and carbon_intensity (CO2/E). Their product is CO2 [Mt]."""
    f = pd.DataFrame({"year": d["year"], "population": d["population"], "gdp_per_capita": d["gdp"] / d["population"]})
    if "energy" in d:
        f["energy_intensity"] = d["energy"] / d["gdp"]
        f["carbon_intensity"] = d["co2"] / d["energy"]
    else:
        f["carbon_intensity"] = d["co2"] / d["gdp"]
    return f.set_index("year")


@dataclass
class PeakResult:
    region: str
    source: str
    scenario: str
    history: pd.DataFrame  # year, co2 [Mt]
    paths: pd.DataFrame  # year, p05, p50, p95 [Mt]
    growth: dict[str, dict[str, float]]  # factor -> fitted mean, se of log growth per year
    summary: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"region": self.region, "source": self.source, "scenario": self.scenario, **self.summary,
                "fitted_growth": self.growth}  # fmt: skip

    def figure(self) -> Any:
        """Plotly chart: history, median path and the 5–95 % band."""
        import plotly.graph_objects as go

        p = self.paths
        fig = go.Figure()
        fig.add_trace(go.Scatter(x=p["year"], y=p["p95"], line={"width": 0}, showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=p["year"], y=p["p05"], fill="tonexty", line={"width": 0}, name="5–95 % band"))
        fig.add_trace(go.Scatter(x=p["year"], y=p["p50"], name=f"median, {self.scenario}"))
        fig.add_trace(go.Scatter(x=self.history["year"], y=self.history["co2"], name="history", mode="lines+markers"))
        pk = self.summary.get("peak_year")
        title = f"{self.region} CO2 path ({self.source}, {self.scenario}): " + (
            f"peak {pk} at {self.summary['peak_value_mt']:.0f} Mt" if self.summary.get("peaked") else "no peak by 2060"
        )
        fig.update_layout(title=title, xaxis_title="year", yaxis_title="CO2 [Mt/yr]")
        return fig


def project(
    drivers: pd.DataFrame,
    *,
    scenario: str = "baseline",
    fit_years: int = 10,
    end: int = 2060,
    n_paths: int = 1000,
    tau: tuple[float, float] = (20.0, 40.0),
    seed: int = 0,
    region: str = "",
    source: str = "",
) -> PeakResult:
    """Project CO2 [Mt] from ``drivers`` (``year, population, gdp, [energy,] co2``) to ``end``.

    Returns the 5/50/95 % paths and a summary: ``peak_year``, ``peak_value_mt``, ``peaked`` (median path),
    the share of paths that peak before ``end``, ``co2_2030_mt``, ``co2_2060_mt`` (median), and cumulative
    emissions from the last historical year + 1 to ``end`` [Mt] (median of path sums).
    """
    if scenario not in SCENARIOS:
        from coreduce.errors import InputError

        raise InputError("scenario", f"one of {', '.join(SCENARIOS)}", value=scenario)
    fac = kaya_factors(drivers)
    last = int(fac.index.max())
    lg = np.log(fac).diff().dropna()
    lg = lg[lg.index > last - fit_years]
    growth = {c: {"mean": float(lg[c].mean()), "se": float(lg[c].std(ddof=1) / np.sqrt(len(lg)))} for c in fac}
    rng = np.random.default_rng(seed)
    years = np.arange(last + 1, end + 1)
    t = (years - last)[None, :]
    log_co2 = np.full((n_paths, len(years)), float(np.log(drivers["co2"].iloc[-1])))
    taus = rng.uniform(*tau, size=(n_paths, 1))
    for c in fac:
        g0 = rng.normal(growth[c]["mean"], growth[c]["se"], size=(n_paths, 1))
        ginf = SCENARIOS[scenario].get(c, 0.0)
        g = ginf + (g0 - ginf) * np.exp(-t / taus)
        log_co2 = log_co2 + np.cumsum(g, axis=1)
    co2 = np.exp(log_co2)
    paths, summary = _summarise(drivers, years, co2, seed)
    return PeakResult(region, source, scenario, drivers[["year", "co2"]].copy(), paths, growth, summary)


def peak_path(region: str, source: str = "ceads", scenario: str = "baseline", *, fit_years: int = 10,
              n_paths: int = 1000, seed: int = 0, method: str = "kaya") -> PeakResult:  # fmt: skip
    """A carbon-peak path of a CEADs province (``source="ceads"``) or an OWID country (``"owid"``) by the Kaya
    relaxation (:func:`project`, ``method="kaya"``), STIRPAT or the panel ML variant (:func:`project_drivers`)."""
    from coreduce.errors import InputError

    if source == "ceads":
        d = drivers_ceads(region)
    elif source == "owid":
        d = drivers_owid(region)
    else:
        raise InputError("source", "ceads or owid", value=source)
    if method == "kaya":
        r = project(d, scenario=scenario, fit_years=fit_years, n_paths=n_paths, seed=seed, region=region,
                    source=source)  # fmt: skip
        r.summary["method"] = "kaya"
        return r
    if method not in PEAK_METHODS:
        raise InputError("method", f"one of {', '.join(PEAK_METHODS)}", value=method)
    panel = drivers_panel(source) if method == "ml" else None
    return project_drivers(d, method=method, panel=panel, scenario=scenario, fit_years=fit_years, n_paths=n_paths,
                           seed=seed, region=region, source=source)  # fmt: skip


def _summarise(drivers: pd.DataFrame, years: np.ndarray, co2: np.ndarray, seed: int) -> tuple[pd.DataFrame, dict]:
    """5/50/95 % paths and the summary of Monte Carlo paths ``co2`` (paths × years) after ``drivers``' history."""
    n_paths = co2.shape[0]
    last = int(drivers["year"].max())
    q = np.percentile(co2, [5, 50, 95], axis=0)
    paths = pd.DataFrame({"year": years, "p05": q[0], "p50": q[1], "p95": q[2]})
    hist = drivers[["year", "co2"]].copy()
    full_y = np.concatenate([hist["year"].to_numpy(), years])
    full_v = np.concatenate([hist["co2"].to_numpy(), q[1]])
    pk = find_peak(full_y, full_v)
    allpaths = np.concatenate([np.repeat(hist["co2"].to_numpy()[None, :], n_paths, 0), co2], axis=1)
    peaked_share = float(np.mean(np.argmax(allpaths, axis=1) < allpaths.shape[1] - 1))
    at = {int(y): float(v) for y, v in zip(years, q[1], strict=True)}
    band_2030 = [float(paths.loc[paths.year == 2030, k].iloc[0]) for k in ("p05", "p95")] if 2030 in at else None
    summary = {
        "last_year": last,
        "last_value_mt": float(hist["co2"].iloc[-1]),
        "peak_year": pk["year"] if pk["peaked"] else None,
        "peak_value_mt": pk["value"] if pk["peaked"] else None,
        "peaked": pk["peaked"],
        "share_of_paths_peaking": peaked_share,
        "co2_2030_mt": at.get(2030),
        "co2_2060_mt": at.get(2060),
        "co2_2030_band_mt": band_2030,
        "cumulative_mt": float(np.median(co2.sum(axis=1))),
        "cumulative_from": last + 1,
        "n_paths": n_paths,
        "seed": seed,
    }  # fmt: skip
    return paths, summary


# --- STIRPAT and its machine-learning variant -----------------------------------------------------------------
#
# STIRPAT (Dietz & Rosa 1997, PNAS 94:175; York, Rosa & Dietz 2003, Ecol. Econ. 46:351–365):
#     ln CO2 = a + b·ln P + c·ln A + c2·(ln A)² [+ d·ln T] + e
# with P population, A GDP per capita, T energy intensity (E/GDP, when energy is known); the quadratic term in
# ln A is the usual environmental-Kuznets extension. Fitted by OLS on the region's own history.
# The ML variant learns ln(CO2/P) = f(ln A [, ln T]) with gradient-boosted trees on the PANEL of all regions of
# the same source (OWID countries, CEADs provinces): richer regions show where carbon per head goes as income
# grows, which one region's history cannot. The region keeps its own level (the mean residual of its last
# 5 years). Trees do not extrapolate: beyond the panel's richest region f is flat.
# Both project the drivers P, A, T with the same Monte Carlo relaxation as the Kaya path (fitted log growth
# ~ Normal(mean, se), τ ~ Uniform); the scenario's extra carbon-intensity decline (``low_carbon``) multiplies
# CO2 by exp(Σ g_extra·(1 − e^{−t/τ})) — the same ramp toward the scenario rate as in the Kaya path.

PEAK_METHODS = ("kaya", "stirpat", "ml")


def drivers_panel(source: str) -> pd.DataFrame:
    """Drivers of every region of a source: ``region, year, population, gdp, [energy,] co2`` (OWID: countries
    with an ISO code, aggregates left out; CEADs: the 30 provinces)."""
    from coreduce.errors import InputError

    if source == "owid":
        from coreduce.ingest.loaders import locate

        p = locate("owid")
        p = p / "owid-co2-data.parquet" if hasattr(p, "is_dir") and p.is_dir() else p
        cols = ["country", "iso_code", "year", "population", "gdp", "primary_energy_consumption", "co2"]
        d = pd.read_parquet(p, columns=cols) if str(p).endswith(".parquet") else pd.read_csv(p, usecols=cols)
        d = d[d["iso_code"].notna() & ~d["iso_code"].astype(str).str.startswith("OWID")]
        d = d.rename(columns={"country": "region", "primary_energy_consumption": "energy"}).drop(columns="iso_code")
        d = d.dropna()
        return d[(d[["population", "gdp", "energy", "co2"]] > 0).all(axis=1)].reset_index(drop=True)
    if source == "ceads":
        parts = [drivers_ceads(r).assign(region=r) for r in PROVINCES_CN]
        return pd.concat(parts, ignore_index=True)[["region", "year", "population", "gdp", "co2"]]
    raise InputError("source", "ceads or owid", value=source)


def _stirpat_design(la: np.ndarray, lp: np.ndarray, lt: np.ndarray | None) -> np.ndarray:
    cols = [np.ones_like(la), lp, la, la**2] + ([lt] if lt is not None else [])
    return np.stack(cols, axis=-1)


def stirpat_fit(drivers: pd.DataFrame) -> dict[str, Any]:
    """OLS STIRPAT on one region's history: coefficients (``const, ln_P, ln_A, ln_A2[, ln_T]``), their
    covariance, R² and the last year's residual."""
    lp, la = np.log(drivers["population"].to_numpy(float)), np.log((drivers["gdp"] / drivers["population"]).to_numpy())
    lt = np.log((drivers["energy"] / drivers["gdp"]).to_numpy()) if "energy" in drivers else None
    X, y = _stirpat_design(la, lp, lt), np.log(drivers["co2"].to_numpy(float))
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    res = y - X @ beta
    dof = max(len(y) - X.shape[1], 1)
    cov = float(res @ res / dof) * np.linalg.pinv(X.T @ X)
    names = ["const", "ln_P", "ln_A", "ln_A2"] + (["ln_T"] if lt is not None else [])
    r2 = 1 - float(res @ res) / float(((y - y.mean()) ** 2).sum())
    return {"names": names, "beta": beta, "cov": cov, "r2": r2, "last_residual": float(res[-1])}


def ml_fit(panel: pd.DataFrame, seed: int = 0) -> Any:
    """Gradient-boosted trees (scikit-learn) of ln(CO2/P) on ln A [, ln T] over a panel of regions."""
    from sklearn.ensemble import GradientBoostingRegressor

    X = _ml_features(panel)
    y = np.log(panel["co2"] / panel["population"]).to_numpy()
    gb = GradientBoostingRegressor(n_estimators=300, max_depth=3, learning_rate=0.05, min_samples_leaf=10,
                                   random_state=seed)  # fmt: skip
    return gb.fit(X, y)


def _ml_features(d: pd.DataFrame) -> np.ndarray:
    cols = [np.log(d["gdp"] / d["population"]).to_numpy()]
    if "energy" in d:
        cols.append(np.log(d["energy"] / d["gdp"]).to_numpy())
    return np.stack(cols, axis=-1)


def project_drivers(
    drivers: pd.DataFrame,
    *,
    method: str = "stirpat",
    panel: pd.DataFrame | None = None,
    scenario: str = "baseline",
    fit_years: int = 10,
    end: int = 2060,
    n_paths: int = 1000,
    tau: tuple[float, float] = (20.0, 40.0),
    seed: int = 0,
    region: str = "",
    source: str = "",
) -> PeakResult:
    """CO2 path from projected drivers through STIRPAT (``method="stirpat"``) or the panel ML model (``"ml"``,
    ``panel`` required: :func:`drivers_panel`). Same outputs as :func:`project`; ``growth`` also holds the
    fitted STIRPAT coefficients (``stirpat``) or the ML anchor offset (``ml``)."""
    from coreduce.errors import InputError

    if scenario not in SCENARIOS:
        raise InputError("scenario", f"one of {', '.join(SCENARIOS)}", value=scenario)
    if method not in ("stirpat", "ml"):
        raise InputError("method", "stirpat or ml (kaya: project())", value=method)
    d = drivers.sort_values("year").reset_index(drop=True)
    fac = pd.DataFrame(
        {"population": d["population"].to_numpy(), "gdp_per_capita": (d["gdp"] / d["population"]).to_numpy()},
        index=d["year"].to_numpy(),
    )
    if "energy" in d:
        fac["energy_intensity"] = (d["energy"] / d["gdp"]).to_numpy()
    last = int(fac.index.max())
    lg = np.log(fac).diff().dropna()
    lg = lg[lg.index > last - fit_years]
    growth: dict[str, Any] = {c: {"mean": float(lg[c].mean()), "se": float(lg[c].std(ddof=1) / np.sqrt(len(lg)))}
                              for c in fac}  # fmt: skip
    rng = np.random.default_rng(seed)
    years = np.arange(last + 1, end + 1)
    t = (years - last)[None, :]
    taus = rng.uniform(*tau, size=(n_paths, 1))
    logs = {}
    for c in fac:
        g0 = rng.normal(growth[c]["mean"], growth[c]["se"], size=(n_paths, 1))
        ginf = SCENARIOS[scenario].get(c, 0.0)
        logs[c] = float(np.log(fac[c].iloc[-1])) + np.cumsum(ginf + (g0 - ginf) * np.exp(-t / taus), axis=1)
    extra = SCENARIOS[scenario].get("carbon_intensity", 0.0)
    ramp = np.cumsum(extra * (1 - np.exp(-t / taus)), axis=1)
    lp, la = logs["population"], logs["gdp_per_capita"]
    lt = logs.get("energy_intensity")
    if method == "stirpat":
        fit = stirpat_fit(d)
        betas = rng.multivariate_normal(fit["beta"], fit["cov"], size=n_paths, method="svd")  # (paths, k)
        X = _stirpat_design(la, lp, lt)  # (paths, years, k)
        log_co2 = np.einsum("pyk,pk->py", X, betas) + fit["last_residual"]
        # anchor each path at the last observation (the coefficient draw moves the fitted level)
        lt_last = np.log(np.atleast_1d(fac["energy_intensity"].iloc[-1])) if lt is not None else None
        x_last = _stirpat_design(np.log(np.atleast_1d(fac["gdp_per_capita"].iloc[-1])),
                                 np.log(np.atleast_1d(fac["population"].iloc[-1])), lt_last)  # fmt: skip
        log_co2 = log_co2 - (betas @ x_last[0] - fit["beta"] @ x_last[0])[:, None]
        growth["stirpat"] = {"names": fit["names"], "beta": [float(b) for b in fit["beta"]], "r2": fit["r2"]}
    else:
        if panel is None:
            raise InputError("panel", "a panel of regions (drivers_panel) for the ML variant", value=None)
        gb = ml_fit(panel, seed=seed)
        own = d.tail(5)
        offset = float(np.mean(np.log(own["co2"] / own["population"]) - gb.predict(_ml_features(own))))
        feats = [la.ravel()] + ([lt.ravel()] if lt is not None else [])
        f = gb.predict(np.stack(feats, axis=-1)).reshape(la.shape)
        log_co2 = lp + f + offset
        growth["ml"] = {"model": "GradientBoostingRegressor(300, depth 3, lr 0.05)", "offset": offset,
                        "panel_regions": int(panel["region"].nunique()) if "region" in panel else None,
                        "panel_rows": len(panel)}  # fmt: skip
    co2 = np.exp(log_co2 + ramp)
    paths, summary = _summarise(d, years, co2, seed)
    summary["method"] = method
    return PeakResult(region, source, scenario, d[["year", "co2"]].copy(), paths, growth, summary)
