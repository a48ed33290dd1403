"""The monitoring pipeline on a batch of readings: quality flags -> dynamic threshold -> events -> explained alerts.

:func:`watch` runs one (site, variable) series with its operating state through the layers and returns the
scored frame and the alerts; :func:`watch_and_store` also stores the alerts with their ledger record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from coreduce.monitor.alerts import build_alerts, store_alerts
from coreduce.monitor.quality import QualityRules, quality_flags
from coreduce.monitor.rca import terciles_of
from coreduce.monitor.thresholds import ConditionalModel, dynamic_threshold, fixed_limit

QUALITY_SYMPTOMS = {"stuck": "value_stuck", "non_positive": "value_non_positive", "spike": "value_spike",
                    "out_of_range": "value_out_of_range"}  # fmt: skip


@dataclass
class WatchResult:
    scored: pd.DataFrame
    alerts: pd.DataFrame
    model: ConditionalModel
    run_id: str | None = None


def watch(
    readings: pd.DataFrame,
    model: ConditionalModel,
    *,
    site_id: str,
    variable: str,
    unit: str,
    limit: float | None = None,
    training: pd.DataFrame | None = None,
    window: int = 720,
    q_on: float = 0.99,
    q_off: float = 0.95,
    min_periods: int = 100,
    score: str = "abs",
    by_state: bool = False,
    scaled: bool = False,
    rules: QualityRules = QualityRules(),
    symptom: str | None = None,
) -> WatchResult:
    """Score one series and raise explained alerts.

    Parameters
    ----------
    readings : pandas.DataFrame
        ``ts``, ``value`` and the model's operating-state columns, in time order.
    model : ConditionalModel
        Fitted expected-value model (``model.features`` = the state columns).
    limit : float, optional
        Fixed regulatory limit in ``unit`` (checked separately: ``kind="limit"`` alerts).
    training : pandas.DataFrame, optional
        The training frame (for the graph's low/high terciles of the state variables).
    symptom : str, optional
        Graph symptom of a dynamic alarm (default ``"<variable>_high"`` with a ``stack_`` prefix dropped).
    window, q_on, q_off, min_periods, score, by_state, scaled :
        The band (:func:`~coreduce.monitor.thresholds.dynamic_threshold`; ``scaled``: the score divided by the
        model's scale, :meth:`ConditionalModel.scale_of`, for a model fit with ``scale=True``; ``by_state``: one
        band per load state of the model, :meth:`ConditionalModel.load_state`); ``**NOX_BAND`` gives the
        gas-turbine NOx band (its model: ``ConditionalModel(..., **NOX_MODEL)``).
    """
    df = readings.reset_index(drop=True)
    q = quality_flags(df, variable=variable, unit=unit, rules=rules)
    obs = df["value"].to_numpy(float)
    expected = model.predict(df, obs)
    state = model.load_state(df[model.features[0]]) if by_state else None
    scale = model.predict_scale(df, obs) if scaled else None
    dyn = dynamic_threshold(obs, expected, window=window, q_on=q_on, q_off=q_off, min_periods=min_periods,
                            score=score, state=state, scale=scale)  # fmt: skip
    scored = pd.concat([df[["ts", *model.features]], dyn, q], axis=1)
    scored["observed"] = df["value"].to_numpy(float)
    bad = q[["missing", "stuck", "non_positive", "out_of_range"]].any(axis=1).to_numpy()
    scored["alarm"] = scored["alarm"].to_numpy() & ~bad  # a dynamic alarm needs a valid reading
    scored["limit"] = fixed_limit(scored["observed"], limit) if limit is not None else False
    terc = terciles_of(training, list(model.features)) if training is not None else None
    contrib = model.contributions(df, observed=obs) if scored["alarm"].any() else None
    parts = [build_alerts(scored, site_id=site_id, variable=variable, unit=unit, kind="dynamic",
                          symptom=symptom or f"{variable.removeprefix('stack_')}_high", flag_column="alarm",
                          state_columns=model.features,
                          terciles=terc, contributors=contrib, flag_names=["exceeded"])]  # fmt: skip
    if limit is not None and scored["limit"].any():
        lim = scored.assign(band_high=limit, band_low=np.nan)
        parts.append(build_alerts(lim, site_id=site_id, variable=variable, unit=unit, kind="limit",
                                  symptom="limit_exceeded", flag_column="limit"))  # fmt: skip
    for flag, symptom in QUALITY_SYMPTOMS.items():
        if scored[flag].any():
            parts.append(build_alerts(scored, site_id=site_id, variable=variable, unit=unit, kind="quality",
                                      symptom=symptom, flag_column=flag, flag_names=[flag]))  # fmt: skip
    alerts = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else parts[0]
    return WatchResult(scored, alerts, model)


def watch_and_store(store: Any, readings: pd.DataFrame, model: ConditionalModel, **kw: Any) -> WatchResult:
    """:func:`watch` then :func:`~coreduce.monitor.alerts.store_alerts` (one ledger run for the batch)."""
    res = watch(readings, model, **kw)
    names = ("site_id", "variable", "unit", "limit", "window", "q_on", "q_off", "min_periods", "score", "by_state",
             "scaled")  # fmt: skip
    params = {k: v for k, v in kw.items() if k in names}
    res.run_id = store_alerts(store, res.alerts, params=params, inputs={"readings": readings},
                              model_version=model.version)  # fmt: skip
    return res
