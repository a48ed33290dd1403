"""Evaluation on real labelled data: EIA-930 screening labels and gas-turbine NOx with injected faults.

Both data sets live in the project's shared data folder (``$COREDUCE_SHARED_DATA`` or ``../shared/data`` beside
the repository); their provenance is in the ``PROVENANCE.md`` next to them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from coreduce.monitor.quality import QualityRules, anomaly_flags, event_scores, f1

#: Labels of Ruggles et al. (2020) that rules on the value alone do not re-create (the "hard" labels).
HARD_LABELS = ("DELTA", "SINGLE_DELTA", "LOCAL_DEM_UP", "LOCAL_DEM_DOWN")


def shared_data() -> Path:
    """The shared data folder (``COREDUCE_SHARED_DATA`` or the ``shared/data`` beside the repository)."""
    env = os.environ.get("COREDUCE_SHARED_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for up in here.parents:
        cand = up.parent / "shared" / "data"
        if cand.is_dir():
            return cand
    return Path("/work/shared/data")


def load_eia930(ba: str) -> pd.DataFrame:
    """One EIA-930 BA file as ``ts, value, category, label`` (hours whose value never arrived are dropped)."""
    p = shared_data() / "eia930_cleaned_hourly_demand" / "balancing_authorities" / f"{ba}.csv.gz"
    df = pd.read_csv(p)
    df = df[~df["category"].isin(["MISSING", "EMPTY"])]
    out = pd.DataFrame({
        "ts": pd.to_datetime(df["date_time"], utc=True),
        "value": pd.to_numeric(df["raw demand (MW)"]).astype(float),
        "category": df["category"].to_numpy(),
    })  # fmt: skip
    out["label"] = out["category"] != "OKAY"
    return out.reset_index(drop=True)


def eia930_bas() -> list[str]:
    d = shared_data() / "eia930_cleaned_hourly_demand" / "balancing_authorities"
    return sorted(p.name.split(".")[0] for p in d.glob("*.csv.gz"))


def evaluate_eia930(bas: list[str] | None = None, rules: QualityRules = QualityRules()) -> dict[str, object]:
    """Causal event-wise and point-wise scores of :func:`anomaly_flags` against the EIA-930 labels."""
    tot = {"true_events": 0, "found": 0, "pred_events": 0, "correct": 0}
    tp = fp = pos = hard_hit = hard_n = 0
    by_label: dict[str, list[int]] = {}
    for ba in bas or eia930_bas():
        df = load_eia930(ba)
        fl = anomaly_flags(df, rules=rules)["anomaly"].to_numpy()
        y = df["label"].to_numpy()
        for k, v in event_scores(y, fl).items():
            tot[k] += v
        tp += int((fl & y).sum())
        fp += int((fl & ~y).sum())
        pos += int(y.sum())
        hard = df["category"].isin(HARD_LABELS).to_numpy()
        hard_hit += int((fl & hard).sum())
        hard_n += int(hard.sum())
        for c in pd.unique(df.loc[y, "category"]):
            m = (df["category"] == c).to_numpy()
            b = by_label.setdefault(str(c), [0, 0])
            b[0] += int((fl & m).sum())
            b[1] += int(m.sum())
    p, r, f = f1(tot["found"], tot["true_events"], tot["correct"], tot["pred_events"])
    pp = tp / (tp + fp) if tp + fp else 0.0
    pr = tp / pos if pos else 0.0
    return {
        **tot, "event_precision": p, "event_recall": r, "event_f1": f,
        "point_precision": pp, "point_recall": pr, "point_f1": 2 * pp * pr / (pp + pr) if pp + pr else 0.0,
        "hard_recall": hard_hit / hard_n if hard_n else 0.0, "hard_found": hard_hit, "hard_labels": hard_n,
        "recall_by_label": {k: v[0] / v[1] for k, v in sorted(by_label.items())},
    }  # fmt: skip


def load_gas_turbine() -> pd.DataFrame:
    """UCI #551 gas-turbine CO/NOx, 2011–2015 stacked (``year, row_in_year, AT … NOX``)."""
    return pd.read_csv(shared_data() / "gas_turbine_co_nox" / "gas_turbine_co_nox_2011_2015.csv.gz")


def inject_faults(values: np.ndarray, share: float, size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``values`` with ``+size`` (relative) added on a random ``share`` of rows; returns (faulty, is_fault)."""
    rng = np.random.default_rng(seed)
    n = len(values)
    k = max(1, round(share * n))
    idx = rng.choice(n, size=k, replace=False)
    fault = np.zeros(n, dtype=bool)
    fault[idx] = True
    out = np.asarray(values, dtype=float).copy()
    out[fault] *= 1.0 + size
    return out, fault
