"""A synthetic multi-tenant workspace for the service's tests and benchmark (not real data).

Two cities; city ``ca`` has a park ``ca_park`` with enterprises ``ca_park_e1``/``ca_park_e2`` and a direct
enterprise ``ca_e3``; city ``cb`` has enterprise ``cb_e1``.  Every id embeds its owner's tenant id between
``~`` marks (``fac~ca_park_e1~0``), so a response can be searched for foreign ids.  Decisions, claims and the
ledger are written through :class:`coreduce.ledger.Ledger` (real records, real hash chain).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from coreduce.api.tenancy import assign, assign_runs, set_tenants
from coreduce.store import Store

TENANTS = (
    ("ca", "City A bureau", "city", None),
    ("ca_park", "City A park", "park", "ca"),
    ("ca_park_e1", "Enterprise A1", "enterprise", "ca_park"),
    ("ca_park_e2", "Enterprise A2", "enterprise", "ca_park"),
    ("ca_e3", "Enterprise A3", "enterprise", "ca"),
    ("cb", "City B bureau", "city", None),
    ("cb_e1", "Enterprise B1", "enterprise", "cb"),
)
SECTORS = ("power", "industry", "transport", "residential")


@dataclass
class Workspace:
    """What was written: every id with its owning tenant, by kind."""

    owner: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> id -> tenant
    parent: dict[str, str | None] = field(default_factory=dict)

    def add(self, kind: str, id_: str, tenant: str) -> None:
        self.owner.setdefault(kind, {})[id_] = tenant

    def scope(self, tenant: str) -> set[str]:
        out = {tenant}
        changed = True
        while changed:
            changed = False
            for t, p in self.parent.items():
                if p in out and t not in out:
                    out.add(t)
                    changed = True
        return out


def build(store: Store, *, days: int = 30, facilities: int = 3, seed: int = 0) -> Workspace:
    """Write the synthetic workspace into ``store`` (empty tables expected)."""
    from coreduce.ledger import Ledger

    rng = np.random.default_rng(seed)
    ws = Workspace(parent={t: p for t, _, _, p in TENANTS})
    store.create_tables()
    set_tenants(store, TENANTS)
    sites, owners_sites = [], {}
    for t, _, kind, _ in TENANTS:
        if kind == "enterprise":
            for i in range(facilities):
                sid = f"fac~{t}~{i}"
                sites.append((sid, f"Facility {t} {i}", "facility", SECTORS[i % len(SECTORS)], f"{t[:2]}_district"))
                owners_sites[sid] = t
        if kind == "city":
            for i in range(2):
                sid = f"st~{t}~{i}"
                sites.append((sid, f"Station {t} {i}", "station", None, f"{t}_district"))
                owners_sites[sid] = t
    sdf = pd.DataFrame(sites, columns=["site_id", "name", "kind", "sector", "region"])
    sdf["lat"] = 39.0 + rng.random(len(sdf))
    sdf["lon"] = 116.0 + rng.random(len(sdf))
    sdf["tenant"] = sdf["site_id"].map(owners_sites)
    for sid, t in owners_sites.items():
        ws.add("site", sid, t)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    hours = pd.date_range(start, periods=48, freq="h")
    obs = pd.DataFrame(
        [(s, h, v) for s in sdf["site_id"] for h in hours for v in ("PM2.5", "NOx")],
        columns=["site_id", "ts", "variable"],
    )
    obs["value"] = rng.gamma(4.0, 10.0, len(obs))
    obs["unit"] = "ug/m^3"
    obs["source"] = "synthetic"
    # inventory: facilities (site ids) and city districts (entities), daily, CO2 and SO2
    ents = [(sid, owners_sites[sid], row.sector or "industry", row.region) for sid, row in
            zip(sdf["site_id"], sdf.itertuples(), strict=True) if row.kind == "facility"]  # fmt: skip
    district_owner = {}
    for t, _, kind, _ in TENANTS:
        if kind == "city":
            for i in range(2):
                e = f"dist~{t}~{i}"
                ents.append((e, t, "residential", f"{t}_district"))
                district_owner[e] = t
                ws.add("entity", e, t)
    days_idx = pd.date_range(start, periods=days, freq="D")
    inv = []
    for e, _, sector, region in ents:
        for d in days_idx:
            for pol, scale in (("CO2", 1000.0), ("SO2", 1.0)):
                inv.append((e, sector, region, d, d + pd.Timedelta(days=1), pol, float(rng.gamma(2.0, scale))))
    idf = pd.DataFrame(inv, columns=["entity", "sector", "region", "period_start", "period_end", "pollutant", "amount"])
    idf["activity_type"] = "total"
    idf["unit"] = "t"
    idf["method"] = "synthetic"
    # alerts
    al = []
    for s in sdf["site_id"]:
        for k in range(2):
            aid = f"al~{owners_sites[s]}~{s.split('~')[-1]}{k}~{len(al)}"
            al.append({"alert_id": aid, "site_id": s, "variable": "NOx", "kind": "dynamic",
                       "ts_start": hours[k * 5], "ts_end": hours[k * 5 + 2], "observed": 90.0, "expected": 40.0,
                       "band_low": 10.0, "band_high": 60.0, "unit": "ug/m^3", "path": "unexplained",
                       "status": "open"})  # fmt: skip
            ws.add("alert", aid, owners_sites[s])
    # forecasts on stations
    fc = []
    for s in sdf.loc[sdf["kind"] == "station", "site_id"]:
        for h in range(1, 7):
            fc.append({"series": s, "variable": "PM2.5", "cutoff": hours[-1], "target_time": hours[-1] +
                       pd.Timedelta(hours=h), "horizon": h, "model": "persistence", "point": 50.0 + h, "unit":
                       "ug/m^3", "quantiles": '{"0.05": 30.0, "0.95": 80.0}', "run_id": "synthetic"})  # fmt: skip
            ws.add("series", s, owners_sites[s])
    store.ingest({"sites": sdf, "observations": obs, "inventory": idf, "alerts": pd.DataFrame(al),
                  "forecasts": pd.DataFrame(fc)}, source="coreduce.api.synthetic")  # fmt: skip
    assign(store, district_owner)
    # decisions: one recorded run per tenant, with claims
    led = Ledger(store)
    runs = {}
    for t, _, _, _ in TENANTS:
        with led.run("optimise.curtail", params={"tenant": t, "synthetic": True}) as run:
            dec = pd.DataFrame({"problem": "curtail", "item": [f"item~{t}~{i}" for i in range(3)],
                                "period_start": hours[0], "quantity": "cut", "value": [0.1, 0.2, 0.3],
                                "unit": "1", "objective": 1000.0, "objective_unit": "CNY"})  # fmt: skip
            run.write("decisions", dec.assign(run_id=run.run_id), source="synthetic")
            run.claim("CO2", 100.0, "t", basis="synthetic")
            run.claim("SO2", 2.0, "t", basis="synthetic")
            run.explain({"in_words": [f"synthetic decision of {t}"]})
        runs[run.run_id] = t
        ws.add("run", run.run_id, t)
    assign_runs(store, runs, user_id="synthetic")
    return ws


def add_jobs(db: Any, ws: Workspace) -> None:
    """One finished job per tenant in the service's job table (``db``: :class:`coreduce.api.db.Database`)."""
    import uuid
    from datetime import UTC, datetime

    for t, _, _, _ in TENANTS:
        jid = f"job{uuid.uuid4().hex[:8]}~{t}~"
        db.ops_execute(
            "INSERT INTO coreduce_jobs (job_id, tenant, user_id, kind, params, status, progress, message, created_at) "
            "VALUES (%s, %s, 'synthetic', 'curtail', '{}', 'ok', 1, 'synthetic', %s)",
            [jid, t, datetime.now(UTC)],
        )
        ws.add("job", jid, t)
