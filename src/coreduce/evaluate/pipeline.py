"""Spec-driven evaluation: one TOML (or dict) names the data and the battery; ``run_spec`` writes the report.

Sections of the spec (all but ``[data]`` and ``[model]`` optional; see ``docs/evaluate.md`` and
``examples/evaluate/low_carbon_pilots.toml``)::

    [data]       path, entity, time, fillna = {col = value}, derive = {name = "pandas expression"}, query,
                 balance, years = [a, b]
    [model]      y, x, controls = [...], cluster
    [baseline]   stepwise = true
    [robustness] variants = [{label, y | x | winsor | period | drop_column + drop_values}]
    [iv]         endog, instruments, exog
    [gmm]        y_lags = [1], x, gmm = [[var, first lag, last lag]], iv, system = true, collapse, time_dummies
    [did]        cohort, control = "never_treated" | "not_yet_treated"
    [heterogeneity] group, reps, seed
    [mediation]  m, reps, seed
    [threshold]  y, x, rx, q, n, trim, grid, bootstrap, seed, convention
    [report]     title, notes (data caveats: printed in every table's notes and on the report page)

``run_spec`` returns ``{"tables": ..., "figures": ..., "results": ...}`` and, with ``out``, writes every table as
HTML/LaTeX/Markdown/CSV, ``results.json`` (numbers, data hash, seeds, library versions) and ``index.html``.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coreduce.errors import InputError
from coreduce.evaluate.panel import as_list, require_columns
from coreduce.evaluate.tables import RegressionTable, regression_table

SECTIONS = ("baseline", "robustness", "iv", "gmm", "did", "heterogeneity", "mediation", "threshold")


def load_spec(spec: str | Path | dict[str, Any]) -> tuple[dict[str, Any], Path]:
    """A spec dict and the folder relative paths in it are resolved against."""
    if isinstance(spec, dict):
        return spec, Path.cwd()
    path = Path(spec)
    if not path.is_file():
        raise InputError(str(path), "an existing TOML spec file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")), path.parent
    except tomllib.TOMLDecodeError as exc:
        raise InputError(str(path), f"valid TOML ({exc})") from None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_data(section: dict[str, Any], base: Path, needed: list[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read, derive, filter and (optionally) balance the panel named in ``[data]``."""
    if "path" not in section:
        raise InputError("spec", "a [data] path", column="data.path")
    path = (base / section["path"]).resolve()
    if not path.is_file():
        raise InputError(str(path), "an existing data file", column="data.path")
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    for col, value in (section.get("fillna") or {}).items():
        require_columns(df, [col], source=str(path))
        df[col] = df[col].fillna(value)
    for name, expr in (section.get("derive") or {}).items():
        try:
            df[name] = df.eval(expr, engine="python")
        except Exception as exc:  # pandas raises many types for a bad expression
            raise InputError(
                str(path), f"a valid pandas expression ({exc})", column=f"derive.{name}", value=expr
            ) from None
    entity, time = section.get("entity"), section.get("time")
    require_columns(df, [entity, time], source=str(path))
    if "years" in section:
        lo, hi = section["years"]
        df = df[(df[time] >= lo) & (df[time] <= hi)]
    if section.get("query"):
        df = df.query(section["query"], engine="python")
    used = [c for c in dict.fromkeys(needed) if c in df.columns]
    df = df.replace([np.inf, -np.inf], np.nan).dropna(subset=used)
    if section.get("balance"):
        n_per = df[time].nunique()
        full = df.groupby(entity)[time].nunique()
        df = df[df[entity].isin(full[full == n_per].index)]
    df = df.reset_index(drop=True)
    info = {
        "path": str(path),
        "sha256": sha256_file(path),
        "rows": len(df),
        "entities": int(df[entity].nunique()),
        "periods": [int(df[time].min()), int(df[time].max())] if len(df) else None,
    }
    return df, info


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for p in ("coreduce", "numpy", "pandas", "scipy", "pyfixest", "linearmodels"):
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            out[p] = "not installed"
    return out


