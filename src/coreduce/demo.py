"""The main job as a pipeline of named steps on the bundled example city "Beijing 2016".

``coreduce demo --out DIR`` is a thin shell over :func:`run_demo`::

    from coreduce.demo import run_demo
    result = run_demo("demo-out")
    result.paths["report"]        # demo-out/report.html
    result.totals["CO2"]          # t CO2, scope 1 (89,981,806 t for Beijing 2016)
    result.runs                   # step name -> ledger run id

The demo is the closed loop of the platform, one :class:`DemoStep` per stage, in :data:`STEPS`:

``ingest`` (the example city's sites, observations and activity into the workspace) → ``account``
(the inventory: CO2, CH4, N2O, CO2e and the co-pollutants, stored) → ``downscale`` (the inventory spread
over the days of 2016 with the Cui et al. sector shape) → ``report`` (``report.html``).  Later capabilities
insert their steps before ``report`` with :func:`register_step` (monitor → forecast → decide →
co-benefits).  Each step runs as one run on the workspace's ledger (kind ``demo.<step>``), with its inputs,
outputs and explanation recorded; what a step stores is written inside its run.
"""

from __future__ import annotations

import gzip
import importlib
import io
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from coreduce import __version__, schema
from coreduce.account import FactorLibrary, compute_inventory
from coreduce.account.temporal import downscale
from coreduce.datasets import EXAMPLE_CITY, credits, load_example_city
from coreduce.ledger import entrypoint

EXAMPLE = EXAMPLE_CITY
PLACE, YEAR = "Beijing", 2016
GWP = "AR5"
ELECTRICITY = "location"
INVENTORY_COLUMNS = schema.spec("inventory").names
DAILY_PROFILE_SOURCE = (
    "Cui et al. (2021), Beijing 2019 daily CO2 by sector (CC BY 4.0), applied to 2016 aligned by weekday"
)

#: what each input of the example is: MEASURED, DERIVED or DOWNSCALED (shown in the report)
INPUTS = pd.DataFrame(
    [
        (
            "Fuel use [TJ] and cement clinker [t] by sector, Beijing 2016",
            "DERIVED",
            "CEADs Beijing 2016 CO2 by sector and fuel (Shan et al. 2018, 2020; Guan et al. 2021)",
            "Back-calculated: energy = CEADs CO2 / the engine's CO2 factor of the fuel for Beijing (China's "
            "GB/T 32151 defaults, IPCC 2006 where China's table has none); clinker = CEADs process "
            "CO2 / 0.52 t CO2 per t clinker. The CO2 is therefore CEADs' own (itself derived from energy "
            "statistics); the air pollutants are this activity × default factors.",
        ),
        (
            "Annual inventory, Beijing 2016: CO2, CH4, N2O, CO2e, SO2, NOx, PM2.5, PM10, CO, VOCs",
            "DERIVED",
            "coreduce factor library (GB/T 32151, IPCC 2006, EMEP/EEA 2023, US EPA AP-42; sources in 'Factors used')",
            "Emission = activity × factor × (1 − removal efficiency); no control technologies are assumed "
            "(uncontrolled co-pollutant factors), so SO2/NOx/PM are upper estimates for a city with FGD/SCR.",
        ),
        (
            "Daily inventory, Beijing 2016",
            "DOWNSCALED",
            "Cui et al. (2021) daily CO2 of Beijing in 2019 (power, industry, ground transport)",
            "Annual 2016 rows spread over the 366 days with the sector's 2019 daily shape, each 2016 day taking "
            "the 2019 day on the same weekday; residential, commercial and agriculture are flat (no daily "
            "profile). Annual totals are conserved.",
        ),
        (
            "Daily CO2 shape by sector (from 2019)",
            "MEASURED-based estimate",
            "Cui et al. (2021), Zenodo doi:10.5281/zenodo.4730175",
            "Estimated from measured daily activity proxies (power generation, industrial output, traffic) in "
            "2019 — the one input not from 2016 (no daily series exists for 2016); used only as a shape.",
        ),
        (
            "Air quality, Beijing 2016: PM2.5, PM10, SO2, NO2, CO, O3 at 12 stations",
            "MEASURED",
            "UCI Beijing Multi-Site Air Quality (Zhang et al. 2017), CC BY 4.0",
            "Daily means of hourly readings in 2016, the year of the inventory.",
        ),
    ],
    columns=["Input", "Nature", "Source", "Note"],
)

