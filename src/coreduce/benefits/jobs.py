"""Benefit pipelines recorded on the run ledger: registered entrypoints (pure, storing nothing) and the
functions the CLI calls, which run an entrypoint inside ``Ledger.run`` with its claims.

``synergy_outputs`` / ``health_outputs`` are registered with :func:`coreduce.ledger.entrypoint`; for
``coreduce ledger reproduce`` to find them ``coreduce.benefits.jobs`` must be in
``coreduce.ledger.decorator.ENTRYPOINT_MODULES`` (owned by the ledger branch).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from coreduce import coefficients
from coreduce.benefits.health import health_impact
from coreduce.benefits.synergy import synergy
from coreduce.ingest.files import read_raw
from coreduce.ledger import Ledger, entrypoint
from coreduce.ledger.hashing import check_readable
from coreduce.store import Store


def read_inventory(path: str) -> pd.DataFrame:
    """A canonical inventory file (``pollutant, amount[, unit]``; amounts parsed by :func:`synergy`)."""
    check_readable(path)
    return read_raw(path)


@entrypoint
def synergy_outputs(before: str, after: str, measure: str = "measure") -> dict[str, Any]:
    """Synergy metrics between two inventory files (see :func:`coreduce.benefits.synergy`)."""
    table = synergy(read_inventory(before), read_inventory(after), measure=measure)
    return {
        "synergy": table,
        "explanation": {
            "what": "cut = before - after; kg per t CO2 cut; elasticity (dE_p/E_p)/(dE_CO2/E_CO2); APeq = sum E/v",
            "coefficients": coefficients.load("pollution_equivalents").version,
        },
    }


@entrypoint
def health_outputs(
    delta_pm25: float,
    population: float,
    baseline_mortality: float,
    crf: str = "krewski2009",
    rr: float | None = None,
    per: float = 10.0,
    baseline_pm25: float | None = None,
    vsl: float | None = None,
) -> dict[str, Any]:
    """Avoided deaths and money (see :func:`coreduce.benefits.health_impact`)."""
    r = health_impact(
        delta_pm25,
        population=population,
        baseline_mortality=baseline_mortality,
        crf=crf,
        rr=rr,
        per=per,
        baseline_pm25=baseline_pm25,
        vsl=vsl,
    )
    return {"health": r.table, "explanation": {"avoided": r.avoided, "value": r.value, "crf": r.crf}}


def record(
    store: Store | str | None,
    kind: str,
    fn: Any,
    params: dict[str, Any],
    *,
    inputs: dict[str, Any] | None = None,
    claims: list[tuple[str, float, str, str]] = (),
) -> tuple[dict[str, Any], str | None]:
    """Run ``fn(**params)`` inside a ledger run of ``kind`` (claims ``(pollutant, amount, unit, basis)``);
    with ``store=None`` just call it.  Returns the outputs and the run id."""
    if store is None:
        return fn(**params), None
    from coreduce.ledger import entrypoint_of

    led = Ledger(store)
    with led.run(kind, entrypoint=entrypoint_of(fn), params=params, inputs=inputs) as run:
        out = fn(**params)
        run.outputs(out)  # every output, the explanation too: `ledger reproduce` compares them all
        for p, a, u, b in claims:
            run.claim(p, a, u, basis=b)
        run.explain(out.get("explanation", {}))
    return out, run.run_id


def synergy_files(before: str, after: str, *, measure: str = "measure", store: Store | str | None = None) -> dict:
    """Synergy between two inventory files, recorded on the ledger (kind ``benefits.synergy``) with one claim
    per pollutant actually cut (CO2, SO2, NOx, … in t; APeq is not a pollutant and is not claimed)."""
    from coreduce import schema

    table = synergy_outputs(before, after, measure)["synergy"]
    claims = [
        (str(r.pollutant), float(r.cut), "t", f"{measure}: {before} -> {after}")
        for r in table.itertuples()
        if r.pollutant in schema.POLLUTANTS and r.cut > 0
    ]
    out, run_id = record(
        store,
        "benefits.synergy",
        synergy_outputs,
        {"before": str(before), "after": str(after), "measure": measure},
        inputs={"before": str(before), "after": str(after)},
        claims=claims,
    )
    return {**out, "run_id": run_id}