def _needed(spec: dict[str, Any]) -> list[str]:
    m = spec.get("model", {})
    cols = [m.get("y"), m.get("x"), *as_list(m.get("controls"))]
    for sec, keys in (
        ("iv", ("endog", "instruments", "exog")),
        ("did", ("cohort",)),
        ("heterogeneity", ("group",)),
        ("mediation", ("m",)),
        ("threshold", ("y", "x", "rx", "q")),
    ):
        for k in keys:
            cols += as_list(spec.get(sec, {}).get(k))
    return [c for c in cols if c]


def run_spec(spec: str | Path | dict[str, Any], *, out: str | Path | None = None) -> dict[str, Any]:
    """Run the battery a spec asks for; return (and with ``out`` write) tables, figures and results.

    Returns
    -------
    dict
        ``tables`` (name -> :class:`RegressionTable` or DataFrame), ``figures`` (name -> plotly Figure),
        ``results`` (JSON-able numbers, data hash, seeds, versions).
    """
    from coreduce.evaluate.did import callaway_santanna, event_study_plot, twfe_event_study
    from coreduce.evaluate.fe import twfe
    from coreduce.evaluate.heterogeneity import interaction_test, permutation_test, split_sample
    from coreduce.evaluate.iv import iv2sls
    from coreduce.evaluate.mediation import mediation
    from coreduce.evaluate.robustness import robustness
    from coreduce.evaluate.threshold import threshold_regression

    sp, base = load_spec(spec)
    unknown = set(sp) - {"data", "model", "report", *SECTIONS}
    if unknown:
        raise InputError(
            "spec", f"sections among {', '.join(['data', 'model', 'report', *SECTIONS])}", value=sorted(unknown)
        )
    dsec, m = sp.get("data", {}), sp.get("model", {})
    df, info = load_data(dsec, base, _needed(sp))
    src = info["path"]
    entity, time = dsec["entity"], dsec["time"]
    y, x, cs, cluster = m.get("y"), m.get("x"), as_list(m.get("controls")), m.get("cluster")
    report = sp.get("report", {})
    caveat = report.get("notes", "")
    labels = report.get("labels", {})

    def note(extra: str = "") -> str:
        base_note = "Standard errors in parentheses. * p < 0.10, ** p < 0.05, *** p < 0.01."
        return " ".join(s for s in (base_note, extra, caveat) if s)

    tables: dict[str, Any] = {}
    figures: dict[str, Any] = {}
    results: dict[str, Any] = {"data": info, "spec": sp, "versions": _versions()}
    fe_lab = {entity: report.get("entity_label", entity), time: report.get("time_label", time)}

    if "baseline" in sp:
        models = twfe(
            df,
            y,
            x,
            cs,
            entity=entity,
            time=time,
            cluster=cluster,
            stepwise=sp["baseline"].get("stepwise", True),
            source=src,
        )
        vc = models[0].vcov
        tables["baseline"] = regression_table(
            models, labels=labels, fe_labels=fe_lab, title="Baseline: two-way FE", note=note(f"SE: {vc}.")
        )
        results["baseline"] = [e.to_dict() for e in models]
    if "robustness" in sp:
        models = robustness(
            df,
            y,
            x,
            cs,
            entity=entity,
            time=time,
            cluster=cluster,
            variants=sp["robustness"].get("variants", []),
            source=src,
        )
        tables["robustness"] = regression_table(
            models, keep=[x], labels=labels, fe_labels=fe_lab, title="Robustness", note=note(f"SE: {models[0].vcov}.")
        )
        results["robustness"] = [e.to_dict() for e in models]
    if "iv" in sp:
        s = sp["iv"]
        r = iv2sls(
            df,
            y,
            s["endog"],
            s["instruments"],
            s.get("exog", cs),
            fe=[entity, time],
            cluster=cluster or entity,
            source=src,
        )
        stats = {"kp_rk_lm": "KP rk LM", "kp_rk_lm_p": "KP rk LM p", "kp_rk_wald_f": "KP rk Wald F"}
        sy = "; ".join(f"{k}: {v}" for k, v in r.stock_yogo.items())
        tables["iv"] = regression_table(
            [r.estimate],
            labels=labels,
            stats=stats,
            title="2SLS",
            note=note(f"Stock–Yogo (2005) critical values: {sy}." if sy else ""),
        )
        tables["iv_first_stage"] = r.first_stage
        results["iv"] = r.to_dict()
    if "gmm" in sp:
        from coreduce.evaluate.gmm import dynamic_panel_gmm

        s = sp["gmm"]
        g = dynamic_panel_gmm(
            df, y, entity, time, y_lags=s.get("y_lags", [1]), x=as_list(s.get("x", [x, *cs])),
            gmm=[tuple(v) for v in s.get("gmm", [[y, 2, 4]])], iv=as_list(s.get("iv", [x, *cs])),
            system=s.get("system", True), collapse=s.get("collapse", True), time_dummies=s.get("time_dummies", True),
            source=src,
        )  # fmt: skip
        stats = {"n_instruments": "Instruments", "hansen_p": "Hansen J p", "ar1_p": "AR(1) p", "ar2_p": "AR(2) p"}
        shown = [c for c in g.estimate.coef.index if not c.startswith(f"{time}_") and c != "const"]
        gnote = note("Windmeijer-corrected SEs; time dummies and constant not shown.")
        tables["gmm"] = regression_table(
            [g.estimate], keep=shown, labels=labels, stats=stats, title=g.estimate.name, note=gnote
        )
        results["gmm"] = g.to_dict()
        if g.diff_hansen:
            tables["gmm_difference_in_hansen"] = pd.DataFrame(
                [{"instruments": k, **v} for k, v in g.diff_hansen.items()]
            )
    if "did" in sp:
        s = sp["did"]
        cs_res = callaway_santanna(
            df, y, entity, time, s["cohort"], control=s.get("control", "never_treated"), source=src
        )
        ev = cs_res.aggregate("event")
        tw = twfe_event_study(df, y, entity, time, s["cohort"], cluster=cluster, source=src)
        tables["did_event"] = ev.merge(tw, on="event_time", how="outer", suffixes=("_cs", "_twfe"))
        tables["did_att_gt"] = cs_res.att_gt
        figures["event_study"] = event_study_plot(
            {"TWFE event study": tw, "Callaway–Sant'Anna": ev}, title=f"Event study: {y}"
        )
        results["did"] = {
            "simple": cs_res.aggregate("simple").iloc[0].to_dict(),
            "control": cs_res.control,
            "event": ev.to_dict(orient="records"),
        }
    if "heterogeneity" in sp:
        s = sp["heterogeneity"]
        sub = split_sample(df, y, x, cs, entity=entity, time=time, group=s["group"], cluster=cluster, source=src)
        perm = permutation_test(
            df,
            y,
            x,
            cs,
            entity=entity,
            time=time,
            group=s["group"],
            reps=int(s.get("reps", 1000)),
            seed=s.get("seed"),
            source=src,
        )
        inter = interaction_test(df, y, x, cs, entity=entity, time=time, group=s["group"], cluster=cluster, source=src)
        extra = (
            f"Coefficient difference {perm.diff:.4f}: Fisher permutation p = {perm.p_two_sided:.3f} "
            f"(two-sided, {perm.reps} draws, seed {perm.seed}); interaction test t = {inter['t']:.2f}, "
            f"p = {inter['p']:.3f}."
        )
        tables["heterogeneity"] = regression_table(
            sub, keep=[x], labels=labels, fe_labels=fe_lab, title="Heterogeneity", note=note(extra)
        )
        results["heterogeneity"] = {
            "permutation": perm.to_dict(),
            "interaction": inter,
            "split": [e.to_dict() for e in sub],
        }
    if "mediation" in sp:
        s = sp["mediation"]
        med = mediation(
            df,
            y,
            x,
            s["m"],
            cs,
            entity=entity,
            time=time,
            cluster=cluster,
            reps=int(s.get("reps", 500)),
            seed=s.get("seed"),
            source=src,
        )
        extra = (
            f"Indirect effect a·b = {med.indirect:.4f}; Sobel z = {med.sobel_z:.2f} (p = {med.sobel_p:.3f}); "
            f"cluster bootstrap {med.level:.0%} CI [{med.boot_ci[0]:.4f}, {med.boot_ci[1]:.4f}] "
            f"({med.reps} draws, seed {med.seed})."
        )
        tables["mediation"] = regression_table(
            med.equations, keep=[x, s["m"]], labels=labels, fe_labels=fe_lab, title="Mediation", note=note(extra)
        )
        results["mediation"] = med.to_dict()
    if "threshold" in sp:
        s = sp["threshold"]
        th = threshold_regression(
            df,
            s.get("y", y),
            s.get("x", cs),
            s["rx"],
            s["q"],
            entity,
            time,
            n_thresholds=int(s.get("n", 1)),
            trim=s.get("trim", 0.01),
            grid=int(s.get("grid", 400)),
            bootstrap=s.get("bootstrap", 300),
            seed=s.get("seed"),
            convention=s.get("convention", "hansen"),
            source=src,
        )
        tables["threshold_tests"] = th.tests()
        tables["threshold_coefficients"] = th.coefficients
        figures["threshold_lr"] = th.plot_lr()
        results["threshold"] = th.to_dict()
    if out is not None:
        write_report(Path(out), tables, figures, results, title=report.get("title", "Evaluation report"), notes=caveat)
    return {"tables": tables, "figures": figures, "results": results}


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, pd.Timestamp | Path):
        return str(o)
    return str(o)


