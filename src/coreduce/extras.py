"""Optional dependencies: which extra of ``pip install coreduce[...]`` brings which package.

The core (``pip install coreduce``) is pandas, NumPy, pyarrow, DuckDB, Ibis, pint, Typer and Rich.  Code that
needs more imports it lazily through :func:`require`, which turns a missing package into one clear line::

    plotly = require("plotly", "the HTML report")
    # CoreduceError: the HTML report needs the optional package 'plotly': pip install 'coreduce[report]'
"""

from __future__ import annotations

import importlib
from types import ModuleType

from coreduce.errors import CoreduceError

EXTRAS: dict[str, str] = {
    "plotly": "report",
    "jinja2": "report",
    "psycopg": "postgres",
    "psycopg_binary": "postgres",
    "codecarbon": "footprint",
    "openpyxl": "excel",
    "statsforecast": "forecast",
    "lightgbm": "forecast",
    "torch": "forecast-deep",
    "linopy": "optimise",
    "highspy": "optimise",
    "pypsa": "optimise",
    "pyfixest": "evaluate",
    "linearmodels": "evaluate",
    "statsmodels": "evaluate",
    "sklearn": "monitor",
    "networkx": "monitor",
    "fastapi": "serve",
    "uvicorn": "serve",
    "pyspark": "spark",
}
"""Top-level module name → the extra that installs it (see ``[project.optional-dependencies]``)."""


class MissingExtraError(CoreduceError):
    """An optional package is not installed; the message names the extra that brings it."""

    def __init__(self, module: str, feature: str | None = None) -> None:
        self.module = module
        self.extra = EXTRAS.get(module.split(".")[0])
        what = feature or "this command"
        hint = f"pip install 'coreduce[{self.extra}]'" if self.extra else f"pip install {module.split('.')[0]}"
        super().__init__(f"{what} needs the optional package {module.split('.')[0]!r}: {hint}")


def require(module: str, feature: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == module.split(".")[0]:
            raise MissingExtraError(module, feature) from None
        raise


def missing_extra(exc: ModuleNotFoundError, feature: str | None = None) -> MissingExtraError | None:
    """The :class:`MissingExtraError` for an import failure of an optional package, else ``None``."""
    name = (exc.name or "").split(".")[0]
    return MissingExtraError(name, feature) if name in EXTRAS else None


__all__ = ["EXTRAS", "MissingExtraError", "missing_extra", "require"]