NOTES = (
    "The carbon sink is Tier 1 and conservative on area, generous on losses: Beijing's forest area from the 7th "
    "National Forest Inventory (2004-2008, 378,800 ha, NBS yearbook 2009; the forest grew after it) times the "
    "IPCC growth-based removal rate of temperate mountain broadleaf forest (6.468 t CO2/ha/yr); harvest and "
    "disturbance losses are not subtracted.",
    "No scope-2 (purchased electricity) rows: Beijing's 2016 electricity consumption was not confirmed "
    "from a citable source. CEADs' own scope-2 columns are zero for Beijing 2016.",
    "Co-pollutant factors are uncontrolled (no FGD, SCR or filters assumed): upper estimates for Beijing, "
    "whose plants are controlled.",
    "Entities are the CEADs sectors (e.g. 'Urban' households); 'top emitters' are emitting sectors, not "
    "facilities. Urban household gasoline (private cars) is residential in CEADs.",
)


# --------------------------------------------------------------------------------------------- steps
@dataclass
class DemoContext:
    """What the steps share: the workspace, the ledger, the example city and each step's results.

    Attributes
    ----------
    out : pathlib.Path
        Output folder.
    store : coreduce.store.Store
        The workspace.
    ledger : coreduce.ledger.Ledger or None
        The workspace's run ledger (None: steps are not recorded).
    city : dict of str to pandas.DataFrame
        :func:`coreduce.datasets.load_example_city`.
    results : dict
        Each step's results by name (``inventory``, ``daily`` ...), for the steps after it.
    paths : dict of str to pathlib.Path
        Files written so far.
    sections : list of dict
        Extra report sections added by steps (see :func:`coreduce.report.inventory_context`).
    runs : dict of str to str
        Step name -> ledger run id.
    """

    out: Path
    store: Any
    ledger: Any
    city: dict[str, pd.DataFrame]
    results: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    sections: list[dict[str, Any]] = field(default_factory=list)
    runs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoStep:
    """One named step of the demo.

    Attributes
    ----------
    name : str
        Short name (``account``); the ledger run's kind is ``demo.<name>``.
    fn : callable
        ``fn(ctx, run)`` — does the work; ``run`` is the open ledger run (or None) on which the step
        records outputs (``run.output``), writes to the store (:func:`write_table`) and explains itself.
    title : str
        Label shown in the progress bar.
    entrypoint : str or None
        ``"module:function"`` that reproduces the step's outputs from ``params`` (None: not reproducible
        on its own, e.g. the report).
    params : dict
        Parameters recorded with the run (and passed to ``entrypoint`` on reproduction).
    """

    name: str
    fn: Callable[[DemoContext, Any], None]
    title: str = ""
    entrypoint: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


def write_table(
    ctx: DemoContext, run: Any, table: str, df: pd.DataFrame, *, source: str, validate: bool = True
) -> None:
    """Store ``df`` in canonical ``table`` as part of the step's run.

    Inside a recorded run the rows are staged with ``run.write`` and upserted in the same transaction as
    the run's ledger record, so the run is ``ok`` only if they are stored; without a ledger they are
    ingested at once (idempotent upsert).
    """
    if run is not None:
        run.write(table, df, source=source, validate=validate)
    else:
        ctx.store.ingest({table: df}, source=source, validate=validate)


@entrypoint
def account_example_city(name: str = EXAMPLE) -> dict[str, pd.DataFrame]:
    """Reproducible accounting of a bundled example city (the ledger entrypoint of the ``account`` step).

    Parameters
    ----------
    name : str
        Example city (``"beijing_2016"``).

    Returns
    -------
    dict
        ``{"inventory": DataFrame}``: annual canonical inventory rows (``amount`` [t]) plus the engine's
        ``factor_set, factor_value, factor_unit, removal_efficiency``; GWP set AR5, location-based scope 2.
        Deterministic: same input files and factor library, same frame.
    """
    activity = load_example_city(name)["activity"]
    lib = FactorLibrary.default()
    inv = compute_inventory(
        activity, lib, gwp=GWP, electricity=ELECTRICITY, source=f"coreduce/datasets/{name}/activity.csv.gz"
    )
    return {"inventory": inv}


