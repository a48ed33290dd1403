"""Citizen carbon credits (碳普惠): green-travel reductions, a pseudonymous credit ledger on the run ledger,
aggregation.

- reduction [kg CO2] of a trip record = trips × per-trip factor, or km × per-person-km factor, of a published
  methodology (coefficient set ``green_travel``; bundled: Huang et al. 2017, Guangzhou metro, mean and
  substitution methods; a city's own per-km factors can be given as a user file in the same format);
- citizens are pseudonymised with HMAC-SHA256(key, id) (first 16 hex digits) — the real id never reaches the
  store; the key stays with the operator;
- a batch is one ledger run (kind ``credits``) whose claims are one row per citizen and mode
  (``pollutant=CO2``, ``unit=kg``, ``basis`` = methodology, ``note`` = ``citizen:<pseudonym> mode:<mode>``),
  so each credit sits on the ledger's hash chain and ``coreduce ledger verify`` covers it;
- :func:`aggregate_credits` sums the claims of every ``credits`` run per citizen (or overall) for offsetting
  or trading.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import pandas as pd

from coreduce import coefficients
from coreduce.errors import InputError

KIND = "credits"


def pseudonym(citizen_id: str, key: str | bytes) -> str:
    """HMAC-SHA256 pseudonym (16 hex digits) of a citizen id under the operator's key."""
    if not key:
        raise InputError("credits", "a non-empty pseudonymisation key")
    k = key.encode() if isinstance(key, str) else key
    return hmac.new(k, str(citizen_id).encode(), hashlib.sha256).hexdigest()[:16]


def green_travel(
    trips: pd.DataFrame, methodology: str, *, user_paths: tuple[str | Path, ...] = (), source: str = "trips"
) -> pd.DataFrame:
    """Reductions of green-travel records.

    ``trips``: ``citizen, mode`` and ``trips`` (for per-trip factors) or ``km`` (per-km factors).  Adds
    ``factor`` [kg CO2 per trip or per km], ``basis`` and ``reduction_kg``.  A mode the methodology does not
    cover is an error naming the row.
    """
    s = coefficients.load("green_travel", tuple(str(p) for p in user_paths))
    rows = s.rows(methodology=methodology)
    if rows.empty:
        have = sorted(set(s.frame["methodology"]))
        raise InputError(source, f"a green_travel methodology ({', '.join(have)})", value=methodology)
    f = rows.set_index("mode")
    for c in ("citizen", "mode"):
        if c not in trips.columns:
            raise InputError(source, f"a column {c!r}", row=1, column=c)
    out = trips.copy()
    red, fac, basis = [], [], []
    for i, r in enumerate(out.itertuples(index=False)):
        mode = str(r.mode)
        if mode not in f.index:
            raise InputError(
                source, f"a mode of {methodology} ({', '.join(f.index)})", row=i + 2, column="mode", value=mode
            )
        b = str(f.loc[mode, "basis"])
        col = "trips" if b == "per_trip" else "km"
        qty = getattr(r, col, None)
        try:
            q = float(qty)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            q = float("nan")
        if not q >= 0:
            raise InputError(source, f"a number >= 0 of {col}", row=i + 2, column=col, value=qty)
        fac.append(float(f.loc[mode, "value"]))
        basis.append(b)
        red.append(q * fac[-1])
    out["factor"], out["basis"], out["reduction_kg"] = fac, basis, red
    out.attrs["version"] = s.version
    return out


def record_credits(
    ledger: Any,
    trips: pd.DataFrame,
    methodology: str,
    key: str | bytes,
    *,
    period: str = "",
    user_paths: tuple[str | Path, ...] = (),
) -> dict[str, Any]:
    """Compute a batch and record it as one ``credits`` run; one claim per citizen and mode.

    Returns ``run_id``, ``total_kg``, ``citizens`` and the per-citizen table (pseudonyms only).
    """
    red = green_travel(trips, methodology, user_paths=user_paths)
    red = red.assign(citizen=[pseudonym(c, key) for c in red["citizen"]])
    per = red.groupby(["citizen", "mode"], sort=True)["reduction_kg"].sum().reset_index()
    with ledger.run(KIND, params={"methodology": methodology, "period": period}) as run:
        run.input("trips", red.drop(columns=["factor", "basis"]))
        for r in per.itertuples(index=False):
            run.claim(
                "CO2",
                float(r.reduction_kg),
                "kg",
                basis=f"green_travel:{methodology} {period}".strip(),
                note=f"citizen:{r.citizen} mode:{r.mode}",
            )
        run.output("credits", per)
        run.explain(
            {
                "methodology": methodology,
                "coefficients": red.attrs.get("version"),
                "total_kg": float(per["reduction_kg"].sum()),
                "citizens": int(per["citizen"].nunique()),
            }
        )
    return {
        "run_id": run.run_id,
        "total_kg": float(per["reduction_kg"].sum()),
        "citizens": int(per["citizen"].nunique()),
        "table": per,
    }


def aggregate_credits(ledger: Any, *, by: str = "citizen") -> pd.DataFrame:
    """Sum the credit claims of every ``credits`` run on the ledger (``by`` = ``citizen``, ``mode`` or ``all``)."""
    runs = ledger.list()
    ids = set(runs.loc[(runs["kind"] == KIND) & (runs["status"] == "ok"), "run_id"])
    cl = ledger.claims()
    cl = cl[cl["run_id"].isin(ids) & cl["note"].fillna("").str.startswith("citizen:")].copy()
    from coreduce.units import conversion_factor

    cl["kg"] = [float(a) * conversion_factor(str(u), "kg") for a, u in zip(cl["amount"], cl["unit"], strict=True)]
    parts = cl["note"].str.extract(r"citizen:(?P<citizen>\S+) mode:(?P<mode>\S+)")
    cl = pd.concat([cl, parts], axis=1)
    if by == "all":
        return pd.DataFrame({"reduction_kg": [float(cl["kg"].sum())], "claims": [len(cl)], "runs": [len(ids)]})
    if by not in ("citizen", "mode"):
        raise InputError("credits", "by = citizen, mode or all", value=by)
    return cl.groupby(by, sort=True)["kg"].sum().rename("reduction_kg").reset_index()
