"""Evaluation on real labelled data: EIA-930 screening labels and gas-turbine NOx with injected faults.

Both data sets live in the project's shared data folder (``$COREDUCE_SHARED_DATA`` or ``../shared/data`` beside
the repository); their provenance is in the ``PROVENANCE.md`` next to them.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from coreduce.monitor.quality import (
    QualityRules,
    anomaly_flags,
    anomaly_scores,
    departure_hold,
    event_scores,
    f1,
    level_flags,
)

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


#: Split of the EIA-930 labels: the detector's thresholds are chosen on 2020-2022 (:func:`select_eia930_rules`)
#: and scored on 2023-2024 as held out (flags are causal, so scoring a period needs no refit).
TRAIN_END = pd.Timestamp("2023-01-01", tz="UTC")

#: The grid :func:`select_eia930_rules` searches, in three stages: (score_z, delta_k) with the level detector
#: and the departure hold off, then (level_z, level_rel) with the chosen pair, then hold_rel (the departure
#: hold's release threshold; its cap ``hold_max`` = 24 readings is fixed by Ruggles' 48-hour window, not searched).
RULES_GRID = {"score_z": (6.0, 7.0, 8.0, 9.0, 10.0, 12.0), "delta_k": (1.75, 2.0, 2.25),
              "level_z": (8.0, 10.0, 15.0, float("inf")), "level_rel": (0.2, 0.3, 0.5),
              "hold_rel": (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, float("inf"))}  # fmt: skip


def evaluate_eia930(
    bas: list[str] | None = None,
    rules: QualityRules = QualityRules(),
    *,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    flags: dict[str, np.ndarray] | None = None,
    frames: dict[str, pd.DataFrame] | None = None,
) -> dict[str, object]:
    """Causal event-wise and point-wise scores of :func:`anomaly_flags` against the EIA-930 labels.

    ``start``/``end`` restrict the *scored* hours (the flags are computed on the whole series, causally);
    ``flags`` (per BA) replaces the detector (used by :func:`select_eia930_rules`)."""
    tot = {"true_events": 0, "found": 0, "pred_events": 0, "correct": 0}
    tp = fp = pos = hard_hit = hard_n = 0
    by_label: dict[str, list[int]] = {}
    for ba in bas or eia930_bas():
        df = frames[ba] if frames is not None else load_eia930(ba)
        fl = flags[ba] if flags is not None else anomaly_flags(df, rules=rules)["anomaly"].to_numpy()
        keep = np.ones(len(df), dtype=bool)
        if start is not None:
            keep &= (df["ts"] >= start).to_numpy()
        if end is not None:
            keep &= (df["ts"] < end).to_numpy()
        df, fl = df[keep].reset_index(drop=True), fl[keep]
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
        "false_events": tot["pred_events"] - tot["correct"], "false_hours": fp,
        "point_precision": pp, "point_recall": pr, "point_f1": 2 * pp * pr / (pp + pr) if pp + pr else 0.0,
        "hard_recall": hard_hit / hard_n if hard_n else 0.0, "hard_found": hard_hit, "hard_labels": hard_n,
        "recall_by_label": {k: v[0] / v[1] for k, v in sorted(by_label.items())},
        "hours_by_label": {k: v[1] for k, v in sorted(by_label.items())},
    }  # fmt: skip


def select_eia930_rules(
    bas: list[str] | None = None, min_hard_recall: float = 0.60, min_point_precision: float = 0.70
) -> dict[str, object]:
    """Choose the detector's thresholds on the training period only (before :data:`TRAIN_END`).

    Stage 1: (``score_z``, ``delta_k``) with the level detector and the departure hold off; stage 2:
    (``level_z``, ``level_rel``) with that pair; stage 3: ``hold_rel`` with both.  Each stage keeps the highest
    training event F1 among the settings whose training hard-label recall reaches ``min_hard_recall`` at a
    training point precision of at least ``min_point_precision`` (the bar of ``shared/reference/monitoring.md``
    section 4: hard-label recall 0.60 at point precision 0.7); ties (F1 within 0.001) go to the higher hard-label
    recall, then to the higher training point F1 (fewer false-alarm hours), then to the lower thresholds.
    Returns the chosen setting and every setting's training scores.
    """
    import itertools

    bas = bas or eia930_bas()
    frames = {ba: load_eia930(ba) for ba in bas}
    off = float("inf")

    def best(rows: list[dict]) -> dict:
        ok = [g for g in rows if g["hard_recall"] >= min_hard_recall and g["point_precision"] >= min_point_precision]
        ok = ok or [g for g in rows if g["hard_recall"] >= min_hard_recall] or rows
        top = max(g["event_f1"] for g in ok)
        near = [g for g in ok if g["event_f1"] >= top - 1e-3]
        return max(near, key=lambda g: (g["hard_recall"], round(g["point_f1"], 6),
                                        *(-v for k, v in g.items() if k in RULES_GRID)))  # fmt: skip

    def row(r: QualityRules, fl: dict[str, np.ndarray], **kw: float) -> dict:
        res = evaluate_eia930(bas, r, end=TRAIN_END, flags=fl, frames=frames)
        return {**kw, **{k: res[k] for k in ("event_f1", "hard_recall", "point_precision", "point_f1")}}

    stage1, parts = [], {}
    for sz, dk in itertools.product(RULES_GRID["score_z"], RULES_GRID["delta_k"]):
        r = QualityRules(score_z=sz, delta_k=dk, level_z=off, hold_rel=off)
        parts[sz, dk] = {ba: anomaly_flags(frames[ba], rules=r) for ba in bas}
        stage1.append(row(r, {ba: p["anomaly"].to_numpy() for ba, p in parts[sz, dk].items()}, score_z=sz, delta_k=dk))
    b1 = best(stage1)
    fl1 = parts[b1["score_z"], b1["delta_k"]]
    scores = {ba: anomaly_scores(frames[ba]["value"]) for ba in bas}
    stage2 = []
    for lz, lr in itertools.product(RULES_GRID["level_z"], RULES_GRID["level_rel"]):
        r = QualityRules(score_z=b1["score_z"], delta_k=b1["delta_k"], level_z=lz, level_rel=lr, hold_rel=off)
        fl = {ba: fl1[ba]["anomaly"].to_numpy() | level_flags(scores[ba], r).to_numpy() for ba in bas}
        stage2.append(row(r, fl, level_z=lz, level_rel=lr))
    b2 = best(stage2)
    r2 = QualityRules(score_z=b1["score_z"], delta_k=b1["delta_k"], level_z=b2["level_z"], level_rel=b2["level_rel"])
    fl2 = {ba: fl1[ba]["anomaly"].to_numpy() | level_flags(scores[ba], r2).to_numpy() for ba in bas}
    stage3 = []
    for hr in RULES_GRID["hold_rel"]:
        r = replace(r2, hold_rel=hr)
        fl = {ba: fl2[ba] | departure_hold(fl2[ba], scores[ba]["rel_season"].to_numpy(), r) for ba in bas}
        stage3.append(row(r, fl, hold_rel=hr))
    b3 = best(stage3)
    chosen = {
        "score_z": b1["score_z"],
        "delta_k": b1["delta_k"],
        "level_z": b2["level_z"],
        "level_rel": b2["level_rel"],
        "hold_rel": b3["hold_rel"],
        "hold_max": r2.hold_max,
    }
    return {"chosen": chosen, "stage1": stage1, "stage2": stage2, "stage3": stage3, "train_end": str(TRAIN_END.date())}


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
