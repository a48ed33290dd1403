"""Who owns what, as data: the ``tenants``, ``tenant_entities`` and ``run_tenants`` tables and ``sites.tenant``.

:func:`example_tenancy` gives the demo workspace (Beijing 2016) three organisations — the city's ecology and
environment bureau, an industrial park and a power enterprise in it — so the three views can be seen and
tested; :func:`claim_unowned` gives everything nobody owns to one tenant (a workspace made by the CLI).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from coreduce.store import Store

#: The demo's organisations (tenant, name, kind, parent).
EXAMPLE_TENANTS = (
    ("beijing", "Beijing Municipal Ecology and Environment Bureau", "city", None),
    ("bj_industrial_park", "Beijing industrial park (example)", "park", "beijing"),
    ("bj_power", "Beijing power and heat enterprise (example)", "enterprise", "bj_industrial_park"),
)
#: CEADs sectors of the example city given to the park (manufacturing) and to the enterprise (power).
PARK_SECTORS = ("industry",)
POWER_ENTITY_PREFIX = "Production and Supply of Electric Power"


def _ids(store: Store, sql: str) -> list[str]:
    try:
        return [str(r[0]) for r in store.execute(sql) if r[0] is not None]
    except Exception:  # a table the workspace does not have yet
        return []


def set_tenants(store: Store, rows: Iterable[tuple[str, str | None, str, str | None]]) -> None:
    """Upsert tenants ``(tenant, name, kind, parent)``."""
    df = pd.DataFrame(list(rows), columns=["tenant", "name", "kind", "parent"])
    bad = set(df["kind"]) - {"city", "park", "enterprise"}
    if bad:
        raise ValueError(f"tenants: kind {sorted(bad)[0]!r}: expected city, park or enterprise")
    store.ingest({"tenants": df}, source="coreduce.api.tenancy")


def assign(store: Store, owners: Mapping[str, str]) -> None:
    """Give entities (non-site ids: inventory entity, forecast series …) and sites to tenants."""
    sites = store.read("sites")
    site_ids = set(sites["site_id"])
    ent = {e: t for e, t in owners.items() if e not in site_ids}
    on_sites = {e: t for e, t in owners.items() if e in site_ids}
    frames: dict[str, pd.DataFrame] = {}
    if ent:
        frames["tenant_entities"] = pd.DataFrame({"entity": list(ent), "tenant": list(ent.values())})
    if on_sites:
        s = sites[sites["site_id"].isin(list(on_sites))].copy()
        s["tenant"] = s["site_id"].map(on_sites)
        frames["sites"] = s
    if frames:
        store.ingest(frames, source="coreduce.api.tenancy")


def assign_runs(store: Store, runs: Mapping[str, str], user_id: str | None = None) -> None:
    """Give ledger runs to tenants (their records, claims and decisions)."""
    if runs:
        df = pd.DataFrame({"run_id": list(runs), "tenant": list(runs.values()), "user_id": user_id})
        store.ingest({"run_tenants": df}, source="coreduce.api.tenancy")


def unowned(store: Store) -> dict[str, list[str]]:
    """Ids nobody owns: ``{"entities": [...], "runs": [...]}``."""
    owned = set(_ids(store, "SELECT site_id FROM sites WHERE tenant IS NOT NULL AND tenant <> ''"))
    owned |= set(_ids(store, "SELECT entity FROM tenant_entities"))
    ents: set[str] = set()
    for sql in (
        "SELECT DISTINCT site_id FROM sites",
        "SELECT DISTINCT entity FROM inventory",
        "SELECT DISTINCT entity FROM activity",
        "SELECT DISTINCT series FROM forecasts",
    ):
        ents |= set(_ids(store, sql))
    runs = set(_ids(store, "SELECT run_id FROM ledger")) - set(_ids(store, "SELECT run_id FROM run_tenants"))
    return {"entities": sorted(ents - owned), "runs": sorted(runs)}


def claim_unowned(store: Store, tenant: str) -> dict[str, int]:
    """Give every unowned entity, site and run to ``tenant``; the counts given."""
    u = unowned(store)
    assign(store, dict.fromkeys(u["entities"], tenant))
    assign_runs(store, dict.fromkeys(u["runs"], tenant))
    return {"entities": len(u["entities"]), "runs": len(u["runs"])}


def example_tenancy(store: Store) -> dict[str, Any]:
    """The demo's three organisations over the example city in ``store``: the power sector's entities and the
    example stack (plant ``gt_turkey``) to the enterprise, the other industrial entities to the park, the rest
    (stations, other sectors, runs) to the city.  Idempotent."""
    set_tenants(store, EXAMPLE_TENANTS)
    inv = _ids(store, "SELECT DISTINCT entity || '\t' || sector FROM inventory")
    owners: dict[str, str] = {}
    for line in inv:
        e, _, sector = line.partition("\t")
        if e.startswith(POWER_ENTITY_PREFIX):
            owners[e] = "bj_power"
        elif sector in PARK_SECTORS:
            owners[e] = "bj_industrial_park"
    plants = _ids(store, "SELECT site_id FROM sites WHERE kind IN ('plant', 'facility')")
    owners.update(dict.fromkeys(plants, "bj_power"))
    assign(store, owners)
    counts = claim_unowned(store, "beijing")
    return {"tenants": [t[0] for t in EXAMPLE_TENANTS], "assigned": len(owners), "to_city": counts}
