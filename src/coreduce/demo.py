"""The main job: build a workspace from the bundled example city, account it, and write the report.

``coreduce demo --out DIR`` is a thin shell over :func:`run_demo`::

    from coreduce.demo import run_demo
    result = run_demo("demo-out")
    result.paths["report"]        # demo-out/report.html
    result.totals["CO2"]          # t CO2, scope 1 (89,184,471 t for Beijing 2019)

Steps: load the example city (validated canonical frames) → ingest sites, observations and activity into
the embedded DuckDB store (one transaction, idempotent) → compute the inventory (CO2, CH4, N2O, CO2e and
the co-pollutants) → downscale it to days with the Cui et al. (2021) sector profiles → store the annual
inventory → write ``inventory.csv``, ``inventory_daily.csv.gz`` and ``report.html``.
"""

from __future__ import annotations

import gzip
import io
import time
from collections.abc import Callable, Iterator
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
from coreduce.datasets import credits, load_example_city

EXAMPLE = "beijing_2019"
GWP = "AR5"
ELECTRICITY = "location"
INVENTORY_COLUMNS = schema.spec("inventory").names
DAILY_PROFILE_SOURCE = "Cui et al. (2021), Beijing 2019 daily CO2 by sector (CC BY 4.0)"

#: what each input of the example is: MEASURED, DERIVED or DOWNSCALED (shown in the report)
INPUTS = pd.DataFrame(
    [
        (
            "activity.csv.gz: fuel use [TJ] and clinker [t] by CEADs sector, 2019",
            "DERIVED",
            "CEADs Beijing 2019 sector x fuel CO2 (Shan et al. 2018, 2020; Guan et al. 2021)",
            "Back-calculated: energy = CEADs CO2 / IPCC 2006 CO2 factor of the mapped fuel; clinker = CEADs "
            "process CO2 / 0.52 t CO2 per t clinker. Recomputing CO2 reproduces CEADs exactly; the CO2 is "
            "therefore CEADs' (an inventory, itself derived from energy statistics), the co-pollutants are "
            "activity x default factors.",
        ),
        (
            "Inventory (annual): CO2, CH4, N2O, CO2e, SO2, NOx, PM2.5, PM10, CO, VOCs",
            "DERIVED",
            "coreduce factor library (IPCC 2006, EMEP/EEA 2023, US EPA AP-42; sources in 'Factors used')",
            "Emission = activity x factor x (1 - removal efficiency); no control technologies are assumed "
            "(uncontrolled co-pollutant factors), so SO2/NOx/PM are upper estimates for a city with FGD/SCR.",
        ),
        (
            "inventory_daily.csv.gz: daily inventory",
            "DOWNSCALED",
            "Cui et al. (2021) daily CO2, Beijing 2019: power, industry, ground transport",
            "Annual rows spread over the 365 days with the sector's daily shares (power, industry, "
            "transport); residential, commercial and agriculture are flat (no daily profile). Annual totals "
            "are conserved.",
        ),
        (
            "daily_profile.csv.gz: daily CO2 shares by sector",
            "MEASURED-based estimate",
            "Cui et al. (2021), Zenodo doi:10.5281/zenodo.4730175",
            "Estimated from measured daily activity proxies (power generation, industrial output, traffic); "
            "used only as a shape.",
        ),
        (
            "air_quality_daily.csv.gz: PM2.5, PM10, SO2, NO2, CO, O3 at 12 stations",
            "MEASURED",
            "UCI Beijing Multi-Site Air Quality (Zhang et al. 2017), CC BY 4.0",
            "Daily means of hourly readings in 2016 (the data set ends Feb 2017): a different year from the "
            "2019 inventory, shown as the city's measured air quality, not compared day by day.",
        ),
        (
            "cems_plant.csv.gz: stack CO, NOx and load of one gas turbine",
            "MEASURED",
            "UCI Gas Turbine CO and NOx Emission Data Set (Kaya et al. 2019), CC BY 4.0",
            "Hourly stack readings of a gas turbine in north-west Turkey, 2015 — not a Beijing plant; a "
            "stand-in for CEMS data. Timestamps are a derived hourly index (the source publishes none).",
        ),
    ],
    columns=["input", "nature", "source", "note"],
)

