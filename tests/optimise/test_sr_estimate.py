"""The source–receptor matrix estimated from hourly history by non-negative least squares recovers the matrix
that generated the history (a known, hand-written one), and a problem can ask for it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from coreduce.errors import InputError
from coreduce.optimise.curtail import estimate_source_receptor, read_problem

TRUE = {  # (enterprise, receptor, pollutant, lag) -> µg/m³ per t/h
    ("E1", "R1", "PM2.5", 0): 40.0,
    ("E1", "R1", "PM2.5", 1): 15.0,
    ("E2", "R1", "SO2", 1): 8.0,
    ("E2", "R2", "PM2.5", 0): 25.0,
    ("E3", "R2", "SO2", 0): 5.0,
    ("E3", "R2", "SO2", 1): 12.0,
}
BACKGROUND = {"R1": 30.0, "R2": 45.0}


def history(T: int = 600, noise: float = 0.5, seed: int = 3):
    rng = np.random.default_rng(seed)
    hours = pd.date_range("2016-11-01", periods=T, freq="h", tz="UTC")
    em = {(e, p): rng.uniform(0.2, 1.0, T) for e in ("E1", "E2", "E3") for p in ("PM2.5", "SO2")}
    conc = {r: np.full(T, b) for r, b in BACKGROUND.items()}
    for (e, r, p, L), c in TRUE.items():
        x = np.concatenate([np.zeros(L), em[(e, p)][: T - L]])
        conc[r] = conc[r] + c * x
    e_rows = [{"hour": h, "enterprise": e, "pollutant": p, "t_per_h": v[t]}
              for (e, p), v in em.items() for t, h in enumerate(hours)]  # fmt: skip
    c_rows = [{"hour": h, "receptor": r, "value": v[t] + rng.normal(0, noise)}
              for r, v in conc.items() for t, h in enumerate(hours)]  # fmt: skip
    return pd.DataFrame(e_rows), pd.DataFrame(c_rows)


def test_nnls_recovers_the_generating_matrix():
    em, co = history()
    sr = estimate_source_receptor(em, co, lags=(0, 1))
    got = sr.set_index(["enterprise", "receptor", "pollutant", "lag"])["coef"]
    for k, v in TRUE.items():
        assert got[k] == pytest.approx(v, rel=0.03), k
    others = got.drop(list(TRUE))
    assert (others >= 0).all() and others.max() < 1.0  # absent pairs come out (near) zero, never negative
    assert sr.attrs["background"]["R1"] == pytest.approx(30.0, abs=1.0)
    assert min(sr.attrs["r2"].values()) > 0.99


def test_problem_estimates_from_history(tmp_path):
    em, co = history(T=300)
    em.to_csv(tmp_path / "e.csv", index=False)
    co.to_csv(tmp_path / "c.csv", index=False)
    hours = [h.isoformat() for h in pd.date_range("2016-12-16", periods=3, freq="h", tz="UTC")]
    prob = {
        "hours": hours,
        "enterprises": [
            {"id": e, "grade": "B", "capacity": 1.0, "value_per_unit": 100.0, "rates": {"PM2.5": 1.0, "SO2": 1.0}}
            for e in ("E1", "E2", "E3")
        ],
        "receptors": [{"id": "R1", "background": 80.0, "cap": 75.0}, {"id": "R2", "background": 60.0}],
        "source_receptor": {"estimate_from": {"emissions": "e.csv", "concentrations": "c.csv", "lags": [0, 1]}},
    }
    p = tmp_path / "p.json"
    p.write_text(json.dumps(prob))
    ep = read_problem(p)
    w0 = ep.sr_weight()[0]  # lag 0, rates 1 t per unit: E1 -> R1 ~ 40
    assert w0[0, 0] == pytest.approx(40.0, rel=0.05)


def test_missing_column_is_named():
    em, co = history(T=50)
    with pytest.raises(InputError, match="t_per_h"):
        estimate_source_receptor(em.drop(columns="t_per_h"), co)
