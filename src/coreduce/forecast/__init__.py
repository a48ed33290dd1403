"""Forecasting: frames (``unique_id, ds, y``), baselines, statsforecast and LightGBM models behind one interface,
rolling-origin backtests with conformal intervals and episode warnings, and carbon-peak paths.

Optional dependencies (the ``forecast`` extra): statsforecast (MSTL, AutoETS), lightgbm, torch (LSTM).
"""

from coreduce.forecast.backtest import BacktestResult, backtest, episode_warnings, label, score
from coreduce.forecast.frames import (
    Panel,
    complete_grid,
    daily_cutoffs,
    fill_gaps,
    forecasts_table,
    from_observations,
    mask_anomalies,
)
from coreduce.forecast.intervals import Conformal
from coreduce.forecast.models import Climatology, Ensemble, Forecaster, Persistence, SeasonalNaive, StatsModel

__all__ = [
    "BacktestResult",
    "Climatology",
    "Conformal",
    "Ensemble",
    "Forecaster",
    "Panel",
    "Persistence",
    "SeasonalNaive",
    "StatsModel",
    "backtest",
    "complete_grid",
    "daily_cutoffs",
    "episode_warnings",
    "fill_gaps",
    "forecasts_table",
    "from_observations",
    "label",
    "mask_anomalies",
    "score",
]