def _totals(inv: pd.DataFrame) -> dict[str, float]:
    """Gross emissions by pollutant [t] (sink rows excluded), plus ``CO2_sinks`` (negative) and ``CO2_net``."""
    sink = inv["scope"].astype(str) == "sink"
    out = {str(k): float(v) for k, v in inv[~sink].groupby("pollutant")["amount"].sum().items()}
    sinks = float(inv.loc[sink & (inv["pollutant"] == "CO2"), "amount"].sum())
    out["CO2_sinks"] = sinks
    out["CO2_net"] = out.get("CO2", 0.0) + sinks
    return out


def step_ingest(ctx: DemoContext, run: Any) -> None:
    """Sites, observations and activity of the example city into the workspace (idempotent upserts)."""
    frames = {t: ctx.city[t] for t in ("sites", "observations", "activity")}
    for t, df in frames.items():
        if run is not None:
            run.input(t, df)
        # validated when the bundle was loaded (load_example_city)
        write_table(ctx, run, t, df, source=f"coreduce.datasets:{EXAMPLE}/{t}", validate=False)
    if run is not None:
        run.explain({"example": EXAMPLE, "rows": {t: len(df) for t, df in frames.items()}})


def step_account(ctx: DemoContext, run: Any) -> None:
    """The annual inventory (CO2, CH4, N2O, CO2e and co-pollutants), stored in ``inventory``."""
    if run is not None:
        run.input("activity", ctx.city["activity"])
    inv = account_example_city(EXAMPLE)["inventory"]
    totals = _totals(inv)
    write_table(ctx, run, "inventory", inv[INVENTORY_COLUMNS], source="coreduce.demo:account_example_city")
    ctx.results["inventory"] = inv
    ctx.results["totals"] = totals
    if run is not None:
        run.output("inventory", inv)
        run.explain(
            {
                "example": EXAMPLE,
                "gwp": GWP,
                "electricity": ELECTRICITY,
                "totals_t": {k: round(v, 6) for k, v in totals.items()},
                "rows": len(inv),
            }
        )


def step_downscale(ctx: DemoContext, run: Any) -> None:
    """The annual inventory spread over the days of the year with the sector shapes."""
    inv = ctx.results["inventory"]
    daily = downscale(inv, ctx.city["daily_profile"].assign(source=DAILY_PROFILE_SOURCE))
    ctx.results["daily"] = daily
    if run is not None:
        # the daily frame (~600,000 rows) is hashed as the file the report step writes (bytes: fast),
        # not as a frame here (the ledger's row-wise frame hash would take ~10 s)
        run.explain(
            {
                "profile": DAILY_PROFILE_SOURCE,
                "rows": len(daily),
                "annual_totals_kept": bool(np.isclose(daily["amount"].sum(), inv["amount"].sum(), rtol=1e-9)),
            }
        )


def step_report(ctx: DemoContext, run: Any) -> None:
    """``inventory.csv``, ``inventory_daily.csv.gz`` and ``report.html``."""
    from coreduce.report import inventory_context, write_report

    inv, daily = ctx.results["inventory"], ctx.results["daily"]
    totals = ctx.results["totals"]
    _write_inventory(inv, ctx.paths["inventory"])
    # factor sources repeat 366 times per row: they are in inventory.csv (same keys but the period)
    _write_inventory(daily, ctx.paths["inventory_daily"], drop=("factor_source",))
    footprint = None
    if ctx.ledger is not None and ctx.runs:
        from coreduce.ledger import footprint_summary

        footprint = footprint_summary(ctx.ledger, run_ids=list(ctx.runs.values()))
        footprint = footprint.assign(step=footprint["kind"].str.removeprefix("demo."))
    ctx_report = inventory_context(
        inv,
        daily=daily,
        observations=ctx.city["observations"],
        place=PLACE,
        year=YEAR,
        profile_year=2019,
        title=f"coreduce — {PLACE} {YEAR} example city: carbon and co-pollutant inventory",
        subtitle=(
            f"Scope 1 CO2 {totals.get('CO2', 0.0) / 1e6:,.2f} Mt · coreduce {__version__} · GWP-100 {GWP} · "
            "emission inventory and measured air quality for the same year"
        ),
        summary=(
            f"Annual {YEAR} emissions of {PLACE} by sector, fuel and day, with the air pollutants from the "
            "same fuel. Amounts in tonnes (t)."
        ),
        inputs=INPUTS,
        notes=NOTES,
        footprint=footprint,
        footprint_recorded=ctx.ledger is not None,
        credits=credits(EXAMPLE),
        version=__version__,
        extra_sections=ctx.sections,
    )
    write_report(ctx.paths["report"], ctx_report)
    if run is not None:
        run.output("inventory_csv", ctx.paths["inventory"])
        run.output("inventory_daily_csv", ctx.paths["inventory_daily"])
        run.explain({"report": ctx.paths["report"].name})


