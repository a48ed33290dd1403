"""What every ``coreduce`` command shares: the consoles, the default store, user errors as one line, input checks.

* Results go to **stdout** (tables, summaries, ``--json``); progress and errors go to **stderr**.
* A user error (:class:`~coreduce.errors.CoreduceError`, a missing optional package) prints one line
  ``error: …`` on stderr and exits with code 2, never a traceback; a store URL's password is shown as ``***``.
* Rich tables are never cut at 80 columns: on a terminal they use its width (and fold long cells), and when
  the output is piped or captured they are laid out ``$COLUMNS`` or 200 columns wide.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import warnings
from collections.abc import Callable
from datetime import date, datetime
from functools import wraps
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from coreduce.errors import CoreduceError, InputError

PIPED_WIDTH = 200
"""Width of Rich output when stdout is not a terminal (and ``$COLUMNS`` is not set)."""


def _width(stream: Any) -> int | None:
    try:
        if stream.isatty():
            return None  # Rich reads the terminal's width
    except (AttributeError, ValueError):
        pass
    try:
        return max(int(os.environ.get("COLUMNS", "")), 40)
    except ValueError:
        return PIPED_WIDTH


def wide_when_piped() -> None:
    """When stdout is not a terminal and ``$COLUMNS`` is unset, set it to :data:`PIPED_WIDTH`, so every Rich
    console of the process (the ledger's tables too) lays out wide instead of cutting at 80 columns."""
    try:
        tty = sys.stdout.isatty()
    except (AttributeError, ValueError):
        tty = False
    if not tty and not os.environ.get("COLUMNS"):
        os.environ["COLUMNS"] = str(PIPED_WIDTH)


def out_console() -> Console:
    """A console on stdout (created per call: the test runner swaps ``sys.stdout``)."""
    # soft_wrap: plain lines are never broken by Rich (tables still use the width)
    return Console(file=sys.stdout, width=_width(sys.stdout), highlight=False, soft_wrap=True)


def err_console() -> Console:
    """A console on stderr for progress and notes."""
    return Console(file=sys.stderr, stderr=True, width=_width(sys.stderr), highlight=False)


def default_store() -> str:
    """The workspace store: ``$COREDUCE_STORE`` or ``coreduce.duckdb`` in the current directory."""
    return os.environ.get("COREDUCE_STORE") or "coreduce.duckdb"


def mask_url(url: str) -> str:
    """``url`` with any password shown as ``***`` (``postgresql://u:pw@h/db`` → ``postgresql://u:***@h/db``):
    :func:`coreduce.store.mask_url`."""
    from coreduce.store import mask_url as store_mask

    return store_mask(url)


def _masked(text: str, urls: list[str]) -> str:
    for u in urls:
        if u and mask_url(u) != u:
            text = text.replace(u, mask_url(u))
    return mask_url(text)  # any other URL or conninfo with a password that reached the message


def _readable(value: Any) -> Any:
    """A timestamp as ISO 8601 text instead of ``Timestamp('…', tz='UTC')``."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if type(value).__name__ in ("Timestamp", "datetime64"):
        return str(value)
    return value


def error_line(exc: BaseException, urls: list[str] | None = None) -> str:
    """The one line a user sees for ``exc``."""
    if isinstance(exc, InputError) and _readable(exc.value) is not exc.value:
        exc = InputError(exc.source, exc.expected, row=exc.row, column=exc.column, value=_readable(exc.value))
    line = _masked(f"error: {exc}", urls or [])
    m = re.search(r"(?:No module named|Missing optional dependency) '([\w.]+)'", line)
    if m:  # a library wrapped an ImportError of an optional package: say which extra brings it
        from coreduce.extras import EXTRAS

        extra = EXTRAS.get(m.group(1).split(".")[0])
        if extra and f"coreduce[{extra}]" not in line:
            line += f" (pip install 'coreduce[{extra}]')"
    return line


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr; return the :class:`typer.Exit` to raise."""
    typer.echo(_masked(f"error: {message}", []), err=True)
    return typer.Exit(code=code)


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user errors into one line on stderr and exit code 2 (no traceback).

    Handles :class:`CoreduceError` (bad input, store, units, factors, output paths) and a missing optional
    package (the message names the ``pip install 'coreduce[extra]'`` that brings it).  Numerical warnings from
    NumPy/pandas are not shown: figures that matter are checked and reported as errors by the library.
    """

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        urls = [v for k, v in kwargs.items() if k == "store" and isinstance(v, str)]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # NumPy overflow/invalid: checked as errors
                return func(*args, **kwargs)
        except CoreduceError as exc:
            typer.echo(error_line(exc, urls), err=True)
            raise typer.Exit(code=2) from None
        except ModuleNotFoundError as exc:
            from coreduce.extras import missing_extra

            err = missing_extra(exc)
            if err is None:
                raise
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper


def check_input_file(path: str | Path, what: str = "input file") -> Path:
    """A path the user gave as input must be an existing regular file (checked before it is read or hashed).

    A directory, a device (``/dev/zero``), a FIFO or a socket is refused at once (reading a FIFO or
    ``/dev/zero`` would block or never end).  Symbolic links to regular files are followed.
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise InputError(str(p), f"an existing {what}") from None
    except NotADirectoryError:
        raise InputError(str(p), f"an existing {what} (a part of the path is not a directory)") from None
    except OSError as exc:
        raise InputError(str(p), f"a readable {what} ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(str(p), f"a {what}, not a directory")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "a device"
        raise InputError(str(p), f"a regular {what}, not {kind}")
    if not os.access(p, os.R_OK):
        raise InputError(str(p), f"a readable {what} (permission denied)")
    return p


def check_table(table: str) -> str:
    """``table`` must be a canonical table (one declared in ``schema/tables.csv``)."""
    from coreduce import schema

    names = list(schema.TABLES)
    if table not in names:
        raise InputError("<command line>", f"a canonical table: {', '.join(names)}", column="--table", value=table)
    return table


def version_callback(value: bool) -> None:
    """``coreduce --version``."""
    if value:
        from coreduce import __version__

        typer.echo(f"coreduce {__version__}")
        raise typer.Exit()


__all__ = [
    "PIPED_WIDTH",
    "check_input_file",
    "check_table",
    "default_store",
    "err_console",
    "error_line",
    "fail",
    "mask_url",
    "out_console",
    "user_errors",
    "version_callback",
    "wide_when_piped",
]
