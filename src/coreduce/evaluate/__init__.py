"""Causal evaluation: the panel-econometrics battery as library calls on DataFrames.

- :func:`twfe` — two-way FE with cluster-robust SEs and stepwise controls (pyfixest);
  :func:`regression_table` — publication tables (HTML, LaTeX, Markdown, CSV);
- :func:`robustness` (+ :func:`winsorize` with Stata's percentiles);
- :func:`iv2sls` — 2SLS with absorbed FE, first stages, Kleibergen–Paap rk LM / Wald F, Stock–Yogo values;
- :func:`dynamic_panel_gmm` — Arellano–Bond / Blundell–Bond GMM (own; xtabond2 conventions);
- :func:`callaway_santanna`, :func:`twfe_event_study`, :func:`event_study_plot` — staggered DID;
- :func:`split_sample`, :func:`permutation_test`, :func:`interaction_test` — heterogeneity;
- :func:`mediation` — three equations, Sobel/Aroian, cluster bootstrap;
- :func:`threshold_regression` — Hansen (1999) panel thresholds (own vectorised engine);
- :func:`run_spec` — a TOML spec to a report folder.
"""

from __future__ import annotations

from coreduce.evaluate.did import callaway_santanna, event_study_plot, twfe_event_study
from coreduce.evaluate.fe import feols, twfe
from coreduce.evaluate.gmm import GMMResult, dynamic_panel_gmm
from coreduce.evaluate.heterogeneity import interaction_test, permutation_test, split_sample
from coreduce.evaluate.iv import iv2sls, stock_yogo
from coreduce.evaluate.mediation import mediation
from coreduce.evaluate.pipeline import run_spec
from coreduce.evaluate.results import Estimate
from coreduce.evaluate.robustness import robustness, stata_percentile, winsorize
from coreduce.evaluate.tables import RegressionTable, regression_table
from coreduce.evaluate.threshold import ThresholdResult, lr_critical_value, threshold_regression

__all__ = [
    "Estimate",
    "GMMResult",
    "RegressionTable",
    "ThresholdResult",
    "callaway_santanna",
    "dynamic_panel_gmm",
    "event_study_plot",
    "feols",
    "interaction_test",
    "iv2sls",
    "lr_critical_value",
    "mediation",
    "permutation_test",
    "regression_table",
    "robustness",
    "run_spec",
    "split_sample",
    "stata_percentile",
    "stock_yogo",
    "threshold_regression",
    "twfe",
    "twfe_event_study",
    "winsorize",
]