#: The demo's steps, in order.  Later capabilities insert theirs before ``report`` (:func:`register_step`).
STEPS: list[DemoStep] = [
    DemoStep("ingest", step_ingest, "load the example city into the workspace"),
    DemoStep(
        "account",
        step_account,
        "account emissions",
        entrypoint="coreduce.demo:account_example_city",
        params={"name": EXAMPLE},
    ),
    DemoStep("downscale", step_downscale, "downscale to days"),
    DemoStep("report", step_report, "write the inventory and the report"),
]


def register_step(step: DemoStep, *, before: str | None = "report") -> None:
    """Add a step to :data:`STEPS` (before ``before``; at the end when None). Replaces a step of the same name."""
    names = [s.name for s in STEPS]
    if step.name in names:
        STEPS[names.index(step.name)] = step
        return
    pos = names.index(before) if before in names else len(STEPS)
    STEPS.insert(pos, step)


#: The closed loop's capability steps (account → monitor → forecast → decide → co-benefits), inserted before
#: ``report`` in this order when their optional packages are installed; a missing extra skips the step and
#: :data:`SKIPPED_STEPS` says which extra would add it.
CAPABILITY_STEPS: tuple[tuple[str, str, str], ...] = (
    ("monitor", "coreduce.monitor.demo", "monitor"),
    ("forecast", "coreduce.forecast.demo_step", "forecast"),
    ("decide", "coreduce.optimise.demo_step", "optimise"),
    ("benefits", "coreduce.benefits.report", "report"),
)
SKIPPED_STEPS: dict[str, str] = {}
_CAPABILITIES_REGISTERED = False


def _capability_step(name: str, module: str) -> DemoStep:
    mod = importlib.import_module(module)
    if name == "monitor":
        return mod.monitor_step()
    if name == "forecast":
        return DemoStep(
            "forecast",
            mod.step,
            "forecast PM2.5 and warn of episodes",
            entrypoint="coreduce.forecast.demo_step:demo_forecast_outputs",
            params={"name": EXAMPLE},
        )
    if name == "decide":
        return mod.DEMO_STEP
    return DemoStep("benefits", mod.step, "co-benefits")


def register_capability_steps() -> list[str]:
    """Insert the installed capabilities' steps before ``report``; return the names added."""
    global _CAPABILITIES_REGISTERED
    _CAPABILITIES_REGISTERED = True
    added = []
    for name, module, extra in CAPABILITY_STEPS:
        try:
            step = _capability_step(name, module)
        except ImportError as exc:
            SKIPPED_STEPS[name] = f"install coreduce[{extra}] ({exc.name or exc})"
            continue
        register_step(step)
        added.append(step.name)
    return added


# --------------------------------------------------------------------------------------------- runner
@dataclass
class DemoResult:
    """What :func:`run_demo` produced.

    Attributes
    ----------
    paths : dict of str to pathlib.Path
        ``workspace`` (DuckDB file, if the default store), ``inventory`` (CSV), ``inventory_daily`` (gzip
        CSV), ``report`` (HTML).
    totals : dict of str to float
        Annual gross emissions by pollutant over scopes 1 and 2 [t], plus ``CO2_sinks`` (the example's forest sink,
        negative) and ``CO2_net``.
    store_url : str
        The workspace store (password masked).
    rows : dict of str to int
        Rows in the store's canonical tables after the run.
    seconds : dict of str to float
        Wall time of each step [s].
    runs : dict of str to str
        Step name -> ledger run id (empty when not recorded).
    """

    paths: dict[str, Path]
    totals: dict[str, float]
    store_url: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    runs: dict[str, str] = field(default_factory=dict)


