"""``coreduce`` — the command line, a thin shell over the library.

Every command parses its options, calls the library and prints its result on stdout (``--json`` for
machine-readable figures); progress and errors go to stderr.  Errors a user can fix print one line and exit
with code 2, without a traceback (:mod:`coreduce.cli._common`).  Commands live in small modules:
:mod:`~coreduce.cli.account`, :mod:`~coreduce.cli.ingest`, :mod:`~coreduce.cli.load`, :mod:`~coreduce.cli.demo`,
:mod:`~coreduce.cli.factors` and the ledger's :mod:`~coreduce.cli.ledger`.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer

from coreduce.cli._common import default_store, user_errors, version_callback, wide_when_piped
from coreduce.cli.account import account
from coreduce.cli.benefits import app as benefits_app
from coreduce.cli.credits import app as credits_app
from coreduce.cli.demo import demo
from coreduce.cli.evaluate import app as evaluate_app
from coreduce.cli.factors import factors
from coreduce.cli.forecast import app as forecast_app
from coreduce.cli.ingest import ingest
from coreduce.cli.ledger import ledger_app
from coreduce.cli.load import load
from coreduce.cli.monitor import app as monitor_app
from coreduce.cli.optimise import app as optimise_app
from coreduce.cli.policy import app as policy_app
from coreduce.cli.serve import app as serve_app


class _App(typer.Typer):
    """The Typer app; run as the ``coreduce`` script, an unexpected error is one line too (exit 1).

    ``COREDUCE_DEBUG=1`` shows the traceback instead.  (The test runner calls the click command directly.)
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        wide_when_piped()
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            if os.environ.get("COREDUCE_DEBUG"):
                raise
            from coreduce.cli._common import error_line

            line = error_line(exc).removeprefix("error: ")
            typer.echo(f"error: unexpected {type(exc).__name__}: {line} (COREDUCE_DEBUG=1 shows the traceback)",
                       err=True)  # fmt: skip
            sys.exit(1)


app = _App(
    name="coreduce",
    help="Co-reduction of air pollution and carbon emissions: accounting, monitoring, forecasting, decisions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},
)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Co-reduction of air pollution and carbon emissions: accounting, monitoring, forecasting, decisions."""


app.command()(account)
app.command()(ingest)
app.command()(load)
app.command()(demo)
app.command()(factors)

app.add_typer(ledger_app, name="ledger")  # the trust layer's sub-commands
# capabilities (each sub-app imports its optional packages only when a command runs)
app.add_typer(monitor_app, name="monitor")
app.add_typer(forecast_app, name="forecast")
app.add_typer(optimise_app, name="optimise")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(benefits_app, name="benefits")
app.add_typer(policy_app, name="policy")
app.add_typer(credits_app, name="credits")
app.add_typer(serve_app, name="serve")  # the service (coreduce.api)


def main() -> None:  # pragma: no cover
    app()


__all__ = ["app", "default_store", "main", "user_errors"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
