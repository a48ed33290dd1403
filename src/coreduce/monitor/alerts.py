"""Explained alerts: events of a detector turned into rows of the canonical ``alerts`` table, stored with
their ledger record (one run per alert batch), and acknowledged (also a recorded run).

Every alert carries observed, expected, band, top contributing variables, the graph path (or
``unexplained``) and the suggested action.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from coreduce.monitor.quality import events
from coreduce.monitor.rca import as_json_list, explain, graph_version

ALERT_COLUMNS = ("alert_id", "site_id", "variable", "kind", "ts_start", "ts_end", "observed", "expected", "band_low",
                 "band_high", "unit", "flags", "contributors", "path", "action", "graph_version", "status",
                 "acknowledged_by", "acknowledged_at", "run_id")  # fmt: skip


def alert_id(site_id: str, variable: str, kind: str, ts_start: pd.Timestamp) -> str:
    """Stable id: the same event replayed twice gets the same id (idempotent upsert)."""
    key = f"{site_id}|{variable}|{kind}|{pd.Timestamp(ts_start).tz_convert('UTC').isoformat()}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def build_alerts(
    frame: pd.DataFrame,
    *,
    site_id: str,
    variable: str,
    unit: str,
    kind: str,
    symptom: str,
    flag_column: str = "alarm",
    merge_gap: int = 1,
    cooldown: int = 0,
    state_columns: Sequence[str] = (),
    terciles: dict[str, tuple[float, float]] | None = None,
    contributors: list[list[tuple[str, float]]] | None = None,
    flag_names: Sequence[str] = (),
) -> pd.DataFrame:
    """One alert per event of ``frame[flag_column]``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Time-ordered rows with ``ts``, ``observed``, ``expected``, ``band_low``, ``band_high``, the flag column,
        the operating-state columns and the named flag columns.
    contributors : list, optional
        Per row, the top contributing variables (``ConditionalModel.contributions``); the peak row's is kept.

    Returns
    -------
    pandas.DataFrame
        Rows of the ``alerts`` table (``run_id`` empty until stored).
    """
    rows = []
    obs = frame["observed"].to_numpy(float)
    for s, e in events(frame[flag_column].to_numpy(bool), merge_gap=merge_gap, cooldown=cooldown):
        seg = slice(s, e + 1)
        # the peak: the flagged reading furthest above the band's upper edge (the limit for limit alerts)
        excess = obs[seg] - frame["band_high"].to_numpy(float)[seg]
        excess = np.where(frame[flag_column].to_numpy(bool)[seg] & np.isfinite(excess), excess, -np.inf)
        peak = s + int(np.argmax(excess))
        state = {c: float(frame[c].iloc[peak]) for c in state_columns}
        contrib = contributors[peak] if contributors is not None else []
        ex = explain(symptom, state, terciles, contrib)
        raised = [n for n in flag_names if bool(frame[n].iloc[seg].any())]
        ts0, ts1 = frame["ts"].iloc[s], frame["ts"].iloc[e]
        rows.append({
            "alert_id": alert_id(site_id, variable, kind, ts0), "site_id": site_id, "variable": variable,
            "kind": kind, "ts_start": ts0, "ts_end": ts1, "observed": float(obs[peak]),
            "expected": float(frame["expected"].iloc[peak]), "band_low": float(frame["band_low"].iloc[peak]),
            "band_high": float(frame["band_high"].iloc[peak]), "unit": unit, "flags": "+".join(raised) or None,
            "contributors": json.dumps(as_json_list(contrib)), "path": ex.path, "action": ex.action,
            "graph_version": graph_version(), "status": "open", "acknowledged_by": None, "acknowledged_at": None,
            "run_id": None,
        })  # fmt: skip
    out = pd.DataFrame(rows, columns=list(ALERT_COLUMNS))
    for c in ("ts_start", "ts_end", "acknowledged_at"):
        out[c] = pd.to_datetime(out[c], utc=True)
    return out


def store_alerts(store, alerts: pd.DataFrame, *, params: dict | None = None, inputs: dict | None = None,
                 model_version: str | None = None, footprint: str | None = None,
                 ledger: Any = None) -> str:  # fmt: skip
    """Upsert an alert batch into ``alerts`` in the same transaction as its ledger record; returns the run id.

    ``footprint`` is the ledger's footprint mode (``"fallback"`` for the live monitor: codecarbon's start-up
    would dominate a sub-second alert); ``ledger``: a :class:`~coreduce.ledger.Ledger` of ``store`` to reuse (a
    stream stores alerts many times a minute: a new ``Ledger`` checks its tables each time).
    Re-storing the same events is idempotent (same ``alert_id``); an alert
    already acknowledged keeps its acknowledgement (only open alerts of the batch are written).
    """
    from coreduce.ledger import Ledger

    led = ledger if ledger is not None else Ledger(store, footprint=footprint)
    st = led.store if hasattr(led, "store") else store
    have = _stored_status(st, alerts["alert_id"].tolist())
    keep = alerts[~alerts["alert_id"].isin([k for k, v in have.items() if v == "acknowledged"])].copy()
    with led.run("monitor", params=params or {}, inputs=inputs, model_version=model_version) as run:
        keep["run_id"] = run.run_id
        run.output("alerts", keep.drop(columns=["run_id"]))
        run.explain({
            "what": "alerts = events of the detector flags; path from the symptom-cause-action graph",
            "graph_version": graph_version(), "alerts": len(keep),
            "explained": int((keep["path"] != "unexplained").sum()),
        })  # fmt: skip
        if len(keep):
            run.write("alerts", keep)
    return run.run_id


def _stored_status(store, ids: list[str]) -> dict[str, str]:
    if not ids or "alerts" not in store.tables():
        return {}
    marks = ",".join("?" for _ in ids)
    rows = store.execute(f'SELECT alert_id, status FROM "alerts" WHERE alert_id IN ({marks})', ids)
    return {r[0]: r[1] for r in rows}


def acknowledge(store, alert_ids: Sequence[str], *, by: str, note: str | None = None) -> str:
    """Mark alerts acknowledged (a recorded ``monitor-ack`` run upserting them); returns the run id.

    Raises
    ------
    KeyError
        An id that is not stored (nothing is changed).
    """
    from coreduce.ledger import Ledger

    cur = store.read("alerts")
    sel = cur[cur["alert_id"].isin(list(alert_ids))].copy()
    missing = sorted(set(alert_ids) - set(sel["alert_id"]))
    if missing:
        raise KeyError(f"alerts not stored: {', '.join(missing)}")
    sel["status"] = "acknowledged"
    sel["acknowledged_by"] = by
    sel["acknowledged_at"] = pd.Timestamp(datetime.now(UTC))
    with Ledger(store).run("monitor-ack", params={"alert_ids": sorted(alert_ids), "by": by, "note": note}) as run:
        run.output("acknowledged", sel[["alert_id", "status", "acknowledged_by"]])
        run.write("alerts", sel)
    return run.run_id