@contextmanager
def _progress(progress: bool, n: int) -> Iterator[Callable[[str], None]]:
    """A Rich progress bar over ``n`` named steps (a no-op when ``progress`` is False)."""
    if not progress:
        yield lambda _name: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task("coreduce demo", total=n)
        state = {"started": False}

        def step(name: str) -> None:
            if state["started"]:
                bar.advance(task)
            state["started"] = True
            bar.update(task, description=name)

        yield step
        bar.update(task, completed=n, description="done")


def _select(steps: Sequence[str | DemoStep] | None) -> list[DemoStep]:
    if steps is None:
        return list(STEPS)
    by_name = {s.name: s for s in STEPS}
    out: list[DemoStep] = []
    for s in steps:
        if isinstance(s, DemoStep):
            out.append(s)
        elif s in by_name:
            out.append(by_name[s])
        else:
            from coreduce.errors import InputError

            raise InputError("<demo steps>", f"a step name among {', '.join(by_name)}", value=s)
    return out


def run_demo(
    out_dir: str | Path,
    store_url: str | None = None,
    steps: Sequence[str | DemoStep] | None = None,
    progress: bool = True,
    *,
    record: bool | None = None,
) -> DemoResult:
    """Run the demo's steps on the bundled example city "Beijing 2016".

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Output folder (created): ``inventory.csv``, ``inventory_daily.csv.gz``, ``report.html`` and, when
        ``store_url`` is None, the workspace ``workspace.duckdb``.
    store_url : str, optional
        Workspace store (default: embedded DuckDB ``out_dir/workspace.duckdb``; any store URL works, e.g.
        the CLI's default workspace or ``postgresql://…``). The ledger lives in the same store, so
        ``coreduce ledger list --store URL`` lists the demo's runs. Re-running on the same store changes no
        canonical row counts (idempotent upserts); the ledger gains one run per step.
    steps : sequence of str or DemoStep, optional
        Steps to run, by name or as :class:`DemoStep` (default: all of :data:`STEPS`). A step needs the
        results of the steps before it (``report`` needs ``account`` and ``downscale``).
    progress : bool
        Show a Rich progress bar over the steps (False for tests and ``--json``).
    record : bool, optional
        Record each step as a run on the workspace's ledger (default: yes, unless ``COREDUCE_LEDGER=off``).

    Returns
    -------
    DemoResult
        Paths, annual totals by pollutant [t], store URL, row counts, step timings [s] and run ids.

    Raises
    ------
    coreduce.errors.CoreduceError
        Invalid bundled data or factors (file, row and column named), an unreachable store, or an unknown
        step name.
    """
    from coreduce.store import Store

    if not _CAPABILITIES_REGISTERED:
        register_capability_steps()
    chosen = _select(steps)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    url = store_url if store_url is not None else str(out / "workspace.duckdb")
    if record is None:
        record = os.environ.get("COREDUCE_LEDGER", "on") != "off"
    seconds: dict[str, float] = {}
    city = load_example_city(EXAMPLE)
    with Store(url) as store:
        ledger = None
        if record:
            from coreduce.ledger import Ledger

            ledger = Ledger(store)
        ctx = DemoContext(out=out, store=store, ledger=ledger, city=city)
        ctx.paths.update(
            inventory=out / "inventory.csv",
            inventory_daily=out / "inventory_daily.csv.gz",
            report=out / "report.html",
        )
        with _progress(progress, len(chosen)) as show:
            for step in chosen:
                show(step.title or step.name)
                t0 = time.perf_counter()
                run_ctx = (
                    ledger.run(f"demo.{step.name}", entrypoint=step.entrypoint, params=step.params)
                    if ledger is not None
                    else nullcontext()
                )
                with run_ctx as run:
                    step.fn(ctx, run)
                if run is not None:
                    ctx.runs[step.name] = run.run_id
                seconds[step.name] = time.perf_counter() - t0
        rows = {t: store.count(t) for t in ("sites", "observations", "activity", "inventory")}
        display_url = getattr(store, "display_url", url)
    paths = {k: v for k, v in ctx.paths.items() if v.exists()}
    if store_url is None:
        paths["workspace"] = Path(url)
    return DemoResult(
        paths=paths,
        totals=ctx.results.get("totals", {}),
        store_url=display_url,
        rows=rows,
        seconds=seconds,
        runs=dict(ctx.runs),
    )