NOTES = (
    "No carbon sinks are accounted: no credible 2019 forest-area figure for Beijing was confirmed, so "
    "the net balance equals gross emissions.",
    "No scope-2 (purchased electricity) rows: Beijing's 2019 electricity consumption was not confirmed "
    "from a citable source. CEADs' own scope-2 columns are zero for Beijing 2019.",
    "Co-pollutants (SO2, NOx, PM, CO, VOCs) are accounted only where the bundled library has a factor "
    "for the fuel and sector: today power and industry. Transport, residential, commercial and "
    "agriculture show no co-pollutant rows (empty cells): a gap in the factor library, not a zero emission.",
    "Co-pollutant factors are uncontrolled (no FGD, SCR or filters assumed): upper estimates for Beijing, "
    "whose plants are controlled. Volume-based AP-42 factors (per ft3 / gallon) are skipped for activities "
    "given in TJ (no volumetric calorific value in the library).",
    "Entities are the 47 CEADs sectors (e.g. 'Urban' households); 'top emitters' are emitting sectors, not "
    "facilities. Urban household gasoline (private cars) is residential in CEADs.",
)


@dataclass
class DemoResult:
    """What :func:`run_demo` produced.

    Attributes
    ----------
    paths : dict of str to pathlib.Path
        ``workspace`` (DuckDB file, if embedded), ``inventory`` (CSV), ``inventory_daily`` (gzip CSV),
        ``report`` (HTML).
    totals : dict of str to float
        Annual totals by pollutant over all scopes [t] (CO2 net of sinks; there are none in the example).
    store_url : str
        The workspace store.
    rows : dict of str to int
        Rows in the store's canonical tables after the run.
    seconds : dict of str to float
        Wall time of each step [s].
    """

    paths: dict[str, Path]
    totals: dict[str, float]
    store_url: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def account_example_city(name: str = EXAMPLE) -> dict[str, pd.DataFrame]:
    """Reproducible accounting of a bundled example city (the ledger's entrypoint for the demo).

    Parameters
    ----------
    name : str
        Example city (``"beijing_2019"``).

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
    return {str(k): float(v) for k, v in inv.groupby("pollutant")["amount"].sum().items()}


@contextmanager
def _steps(progress: bool, n: int) -> Iterator[Callable[[str], None]]:
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


def run_demo(
    out_dir: str | Path,
    store_url: str | None = None,
    *,
    progress: bool = True,
    footprint: pd.DataFrame | None = None,
    ledger: Any = None,
) -> DemoResult:
    """Run the main job on the bundled example city "Beijing 2019".

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Output folder (created): ``inventory.csv``, ``inventory_daily.csv.gz``, ``report.html`` and, by
        default, the workspace ``workspace.duckdb``.
    store_url : str, optional
        Workspace store (default: embedded DuckDB ``out_dir/workspace.duckdb``; ``postgresql://…`` works too).
        Re-running on the same store changes no row counts (idempotent upserts).
    progress : bool
        Show a Rich progress bar over the steps (False for tests and ``--json``).
    footprint : pandas.DataFrame, optional
        The AI's own compute footprint to show in the report (None: the report says it was not recorded).
    ledger : optional
        An object with ``run(kind, entrypoint=..., params=..., inputs=...)`` returning a context manager
        (e.g. :class:`coreduce.ledger.Ledger`); when given, the accounting step is recorded as one run with
        the inventory as output and the totals by pollutant as explanation.

    Returns
    -------
    DemoResult
        Paths, annual totals by pollutant [t], store URL, row counts and step timings [s].

    Raises
    ------
    coreduce.errors.CoreduceError
        Invalid bundled data or factors (file, row and column named), or an unreachable store.
    """
    from coreduce.report import inventory_context, write_report
    from coreduce.store import Store

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    url = store_url if store_url is not None else str(out / "workspace.duckdb")
    paths: dict[str, Path] = {
        "inventory": out / "inventory.csv",
        "inventory_daily": out / "inventory_daily.csv.gz",
        "report": out / "report.html",
    }
    if store_url is None:
        paths["workspace"] = Path(url)
    seconds: dict[str, float] = {}
    t_prev = time.perf_counter()
    current = {"name": ""}

    with _steps(progress, 6) as step:

        def tick(name: str) -> None:
            nonlocal t_prev
            now = time.perf_counter()
            if current["name"]:
                seconds[current["name"]] = now - t_prev
            t_prev, current["name"] = now, name
            step(name)

        tick("load example city")
        city = load_example_city(EXAMPLE)

        tick("ingest into the workspace")
        with Store(url) as store:
            store.ingest(
                {"sites": city["sites"], "observations": city["observations"], "activity": city["activity"]},
                source=f"coreduce.datasets:{EXAMPLE}",
                validate=False,
            )

            tick("account emissions")
            run_ctx = (
                ledger.run(
                    "account",
                    entrypoint="coreduce.demo:account_example_city",
                    params={"name": EXAMPLE},
                    inputs={"activity": city["activity"]},
                    factor_version=FactorLibrary.default().version,
                )
                if ledger is not None
                else nullcontext()
            )
            with run_ctx as run:
                inv = account_example_city(EXAMPLE)["inventory"]
                totals = _totals(inv)
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

            tick("downscale to days")
            daily = downscale(inv, city["daily_profile"].assign(source=DAILY_PROFILE_SOURCE))

            tick("store and write the inventory")
            store.ingest(
                {"inventory": inv[INVENTORY_COLUMNS]},
                source="coreduce.demo:account_example_city",
                validate=True,
            )
            _write_inventory(inv, paths["inventory"])
            # factor sources repeat 365 times per row: they are in inventory.csv (same keys but the period)
            _write_inventory(daily, paths["inventory_daily"], drop=("factor_source",))
            rows = {t: store.count(t) for t in ("sites", "observations", "activity", "inventory")}

        tick("write the report")
        if footprint is None and ledger is not None:
            from coreduce.ledger import footprint_summary

            footprint = footprint_summary(ledger)
        ctx = inventory_context(
            inv,
            daily=daily,
            observations=city["observations"],
            title="coreduce — Beijing 2019 example city: carbon and co-pollutant inventory",
            subtitle=(
                f"Scope 1 CO2 {totals.get('CO2', 0.0) / 1e6:,.3f} Mt · coreduce {__version__} · "
                f"GWP-100 {GWP} · workspace {url}"
            ),
            summary=(
                "Annual 2019 emissions of Beijing by sector, fuel and day, with the air pollutants from the "
                "same fuel. Amounts in tonnes (t)."
            ),
            inputs=INPUTS,
            notes=NOTES,
            footprint=footprint,
            credits=credits(EXAMPLE),
            version=__version__,
        )
        write_report(paths["report"], ctx)
        tick("")

    seconds.pop("", None)
    return DemoResult(paths=paths, totals=totals, store_url=url, rows=rows, seconds=seconds)


def _write_inventory(inv: pd.DataFrame, path: Path, *, drop: tuple[str, ...] = ()) -> None:
    """Canonical inventory columns to CSV (ISO 8601 UTC timestamps; gzip level 1 if the name ends in .gz).

    Written with pyarrow's CSV writer: the daily file has ~400,000 rows, which pandas' ``to_csv`` takes ~9 s
    to format and pyarrow ~1 s.
    """
    df = inv[[c for c in INVENTORY_COLUMNS if c not in drop]].copy()
    for c in ("period_start", "period_end"):
        naive_utc = df[c].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        df[c] = np.char.add(np.datetime_as_string(naive_utc, unit="s"), "Z")
    for c in df.columns:
        if isinstance(df[c].dtype, pd.StringDtype):
            df[c] = df[c].astype(object)
    buf = io.BytesIO()
    pacsv.write_csv(pa.Table.from_pandas(df, preserve_index=False), buf)
    data = buf.getvalue()
    if path.suffix == ".gz":
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as gz:
            gz.write(data)
    else:
        path.write_bytes(data)


def run_demo_recorded(out_dir: str | Path, store_url: str | None = None, *, progress: bool = True) -> dict[str, Any]:
    """:func:`run_demo` with the accounting step on the workspace's run ledger and the ledger's footprint
    summary in the report — what ``coreduce demo`` runs.  ``COREDUCE_LEDGER=off`` skips the ledger.

    Returns
    -------
    dict
        ``report``, ``inventory``, ``store`` paths, ``totals_t`` [t], ``rows``, ``seconds`` per step, and
        ``run`` (the ledger record's id, energy [kWh] and emissions [kg CO2]) when recorded.
    """
    import os

    url = store_url if store_url is not None else str(Path(out_dir) / "workspace.duckdb")
    ledger = None
    if os.environ.get("COREDUCE_LEDGER", "on") != "off":
        from coreduce.ledger import Ledger

        Path(out_dir).mkdir(parents=True, exist_ok=True)
        ledger = Ledger(url)
    res = run_demo(out_dir, store_url=url, progress=progress, ledger=ledger)
    out: dict[str, Any] = {
        "report": str(res.paths["report"]),
        "inventory": str(res.paths["inventory"]),
        "store": res.store_url,
        "totals_t": res.totals,
        "rows": res.rows,
        "seconds": {k: round(v, 3) for k, v in res.seconds.items()},
    }
    if ledger is not None:
        last = ledger.list().iloc[-1]
        out["run"] = {
            k: (v.item() if hasattr(v, "item") else v)
            for k, v in last.items()
            if k in ("seq", "run_id", "kind", "duration_s", "energy_kwh", "emissions_kg", "status")
        }
    return out


__all__ = ["DemoResult", "account_example_city", "run_demo", "run_demo_recorded"]
