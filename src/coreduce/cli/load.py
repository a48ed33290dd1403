"""``coreduce load NAME``: one of the real public data sets into the workspace; ``coreduce load list``."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path

import pandas as pd
import typer

from coreduce.cli._common import default_store, err_console, mask_url, out_console, user_errors
from coreduce.errors import CoreduceError, InputError

# What a wrong file given to a loader raises before the loader names the problem itself (a safety net: the
# loaders raise InputError for the cases they know).
_WRONG_FILE = (
    IndexError,
    KeyError,
    IsADirectoryError,
    NotADirectoryError,
    FileNotFoundError,
    PermissionError,
    UnicodeDecodeError,
    zipfile.BadZipFile,
    pd.errors.ParserError,
    pd.errors.EmptyDataError,
    ValueError,
)


def _check_path(path: Path) -> None:
    """``--path`` must exist and be a regular file or a directory (never a FIFO or device: reading blocks)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(str(path), "an existing file or folder") from None
    except OSError as exc:
        raise InputError(str(path), f"a readable file or folder ({exc.strerror or exc})") from None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise InputError(str(path), "a regular file or a folder (not a device, FIFO or socket)")


def _list(as_json: bool) -> None:
    """Every data set: present or not, where it was found, and the publisher's file and page to get it."""
    from coreduce.ingest.loaders import available

    av = available()
    if as_json:
        typer.echo(av.to_json(orient="records", indent=2, force_ascii=False))
        return
    from rich.table import Table

    t = Table(title="data sets (coreduce load NAME; a missing one: download it, then --path FILE or $COREDUCE_DATA)")
    for c in ("name", "present", "description", "found at / get it from"):
        t.add_column(c, overflow="fold")
    for r in av.to_dict("records"):
        where = r["path"] if r["present"] else f"{r['expected']} from {r['url']}"
        t.add_row(r["name"], "yes" if r["present"] else "no", r["description"], str(where))
    out_console().print(t)


@user_errors
def load(
    dataset: str = typer.Argument(
        ...,
        metavar="DATASET",
        help="Data set name, e.g. ceads-provinces, or 'list' to show the names and which are present.",
    ),
    store: str | None = typer.Option(None, "--store", help="Store URL (default: $COREDUCE_STORE or coreduce.duckdb)."),
    path: Path | None = typer.Option(None, "--path", help="Read this file (or folder) instead of the default copy."),
    as_json: bool = typer.Option(False, "--json", help="Print the ingest report (or the list) as JSON."),
) -> None:
    """Load one of the real public data sets into the workspace (validated, one transaction, idempotent).

    Example: coreduce load ceads-provinces --store coreduce.duckdb   (coreduce load list: the names)
    """
    from coreduce.ingest.loaders import DATASETS

    if dataset == "list":
        _list(as_json)
        return
    if dataset not in DATASETS:
        raise InputError("<command line>", f"a data set name: {', '.join(DATASETS)}", column="DATASET", value=dataset)
    if path is not None:
        _check_path(path)
    url = store or default_store()
    shown = mask_url(url)
    with err_console().status(f"reading {dataset} …", spinner="dots") as status:
        try:
            frames = DATASETS[dataset][1](path)
        except CoreduceError:
            raise
        except _WRONG_FILE as exc:
            if path is None:
                raise
            raise InputError(str(path), f"the {dataset} data file as published ({type(exc).__name__}: {exc})") from None
        n = sum(len(f) for f in frames.values())
        status.update(f"writing {n:,} rows to {shown} in one transaction …")
        from coreduce.store import Store

        with Store(url) as st:
            rep = st.ingest(frames, source=str(path or dataset), validate=False)
    if as_json:
        typer.echo(json.dumps(rep.as_dict(), indent=2))
    else:
        con = out_console()
        for t in rep.rows:
            con.print(f"{dataset}: {t}: {rep.rows[t]:,} rows read, {rep.inserted[t]:,} new ({shown})", markup=False)
