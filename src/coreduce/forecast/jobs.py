"""Forecast pipelines: library calls recorded on the ledger (seed, model version), the CLI's and demo's entry.

- :func:`backtest_outputs` — rolling-origin backtest of the model suite on a data set (registered entrypoint);
- :func:`forecast_outputs` — forecasts from the latest cutoff, as rows of the ``forecasts`` table;
- :func:`peak_outputs` — a region's carbon-peak path (registered entrypoint);
- :func:`recorded_run` — runs any of them inside ``Ledger.run`` and stores the ``forecasts`` rows with
  ``run.write`` in the same transaction as the record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from coreduce.errors import InputError
from coreduce.forecast.backtest import backtest, label
from coreduce.forecast.frames import daily_cutoffs, forecasts_table, from_observations
from coreduce.forecast.intervals import Conformal
from coreduce.forecast.models import Climatology, Forecaster, Persistence, SeasonalNaive, StatsModel
from coreduce.ledger import entrypoint

DATASETS = ("beijing-aq", "pjm-east", "eia930:<series>")
#: weather columns of the Beijing multi-site set used as features (observed up to the cutoff)
BEIJING_WEATHER = ("TEMP", "DEWP", "PRES", "WSPM", "RAIN")
#: Beijing local time is UTC+8 without daylight saving (the loader's BEIJING_TZ)
BEIJING_UTC_OFFSET_H = 8.0
MODELS = ("persistence", "seasonal_naive_24", "seasonal_naive_168", "climatology", "mstl", "autoets", "lightgbm",
          "lightgbm_ensemble", "lightgbm_next_hour", "lightgbm+oracle_weather")  # fmt: skip


#: the zone names of EIA's "Balancing Authority Acronyms" table (``balancing_authority_acronyms.csv``) as IANA
#: zones; "Arizona" is Mountain time without daylight saving
EIA_ZONES = {"Eastern": "America/New_York", "Central": "America/Chicago", "Mountain": "America/Denver",
             "Arizona": "America/Phoenix", "Pacific": "America/Los_Angeles"}  # fmt: skip
#: the EIA-930 regions (file names) and the ``Region`` they are in the acronyms table (Ruggles et al.'s README)
EIA930_REGIONS = {"CAL": "California", "CAR": "Carolinas", "CENT": "Central", "FLA": "Florida", "MIDA": "Mid-Atlantic",
                  "MIDW": "Midwest", "NE": "New England", "NW": "Northwest", "NY": "New York", "SE": "Southeast",
                  "SW": "Southwest", "TEN": "Tennessee", "TEX": "Texas"}  # fmt: skip
#: aggregates not in the table: a stated choice, the zone of the bulk of their load (CONUS: US Central, the
#: benchmark's earlier fixed UTC-6)
EIA930_AGGREGATE_ZONES = {"EASTERN_IC": "America/New_York", "TEXAS_IC": "America/Chicago",
                          "WESTERN_IC": "America/Los_Angeles", "CONUS": "America/Chicago"}  # fmt: skip


def eia930_time_zone(name: str) -> str:
    """IANA time zone of an EIA-930 series of the shared set, from its ``balancing_authority_acronyms.csv``:
    a BA's own zone (a sub-region such as ``CISO-PGAE`` takes its BA's), a region's most common zone among its
    BAs (none of the 13 regions has a tie), an interconnect's or CONUS's from :data:`EIA930_AGGREGATE_ZONES`."""
    from coreduce.ingest.loaders import shared_data_dir

    if name in EIA930_AGGREGATE_ZONES:
        return EIA930_AGGREGATE_ZONES[name]
    p = shared_data_dir() / "eia930_cleaned_hourly_demand" / "balancing_authority_acronyms.csv"
    tab = pd.read_csv(p, skiprows=1)  # line 1 is the table's source line
    if name in EIA930_REGIONS:
        z = tab.loc[tab["Region"] == EIA930_REGIONS[name], "Time Zone"].dropna()
        return EIA_ZONES[z.value_counts(sort=True).index[0]]
    row = tab.loc[tab["Code"] == name.split("-", 1)[0], "Time Zone"].dropna()
    if row.empty:
        raise InputError(str(p), "a BA code with a time zone", column="Code", value=name)
    return EIA_ZONES[row.iloc[0]]


def load_frame(dataset: str, target: str, stations: Sequence[str] | None = None) -> tuple[pd.DataFrame, dict]:
    """``unique_id, ds, y, <exog>`` for a data set, and its metadata (``unit``, ``utc_offset_h``, ``exog``; for
    EIA-930 series also ``local_tz``: ``{series: IANA zone}`` from :func:`eia930_time_zone`).

    ``beijing-aq``: the UCI multi-site set through :func:`coreduce.ingest.loaders.read_beijing_aq`
    (stations by name, e.g. ``Dongsi``); exogenous columns: the weather. ``pjm-east``: PJM East hourly load
    [MW] (shared ``pjm_east_hourly_load/PJME_hourly.csv.gz``, Kaggle "Hourly Energy Consumption", CC0), on its
    published local clock (duplicate hours at the autumn DST change averaged; the spring gap is a NaN hour).
    ``eia930:<series>``: the cleaned hourly demand [MW] of Ruggles et al. (2020), UTC (``eia930:CONUS``,
    ``eia930:PJM-DOM`` ...; shared ``eia930_cleaned_hourly_demand``).
    """
    if dataset == "beijing-aq":
        from coreduce.ingest.loaders import read_beijing_aq

        _, obs = read_beijing_aq(stations=stations)
        df = from_observations(obs, target, [c for c in BEIJING_WEATHER if c != target])
        return df, {"unit": df.attrs["units"]["y"], "utc_offset_h": BEIJING_UTC_OFFSET_H,
                    "exog": [c for c in BEIJING_WEATHER if c != target], "variable": target}  # fmt: skip
    if dataset == "pjm-east":
        from coreduce.forecast.frames import complete_grid
        from coreduce.ingest.loaders import shared_data_dir

        p = shared_data_dir() / "pjm_east_hourly_load" / "PJME_hourly.csv.gz"
        raw = pd.read_csv(p, parse_dates=["Datetime"])
        d = raw.groupby("Datetime", as_index=False)["PJME_MW"].mean()
        df = complete_grid(pd.DataFrame({"unique_id": "PJME", "ds": d["Datetime"], "y": d["PJME_MW"]}))
        return df, {"unit": "MW", "utc_offset_h": 0.0, "exog": [], "variable": "load"}
    if dataset.startswith("eia930:"):
        from coreduce.forecast.frames import complete_grid
        from coreduce.ingest.loaders import shared_data_dir

        name = dataset.split(":", 1)[1]
        root = shared_data_dir() / "eia930_cleaned_hourly_demand"
        hits = [p for p in (root / f"{name}.csv.gz", *(root / d / f"{name}.csv.gz" for d in
                ("regions", "balancing_authorities", "interconnects"))) if p.is_file()]  # fmt: skip
        if not hits:
            raise InputError(str(root), "an EIA-930 series file <name>.csv.gz (CONUS, a region or a BA)", value=name)
        raw = pd.read_csv(hits[0], parse_dates=["date_time"])
        df = complete_grid(pd.DataFrame({"unique_id": name, "ds": raw["date_time"], "y": raw["cleaned demand (MW)"]}))
        return df, {"unit": "MW", "utc_offset_h": 0.0, "exog": [], "variable": "load",
                    "local_tz": {name: eia930_time_zone(name)}}  # fmt: skip
    raise InputError("dataset", f"one of {', '.join(DATASETS)}", value=dataset)


def dataset_meta(dataset: str, target: str) -> dict:
    """What :func:`load_frame` returns as metadata, without reading the data (for model versions up front)."""
    if dataset == "beijing-aq":
        ex = [c for c in BEIJING_WEATHER if c != target]
        return {"unit": "ug/m^3", "utc_offset_h": BEIJING_UTC_OFFSET_H, "exog": ex, "variable": target}
    if dataset.startswith("eia930:"):
        name = dataset.split(":", 1)[1]
        return {"unit": "MW", "utc_offset_h": 0.0, "exog": [], "variable": "load",
                "local_tz": {name: eia930_time_zone(name)}}  # fmt: skip
    return {"unit": "MW", "utc_offset_h": 0.0, "exog": [], "variable": "load"}


def make_models(
    names: Sequence[str], horizon: int, meta: dict, seed: int = 0, stat_stride: int = 1
) -> list[Forecaster]:
    """Model objects by name (see :data:`MODELS`)."""
    out: list[Forecaster] = []
    for n in names:
        if n == "persistence":
            out.append(Persistence())
        elif n.startswith("seasonal_naive_"):
            out.append(SeasonalNaive(int(n.rsplit("_", 1)[1])))
        elif n == "climatology":
            out.append(Climatology(meta["utc_offset_h"]))
        elif n in ("mstl", "autoets"):
            out.append(StatsModel(n, stride=stat_stride))
        elif n in ("lightgbm", "lightgbm+oracle_weather"):
            from coreduce.forecast.gbm import LightGBMForecaster

            out.append(LightGBMForecaster(horizon, meta["exog"], oracle=n.endswith("oracle_weather"),
                                          utc_offset_h=meta["utc_offset_h"], local_tz=meta.get("local_tz"),
                                          seed=seed))  # fmt: skip
        elif n == "lightgbm_ensemble":
            from coreduce.forecast.gbm import LightGBMForecaster
            from coreduce.forecast.models import Ensemble

            # the benchmark's recipe on the inputs every data set has: three LightGBMs that differ in inputs and
            # training sample (the plain one, + every series of the panel by name, + training cutoffs every 12 h)
            kw = {"utc_offset_h": meta["utc_offset_h"], "local_tz": meta.get("local_tz"), "seed": seed}
            out.append(Ensemble([LightGBMForecaster(horizon, meta["exog"], **kw),
                                 LightGBMForecaster(horizon, meta["exog"], neighbours=True, **kw),
                                 LightGBMForecaster(horizon, meta["exog"], neighbours=True, train_every=12, **kw)],
                                name="lightgbm_ensemble"))  # fmt: skip
        elif n == "lightgbm_next_hour":
            if horizon != 1:
                raise InputError("models", "lightgbm_next_hour with --horizon 1 (it forecasts the next hour only)",
                                 value=f"{n} with horizon {horizon}")  # fmt: skip
            from coreduce.forecast.nexthour import NextHourLightGBM

            out.append(NextHourLightGBM(meta["exog"], utc_offset_h=meta["utc_offset_h"], seed=seed))
        else:
            raise InputError("models", f"model names among {', '.join(MODELS)}", value=n)
    return out


@entrypoint
def backtest_outputs(
    dataset: str = "beijing-aq",
    target: str = "PM2.5",
    horizon: int = 24,
    stations: list[str] | None = None,
    models: list[str] | None = None,
    test_start: str = "2016-03-01",
    test_end: str = "2017-02-28",
    cal_days: int = 120,
    every_days: int = 1,
    stat_stride: int = 7,
    issue_hour: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """Rolling-origin backtest: forecasts issued daily at ``issue_hour`` local time for horizons 1…``horizon``
    over the test period, after fitting on everything before it; 95 % conformal intervals calibrated on the
    ``cal_days`` issue days before the test. Returns ``metrics`` (frame) and ``explanation`` (dict).

    Slow local models (MSTL, AutoETS) are backtested on every ``stat_stride``-th cutoff; their ratios are to
    persistence on those same cutoffs.
    """
    df, meta = load_frame(dataset, target, stations)
    names = list(models or ["persistence", "seasonal_naive_24", "seasonal_naive_168", "climatology", "lightgbm"])
    ms = make_models(names, horizon, meta, seed, stat_stride)
    off = meta["utc_offset_h"]
    test = daily_cutoffs(test_start, test_end, issue_hour=issue_hour, utc_offset_h=off, every_days=every_days)
    first = pd.Timestamp(test_start)
    cal = daily_cutoffs(first - pd.Timedelta(days=cal_days), first - pd.Timedelta(days=2), issue_hour=issue_hour,
                        utc_offset_h=off, every_days=every_days)  # fmt: skip
    res = backtest(df, ms, h=horizon, test_cutoffs=test, cal_cutoffs=cal)
    met = res.metrics
    headline = met[~met["oracle_weather"]].sort_values("mae").iloc[0]
    explanation = {
        "dataset": dataset, "target": target, "unit": meta["unit"], "horizon": horizon,
        "test": [test_start, test_end], "cutoffs": len(test), "series": int(df["unique_id"].nunique()),
        "headline_model": str(headline["model"]), "headline_mae": float(headline["mae"]),
        "oracle_models": [str(m) for m in met.loc[met["oracle_weather"], "model"]],
        "intervals": f"split conformal 95 %, log1p residuals by horizon, {len(cal)} calibration issue days",
        "model_versions": {label(m): m.version for m in ms},
    }  # fmt: skip
    return {"metrics": met, "explanation": explanation}


@entrypoint
def forecast_outputs(
    dataset: str = "beijing-aq",
    target: str = "PM2.5",
    horizon: int = 24,
    stations: list[str] | None = None,
    model: str = "seasonal_naive_24",
    cal_days: int = 60,
    issue_hour: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """Forecasts for horizons 1…``horizon`` after the last issue time the data reach (``issue_hour`` local), with
    95 % conformal intervals calibrated on the ``cal_days`` issue days before; rows of ``forecasts`` (``run_id``
    empty: :func:`recorded_run` fills it with the run's id when it stores them)."""
    df, meta = load_frame(dataset, target, stations)
    (m,) = make_models([model], horizon, meta, seed)
    off = meta["utc_offset_h"]
    # the latest issue time whose cutoff (issue - 1 h) is observed: forecasts for the hours after the data
    last_issue = (df["ds"].max() + pd.Timedelta(hours=1 + off - issue_hour)).normalize()
    cut = daily_cutoffs(last_issue, last_issue, issue_hour=issue_hour, utc_offset_h=off)
    cal = daily_cutoffs(last_issue - pd.Timedelta(days=cal_days), last_issue - pd.Timedelta(days=2),
                        issue_hour=issue_hour, utc_offset_h=off)  # fmt: skip
    m.fit(df[df["ds"] <= cal.min()])
    calfc = m.predict(df[df["ds"] <= cal.max() + pd.Timedelta(hours=horizon)], horizon, cal)
    calfc = calfc.merge(df[["unique_id", "ds", "y"]], on=["unique_id", "ds"], how="left")
    conf = Conformal.calibrate(calfc)
    m.fit(df[df["ds"] <= cut.max()])
    fc = conf.add_intervals(m.predict(df, horizon, cut), (95,))
    rows = forecasts_table(fc, model=label(m), run_id="", variable=meta["variable"], unit=meta["unit"],
                           levels=(95,))  # fmt: skip
    return {"forecasts": rows, "explanation": {"model": label(m), "model_version": m.version,
                                               "cutoff": str(cut.max()), "rows": len(rows)}}  # fmt: skip


@entrypoint
def peak_outputs(region: str = "Jiangsu", source: str = "ceads", scenario: str = "baseline", fit_years: int = 10,
                 n_paths: int = 1000, seed: int = 0, method: str = "kaya") -> dict[str, Any]:  # fmt: skip
    """A region's carbon-peak path (:func:`coreduce.forecast.peak.peak_path`; ``method`` kaya, stirpat or ml):
    ``paths`` frame and ``summary``."""
    from coreduce.forecast.peak import peak_path

    r = peak_path(region, source, scenario, fit_years=fit_years, n_paths=n_paths, seed=seed, method=method)
    return {"paths": r.paths, "history": r.history, "summary": r.as_dict(), "result": r}


PEAK_MODEL_VERSION = "kaya-relaxed-growth 1"
#: model version recorded on the ledger per peak method
PEAK_MODEL_VERSIONS = {"kaya": PEAK_MODEL_VERSION, "stirpat": "stirpat-ols-ekc 1", "ml": "panel-gbr 1"}


def recorded_run(kind: str, fn: Any, params: dict[str, Any], store: Any, *, model_version: str) -> dict[str, Any]:
    """Run ``fn(**params)`` inside a ledger run on ``store`` (seed recorded and set), record its frame outputs
    and explanation, and store its ``forecasts`` rows with ``run.write`` (same transaction as the record).

    Returns the outputs plus ``run_id`` and ``seq``.
    """
    from coreduce.ledger import Ledger
    from coreduce.store import Store

    st = store if isinstance(store, Store) else Store(store)
    try:
        led = Ledger(st)
        ep = f"{fn.__module__}:{fn.__name__}"
        with led.run(kind, entrypoint=ep, params=params, seed=params.get("seed"), model_version=model_version) as run:
            out = dict(fn(**params))
            for k, v in out.items():
                if isinstance(v, pd.DataFrame):
                    run.output(k, v)
            if "summary" in out:
                run.output("summary", out["summary"])
            run.explain(out.get("explanation") or out.get("summary"))
            if "forecasts" in out:
                out["forecasts"] = out["forecasts"].assign(run_id=run.run_id)
                run.write("forecasts", out["forecasts"], source=f"forecasts of run {run.run_id}")
        out["run_id"], out["seq"] = run.run_id, run.seq
        return out
    finally:
        if st is not store:
            st.close()


def metrics_json(met: pd.DataFrame) -> list[dict[str, Any]]:
    """Metrics rows as JSON-able dicts (NaN -> None)."""
    rows = met.to_dict(orient="records")
    return [{k: (None if isinstance(v, float) and np.isnan(v) else (v.item() if hasattr(v, "item") else v))
             for k, v in r.items()} for r in rows]  # fmt: skip


#: the 16-point compass of the UCI files' ``wd`` column -> degrees clockwise from north (direction FROM which
#: the wind blows, the meteorological convention)
COMPASS_DEG = {name: 22.5 * i for i, name in enumerate(
    "N NNE NE ENE E ESE SE SSE S SSW SW WSW W WNW NW NNW".split())}  # fmt: skip


def beijing_wind_direction(path: Any = None) -> pd.DataFrame:
    """Observed wind direction of the Beijing multi-site set as a unit vector: ``unique_id, ds, wd_n, wd_e``
    (cos and sin of the compass bearing the wind comes FROM; north wind = (1, 0)), ``ds`` naive UTC.

    The canonical loader leaves the text column ``wd`` out of ``observations``; this reads it from the same
    station files (found as :func:`coreduce.ingest.loaders.read_beijing_aq` finds them). A ``wd`` that is not a
    16-point compass name is missing (NaN), as the files' ``NA``.
    """
    from coreduce.ingest.loaders import locate
    from coreduce.ingest.loaders.beijing_aq import _site_id, _station_sources, _utc_from_local

    p = locate("beijing-aq") if path is None else path
    from pathlib import Path

    files = _station_sources(Path(p))
    parts = []
    for station, f in files.items():
        if not isinstance(f, Path):
            import io

            f = io.BytesIO(f)
        d = pd.read_csv(f, usecols=["year", "month", "day", "hour", "wd"], na_values=["NA"], keep_default_na=False,
                        compression="gzip" if str(getattr(f, "name", "")).endswith(".gz") else None)  # fmt: skip
        bad = d["wd"].notna() & ~d["wd"].isin(list(COMPASS_DEG))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(str(f), "a 16-point compass name", row=i + 2, column="wd", value=d["wd"].iloc[i])
        ang = np.deg2rad(d["wd"].map(COMPASS_DEG).astype(float))
        ts = _utc_from_local(d).dt.tz_convert("UTC").dt.tz_localize(None)
        parts.append(pd.DataFrame({"unique_id": _site_id(station), "ds": ts.to_numpy(), "wd_n": np.cos(ang),
                                   "wd_e": np.sin(ang)}))  # fmt: skip
    return pd.concat(parts, ignore_index=True)
