"""Recorded evaluation runs: a spec file run through the ledger (inputs hashed, outputs hashed, explanation).

``evaluate_spec`` is the registered, reproducible entrypoint (``coreduce ledger reproduce`` re-runs it and
compares the hashes of every table and of the numbers); ``run_spec_recorded`` runs a spec inside
``Ledger.run`` and also writes the report folder. For reproduce to import this module by itself, the ledger's
``ENTRYPOINT_MODULES`` must list ``coreduce.evaluate.jobs``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coreduce.errors import InputError
from coreduce.evaluate.pipeline import _json_default, load_spec, run_spec
from coreduce.evaluate.tables import RegressionTable
from coreduce.ledger import Ledger, entrypoint, entrypoint_of

SIGNIFICANT = 12  # digits kept in hashed outputs (the export convention: floats without noise)


def _round(value: Any) -> Any:
    """Round every float to 12 significant digits: pyfixest's compiled demeaner is not bit-reproducible across
    processes (we measured differences in the 17th digit of a TWFE event-study coefficient), and a ledger hash
    must not change with that noise."""
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT}g}") if np.isfinite(value) else value
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def _round_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].map(_round)
    return out


def recordable(res: dict[str, Any]) -> dict[str, Any]:
    """The outputs the ledger hashes: every table (as a frame) and all numbers (library versions left out),
    floats rounded to 12 significant digits."""
    out: dict[str, Any] = {}
    for name, tab in res["tables"].items():
        frame = tab.body.reset_index(names="row") if isinstance(tab, RegressionTable) else _round_frame(tab)
        out[f"table:{name}"] = frame
    numbers = {k: v for k, v in res["results"].items() if k != "versions"}
    out["results"] = _round(json.loads(json.dumps(numbers, default=_json_default)))
    return out


def summary(res: dict[str, Any]) -> dict[str, Any]:
    """The "why" of a run: the headline numbers and the data caveats."""
    r = res["results"]
    why: dict[str, Any] = {"data": {k: r["data"][k] for k in ("rows", "entities", "periods")}}
    spec = r["spec"]
    x = spec.get("model", {}).get("x")
    if "baseline" in r:
        last = r["baseline"][-1]
        why["baseline"] = {"coef": last["coef"].get(x), "se": last["se"].get(x), "p": last["pvalue"].get(x),
                           "nobs": last["nobs"], "vcov": last["vcov"]}  # fmt: skip
    if "did" in r:
        why["did_simple_att"] = r["did"]["simple"]
    if "threshold" in r:
        why["thresholds"] = r["threshold"]["thresholds"]
    notes = spec.get("report", {}).get("notes")
    if notes:
        why["caveats"] = notes
    return why


@entrypoint
def evaluate_spec(spec: str) -> dict[str, Any]:
    """Run a spec file; return its tables and numbers (the ledger hashes them)."""
    return recordable(run_spec(spec))


def run_spec_recorded(spec: str | Path, ledger: Ledger | str, *, out: str | Path | None = None) -> dict[str, Any]:
    """:func:`run_spec` inside ``Ledger.run``: spec and data files hashed as inputs, every table and the numbers
    hashed as outputs, the headline numbers and data caveats as the explanation. Returns run_spec's dict plus
    ``run_id``."""
    path = Path(spec).resolve()
    if not path.is_file():
        raise InputError(str(path), "an existing TOML spec file (recorded runs need a file to reproduce)")
    sp, base = load_spec(path)
    data_path = (base / sp.get("data", {}).get("path", "")).resolve()
    led = ledger if isinstance(ledger, Ledger) else Ledger(ledger)
    with led.run(
        "evaluate",
        entrypoint=entrypoint_of(evaluate_spec),
        params={"spec": str(path)},
        inputs={"spec": path, "data": data_path},
    ) as run:
        res = run_spec(path, out=out)
        run.outputs(recordable(res))
        run.explain(summary(res))
    res["run_id"] = run.run_id
    return res