# --------------------------------------------------------------------------------------------- outputs
def _write_inventory(inv: pd.DataFrame, path: Path, *, drop: tuple[str, ...] = ()) -> None:
    """Canonical inventory columns to CSV through :mod:`coreduce.export` (atomic, unique temporary file,
    non-regular targets refused; floats to 12 significant digits; ISO 8601 UTC timestamps; text cells that
    a spreadsheet would evaluate prefixed with ``'``); gzip level 1 if the name ends in ``.gz``.

    The frame is prepared by :func:`coreduce.export.csv_frame` and formatted with pyarrow's CSV writer: the
    daily file has ~600,000 rows, which pandas' ``to_csv`` takes ~9 s to format and pyarrow ~1 s.
    """
    from coreduce.export import atomic_write_bytes, csv_frame, neutralise_formulas

    df = inv[[c for c in INVENTORY_COLUMNS if c not in drop]].copy()
    df.attrs = {}  # the factor gaps are not data: pyarrow would warn that it cannot serialise them
    for c in df.columns:
        if isinstance(df[c].dtype, pd.StringDtype) or df[c].dtype == object:
            # neutralised once per distinct value (a daily column has ~600,000 cells and a few dozen values)
            codes, uniques = pd.factorize(df[c], use_na_sentinel=True)
            safe = neutralise_formulas(pd.Series(np.asarray(uniques, dtype=object), dtype=object)).to_numpy()
            col = np.empty(len(codes), dtype=object)
            col[codes >= 0] = safe[codes[codes >= 0]]
            col[codes < 0] = None
            df[c] = col
    df = csv_frame(df, neutralise=False)
    buf = io.BytesIO()
    pacsv.write_csv(pa.Table.from_pandas(df, preserve_index=False), buf)
    data = buf.getvalue()
    if path.suffix == ".gz":
        data = gzip.compress(data, compresslevel=1, mtime=0)
    atomic_write_bytes(path, data)


def run_demo_recorded(out_dir: str | Path, store_url: str | None = None, *, progress: bool = True) -> dict[str, Any]:
    """:func:`run_demo` as a JSON-able dict — what ``coreduce demo`` prints.

    Returns
    -------
    dict
        ``report``, ``inventory``, ``store`` (URL, password masked), ``totals_t`` [t], ``rows``, ``seconds``
        per step, ``runs`` (step -> run id) and ``run`` (the last step's ledger record: id, energy [kWh],
        emissions [kg CO2]) when recorded.
    """
    res = run_demo(out_dir, store_url=store_url, progress=progress)
    out: dict[str, Any] = {
        "report": str(res.paths["report"]),
        "inventory": str(res.paths["inventory"]),
        "store": res.store_url,
        "totals_t": res.totals,
        "rows": res.rows,
        "seconds": {k: round(v, 3) for k, v in res.seconds.items()},
        "runs": res.runs,
    }
    if res.runs:
        from coreduce.ledger import Ledger
        from coreduce.store import Store

        url = store_url if store_url is not None else str(Path(out_dir) / "workspace.duckdb")
        with Store(url) as store:
            last = Ledger(store, create=False).list().iloc[-1]
        out["run"] = {
            k: (v.item() if hasattr(v, "item") else v)
            for k, v in last.items()
            if k in ("seq", "run_id", "kind", "duration_s", "energy_kwh", "emissions_kg", "status")
        }
    return out


__all__ = [
    "STEPS",
    "DemoContext",
    "DemoResult",
    "DemoStep",
    "account_example_city",
    "register_step",
    "run_demo",
    "run_demo_recorded",
    "write_table",
]
