"""Co-benefits of one decision (a curtailment plan, a dispatch, a portfolio): attached to every optimiser run.

From the decision's emission cuts [t] (and, when known, the counterfactual totals they are cut from):

1. synergy metrics (:func:`coreduce.benefits.synergy.synergy`): kg of each pollutant cut per t CO2 cut, the
   elasticity, the quadrant and the APeq cut (statutory pollution equivalents);
2. the population-weighted PM2.5 change through intake fractions (:func:`~coreduce.benefits.health.
   pm25_from_emissions`, a reduced-form source–receptor relation; annual-mean equivalent);
3. avoided deaths with a log-linear CRF (default Krewski 2009) and their money value (avoided × VSL) — only when
   the exposed population and its baseline mortality are given (the ``cobenefits`` block of a problem file):
   no default population or death rate is invented.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from coreduce.benefits.health import health_impact, pm25_from_emissions
from coreduce.benefits.synergy import apeq, synergy
from coreduce.errors import InputError

#: the inputs a problem file's ``cobenefits`` block may give
OPTIONS = ("population", "baseline_mortality", "vsl", "currency", "setting", "crf", "if_set")


def read_options(block: Mapping[str, Any] | None, where: str = "cobenefits") -> dict[str, Any]:
    """Check a ``cobenefits`` block: ``{"population": 21730000, "baseline_mortality": 0.0071, "vsl": 3.0e6,
    "currency": "CNY", "setting": "urban", "crf": "krewski2009", "if_set": "humbert2011"}`` (all optional)."""
    if not block:
        return {}
    out: dict[str, Any] = {}
    for k, v in block.items():
        if k.endswith("_source"):
            out[k] = str(v)
            continue
        if k not in OPTIONS:
            raise InputError(where, f"a key among {OPTIONS} (or <key>_source)", column=k, value=v)
        if k in ("population", "baseline_mortality", "vsl"):
            try:
                x = float(v)
            except (TypeError, ValueError):
                raise InputError(where, "a number", column=k, value=v) from None
            if not np.isfinite(x) or x <= 0 or (k == "baseline_mortality" and x >= 1):
                raise InputError(
                    where, "a number > 0 (baseline_mortality: a rate < 1 per person-year)", column=k, value=v
                )
            out[k] = x
        else:
            out[k] = str(v)
    return out


def decision_cobenefits(
    cuts_t: Mapping[str, float],
    *,
    before: Mapping[str, float] | None = None,
    measure: str = "decision",
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The co-benefits of a decision that cut ``cuts_t`` [t per pollutant, CO2 included].

    ``before``: the counterfactual totals [t] the cuts are taken from (for the elasticities); without it the
    elasticity is left out (NaN) and the intensities (kg per t CO2) are still given.  ``options``: see
    :func:`read_options`.
    """
    opts = dict(options or {})
    cuts = {str(p): float(v) for p, v in cuts_t.items()}
    if before is not None and "CO2" in before and "CO2" in cuts:
        b = {str(p): float(v) for p, v in before.items()}
        a = {p: b.get(p, 0.0) - cuts.get(p, 0.0) for p in set(b) | set(cuts)}
        tab = synergy(b, a, measure=measure)
    elif "CO2" in cuts:
        tab = synergy(cuts, dict.fromkeys(cuts, 0.0), measure=measure)
        tab[["before", "after", "cut_pct", "elasticity"]] = np.nan  # no counterfactual totals: only the cuts
    else:
        tab = pd.DataFrame(columns=["measure", "pollutant", "cut", "kg_per_t_co2", "elasticity", "quadrant"])
    pos = {p: v for p, v in cuts.items() if v > 0}
    out: dict[str, Any] = {
        "cuts_t": cuts,
        "apeq_cut": apeq(pos) - apeq({p: -v for p, v in cuts.items() if v < 0}),
        "synergy": tab.replace({np.nan: None}).to_dict(orient="records"),
    }
    pop = opts.get("population")
    exp = pm25_from_emissions(
        cuts, pop or 1.0e6, setting=opts.get("setting", "urban"), if_set=opts.get("if_set", "humbert2011")
    )
    out["exposure"] = {k: exp[k] for k in ("inhaled_kg", "if_set", "setting", "verified", "ignored", "sources")}
    if pop is None or "baseline_mortality" not in opts:
        out["health"] = None
        out["delta_pm25"] = None
        out["note"] = (
            "health and money not computed: give the exposed population and its baseline mortality (the problem "
            "file's 'cobenefits' block: population, baseline_mortality[, vsl, currency]); the PM2.5 inhaled that "
            "the cuts avoid (intake fractions) is given"
        )
        return out
    h = health_impact(
        exp["delta_pm25"],
        population=pop,
        baseline_mortality=opts["baseline_mortality"],
        crf=opts.get("crf", "krewski2009"),
        vsl=opts.get("vsl"),
    )
    out["delta_pm25"] = exp["delta_pm25"]
    out["delta_pm25_by_pollutant"] = exp["by_pollutant"]
    out["health"] = {
        "avoided_deaths": h.avoided,
        "value": h.value,
        "currency": opts.get("currency") if h.value is not None else None,
        "crf": h.crf,
        "population": pop,
        "baseline_mortality": opts["baseline_mortality"],
        "basis": "annual-mean-equivalent PM2.5 change (intake fraction x cut / (population x breathing rate x "
        "365 d)) through a long-term log-linear CRF (BenMAP form); for an episode this is the cut's share of the "
        "year's exposure",
    }
    return out


def decision_rows(cb: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``decisions``-table rows (``quantity, value, unit, note``) of a co-benefits dict."""
    rows = [{"quantity": "apeq_cut", "value": cb["apeq_cut"], "unit": "pollution equivalents", "note": "co-benefit"}]
    for r in cb["synergy"]:
        if r["pollutant"] not in ("CO2", "APeq") and r.get("kg_per_t_co2") is not None:
            rows.append(
                {
                    "quantity": f"kg_{r['pollutant']}_per_t_CO2",
                    "value": r["kg_per_t_co2"],
                    "unit": "kg/t",
                    "note": f"co-benefit; quadrant {r['quadrant']}",
                }
            )
    ex = cb["exposure"]
    rows.append({"quantity": "pm25_inhaled_avoided", "value": ex["inhaled_kg"], "unit": "kg",
                 "note": f"co-benefit; intake fractions {ex['if_set']} (verified={ex['verified']})"})  # fmt: skip
    h = cb.get("health")
    if h:
        rows.append({"quantity": "delta_pm25", "value": cb["delta_pm25"], "unit": "µg/m³",
                     "note": "co-benefit; population-weighted, annual-mean equivalent"})  # fmt: skip
        rows.append({"quantity": "avoided_deaths", "value": h["avoided_deaths"], "unit": "deaths",
                     "note": f"co-benefit; CRF {h['crf'].get('crf')}"})  # fmt: skip
        if h["value"] is not None:
            rows.append({"quantity": "health_value", "value": h["value"], "unit": h["currency"] or "",
                         "note": "co-benefit; avoided deaths x VSL"})  # fmt: skip
    return rows