def write_report(
    out: Path, tables: dict[str, Any], figures: dict[str, Any], results: dict[str, Any], *, title: str, notes: str
) -> dict[str, Path]:
    """Write tables (4 formats each; DataFrames as CSV + HTML), figures and ``results.json``, and ``index.html``."""
    import html as _html

    out.mkdir(parents=True, exist_ok=True)
    (out / "tables").mkdir(exist_ok=True)
    written: dict[str, Path] = {}
    parts = [f"<h1>{_html.escape(title)}</h1>"]
    if notes:
        parts.append(f'<p class="caveats"><strong>Data caveats.</strong> {_html.escape(notes)}</p>')
    for name, tab in tables.items():
        parts.append(f"<h2>{_html.escape(name)}</h2>")
        if isinstance(tab, RegressionTable):
            paths = tab.write(out / "tables", name)
            written.update({f"{name}.{k}": p for k, p in paths.items()})
            parts.append(tab.to_html())
        else:
            p = out / "tables" / f"{name}.csv"
            tab.to_csv(p, index=False)
            written[f"{name}.csv"] = p
            parts.append(tab.to_html(index=False, float_format=lambda v: f"{v:.4f}"))
    first = True
    for name, fig in figures.items():
        parts.append(f"<h2>{_html.escape(name)}</h2>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=first))
        (out / f"{name}.json").write_text(fig.to_json(), encoding="utf-8")
        first = False
    page = (
        '<!doctype html><html><head><meta charset="utf-8"><title>' + _html.escape(title) + "</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
        "td,th{padding:2px 8px;text-align:center}.caveats{background:#fff4e0;padding:8px}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>"
    )
    (out / "index.html").write_text(page, encoding="utf-8")
    (out / "results.json").write_text(json.dumps(results, indent=2, default=_json_default), encoding="utf-8")
    written["index.html"] = out / "index.html"
    written["results.json"] = out / "results.json"
    return written
