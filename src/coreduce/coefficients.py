"""Named, cited, versioned coefficient sets: the one mechanism for every coefficient table a capability needs.

Emission factors have their own richer resolver (:class:`coreduce.account.FactorLibrary`); every *other*
coefficient table — concentration–response functions, VSL, pollution-equivalent values, technology costs,
curtailment levels, Stock–Yogo critical values, symptom → cause graphs … — is a CSV bundled with the package
that declares it, registered here by name, and read through :func:`load`:

- every row carries a non-empty ``source`` (document, table, year); a set without one is refused;
- required columns and numeric columns are checked, with the file, row and column named on error;
- a user file may override rows (matched on the set's key columns) or add rows; user rows win;
- each loaded set has a ``version`` (``<name>@<release>+<hash of the rows in use>``) that runs record on the
  ledger next to the factor-library version (:meth:`FactorLibrary.coefficients` reads through the same call).

Examples
--------
>>> from coreduce import coefficients
>>> coefficients.register("crf", package="coreduce.benefits", path="data/crf.csv",
...                       columns=("crf", "endpoint", "beta", "source"), numeric=("beta",), key=("crf", "endpoint"),
...                       description="concentration-response functions")  # doctest: +SKIP
>>> crf = coefficients.load("crf")  # doctest: +SKIP
>>> crf.value(crf="krewski2009", endpoint="all_cause", column="beta")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib import import_module, resources
from pathlib import Path
from typing import Any

import pandas as pd

from coreduce.errors import CoreduceError, InputError

RELEASE = "2026.11"
#: packages imported (if installed) to let them register their sets before a lookup fails
CAPABILITY_PACKAGES = (
    "coreduce.benefits",
    "coreduce.policy",
    "coreduce.optimise",
    "coreduce.evaluate",
    "coreduce.monitor",
)


class CoefficientError(CoreduceError):
    """An unknown coefficient set, or a lookup that does not match exactly one row."""


@dataclass(frozen=True)
class CoefficientSpec:
    """How a coefficient set is found and checked.

    Attributes
    ----------
    name : str
        The set's name (``"crf"``, ``"vsl"``, ``"pollution_equivalents"``, ``"technology_costs"`` …).
    package : str
        Importable package that bundles the file (``"coreduce.benefits"``).
    path : str
        The file's path inside the package (``"data/crf.csv"``).
    columns : tuple of str
        Required columns; ``source`` is always required.
    numeric : tuple of str
        Columns that must parse as numbers (blank allowed only where ``optional_numeric`` says so).
    key : tuple of str
        Columns that identify a row (user rows with the same key replace bundled ones).
    description : str
        One line: what the coefficients are and their units.
    optional_numeric : tuple of str
        Numeric columns that may be blank.
    """

    name: str
    package: str
    path: str
    columns: tuple[str, ...]
    numeric: tuple[str, ...] = ()
    key: tuple[str, ...] = ()
    description: str = ""
    optional_numeric: tuple[str, ...] = ()


@dataclass(frozen=True)
class CoefficientSet:
    """One loaded coefficient set.

    Attributes
    ----------
    spec : CoefficientSpec
    frame : pandas.DataFrame
        The rows in use (bundled, then user overrides).
    version : str
        ``<name>@<release>+<hash>``; changes whenever a row in use changes.
    paths : tuple of str
        The files the rows came from (bundled first).
    """

    spec: CoefficientSpec
    frame: pd.DataFrame = field(repr=False)
    version: str
    paths: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.spec.name

    def rows(self, **match: Any) -> pd.DataFrame:
        """The rows whose columns equal the given values (``rows(crf="krewski2009")``)."""
        df = self.frame
        for col, val in match.items():
            if col not in df.columns:
                raise CoefficientError(f"coefficient set {self.name!r} has no column {col!r} (has {list(df.columns)})")
            df = df[df[col].astype(str) == str(val)]
        return df

    def row(self, **match: Any) -> pd.Series:
        """Exactly one matching row, or a :class:`CoefficientError` naming the set and the filter."""
        df = self.rows(**match)
        if len(df) != 1:
            what = ", ".join(f"{k}={v!r}" for k, v in match.items())
            raise CoefficientError(
                f"coefficient set {self.name!r} ({self.paths[-1]}): {len(df)} rows match {what}, expected exactly 1"
            )
        return df.iloc[0]

    def value(self, column: str = "value", **match: Any) -> float:
        """The number in ``column`` of the one row matching ``match``."""
        return float(self.row(**match)[column])

    def source(self, **match: Any) -> str:
        """The citation of the one row matching ``match``."""
        return str(self.row(**match)["source"])


_REGISTRY: dict[str, CoefficientSpec] = {}


def register(
    name: str,
    *,
    package: str,
    path: str,
    columns: tuple[str, ...] | list[str],
    numeric: tuple[str, ...] | list[str] = (),
    key: tuple[str, ...] | list[str] = (),
    description: str = "",
    optional_numeric: tuple[str, ...] | list[str] = (),
) -> CoefficientSpec:
    """Declare a bundled coefficient set (idempotent; re-registering the same name replaces it)."""
    cols = tuple(columns) if "source" in columns else (*columns, "source")
    spec = CoefficientSpec(name, package, path, cols, tuple(numeric), tuple(key), description, tuple(optional_numeric))
    _REGISTRY[name] = spec
    load.cache_clear()
    return spec


def spec(name: str) -> CoefficientSpec:
    """The registered :class:`CoefficientSpec` of ``name`` (importing its package lets it register)."""
    if name not in _REGISTRY:
        raise CoefficientError(
            f"unknown coefficient set {name!r}; registered: {', '.join(sorted(_REGISTRY)) or 'none'}"
        )
    return _REGISTRY[name]


def registered() -> pd.DataFrame:
    """Every registered set: name, package, file, key, description."""
    return pd.DataFrame(
        [
            {"name": s.name, "package": s.package, "path": s.path, "key": ",".join(s.key), "description": s.description}
            for s in sorted(_REGISTRY.values(), key=lambda s: s.name)
        ],
        columns=["name", "package", "path", "key", "description"],
    )


def read_checked(path: str | Path, sp: CoefficientSpec, *, display: str | None = None) -> pd.DataFrame:
    """Read one CSV of a coefficient set and check columns, numbers and sources (file, row, column on error)."""
    shown = display or str(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(shown, f"a readable CSV of the {sp.name!r} coefficient set ({exc})") from exc
    missing = [c for c in sp.columns if c not in df.columns]
    if missing:
        raise InputError(shown, f"column(s) {', '.join(missing)} of the {sp.name!r} coefficient set", row=1)
    for c in df.columns:
        df[c] = df[c].str.strip()
    blank = df["source"] == ""
    if blank.any():
        i = int(blank.to_numpy().nonzero()[0][0])
        raise InputError(shown, "a source (document, table, year) for every value", row=i + 2, column="source")
    for c in sp.numeric:
        num = pd.to_numeric(df[c], errors="coerce")
        bad = num.isna() & ~((df[c] == "") & (c in sp.optional_numeric))
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise InputError(shown, "a number", row=i + 2, column=c, value=df[c].iloc[i])
        df[c] = num
    if sp.key:
        dup = df.duplicated(list(sp.key), keep=False)
        if dup.any():
            i = int(dup.to_numpy().nonzero()[0][0])
            raise InputError(shown, f"one row per key ({', '.join(sp.key)})", row=i + 2, column=sp.key[0])
    return df


def _hash(df: pd.DataFrame) -> str:
    return hashlib.sha256(df.to_csv(index=False).encode()).hexdigest()[:10]


def _bundled(sp: CoefficientSpec) -> tuple[pd.DataFrame, str]:
    res = resources.files(sp.package).joinpath(sp.path)
    shown = f"{sp.package.replace('.', '/')}/{sp.path}"
    with resources.as_file(res) as p:
        return read_checked(p, sp, display=shown), shown


def _load(name: str, user_paths: tuple[str, ...]) -> CoefficientSet:
    if name not in _REGISTRY:
        # a capability registers its sets when its package is imported
        for pkg in (
            "coreduce.benefits",
            "coreduce.policy",
            "coreduce.optimise",
            "coreduce.evaluate",
            "coreduce.monitor",
        ):
            try:
                import_module(pkg)
            except ImportError:
                continue
            if name in _REGISTRY:
                break
    sp = spec(name)
    frame, shown = _bundled(sp)
    paths = [shown]
    for up in user_paths:
        user = read_checked(up, sp)
        if sp.key:
            keep = ~frame.set_index(list(sp.key)).index.isin(user.set_index(list(sp.key)).index)
            frame = pd.concat([user, frame[keep]], ignore_index=True)
        else:
            frame = pd.concat([user, frame], ignore_index=True)
        paths.append(str(up))
    return CoefficientSet(sp, frame.reset_index(drop=True), f"{name}@{RELEASE}+{_hash(frame)}", tuple(paths))


class _Loader:
    """``load(name, user_paths=())`` with a cache keyed on the name and the user files."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, tuple[str, ...]], CoefficientSet] = {}

    def __call__(self, name: str, user_paths: tuple[str | Path, ...] | list[str | Path] = ()) -> CoefficientSet:
        key = (name, tuple(str(p) for p in user_paths))
        if key not in self._cache:
            self._cache[key] = _load(*key)
        return self._cache[key]

    def cache_clear(self) -> None:
        self._cache.clear()


load = _Loader()
load.__doc__ = """Load a registered coefficient set, with optional user files whose rows take priority.

Parameters
----------
name : str
    A registered set (see :func:`registered`).
user_paths : sequence of path
    CSV files in the same format; rows with the same key replace the bundled ones.

Returns
-------
CoefficientSet
"""
