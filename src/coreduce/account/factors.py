"""The cited factor library: emission factors, calorific values, removal efficiencies, GWPs, grid factors
and sink rates, each a CSV file with one row per value and its source.

The default library ships in ``coreduce/account/data/`` (see ``docs/factors.md`` for what each file holds
and what was verified where).  Users add their own factor tables in the same format; their rows take
priority over the defaults.  The library ``version`` combines the release tag of the bundled files with a
short hash of every table actually in use, so an inventory can always be traced to the exact factors.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path

import pandas as pd

from coreduce import schema
from coreduce.errors import FactorError, InputError

#: Release tag of the bundled factor files (date of the last review of their sources).
DEFAULT_FACTORS_RELEASE = "2026.11"

_FILES = {
    "emission_factors": "emission_factors.csv",
    "ncv": "ncv.csv",
    "removal_efficiencies": "removal_efficiencies.csv",
    "gwp": "gwp.csv",
    "grid_factors": "grid_factors.csv",
    "sink_rates": "sink_rates.csv",
}
_AUX_KIND = {
    "land_type": "sink_rates",
    "control": "removal_efficiencies",
    "factor_id": "grid_factors",
    "gwp_set": "gwp",
}
_AUX_KEYS = {
    "sink_rates": ["land_type", "region"],
    "removal_efficiencies": ["control", "pollutant"],
    "grid_factors": ["factor_id"],
    "gwp": ["gwp_set", "gas"],
    "ncv": ["activity_type"],
}
_REQUIRED = {
    "ncv": ["activity_type", "value", "unit", "source"],
    "removal_efficiencies": ["control", "pollutant", "efficiency", "source"],
    "gwp": ["gwp_set", "gas", "value", "source"],
    "grid_factors": ["factor_id", "purpose", "region", "year", "value", "unit", "source"],
    "sink_rates": ["land_type", "region", "value", "unit", "source"],
}


def _hash_frame(df: pd.DataFrame) -> str:
    return hashlib.sha256(df.to_csv(index=False).encode()).hexdigest()[:12]


def _read_aux(path: str | Path, name: str) -> pd.DataFrame:
    df = pd.read_csv(path, dtype={"region": "string"}, keep_default_na=False, na_values=[""])
    for col in ("value", "efficiency", "year"):
        if col in df.columns:
            num = pd.to_numeric(df[col], errors="coerce")
            bad = num.isna() & df[col].notna()
            if bad.any() or num.isna().any():
                i = int((bad | num.isna()).to_numpy().nonzero()[0][0])
                raise InputError(str(path), "a number", row=i + 2, column=col, value=df[col].iloc[i])
            if col == "efficiency" and ((num < 0) | (num > 1)).any():
                i = int(((num < 0) | (num > 1)).to_numpy().nonzero()[0][0])
                raise InputError(
                    str(path),
                    "a removal efficiency between 0 and 1",
                    row=i + 2,
                    column=col,
                    value=df[col].iloc[i],
                )
            df[col] = num
    missing = [c for c in _REQUIRED[name] if c not in df.columns]
    if missing:
        raise InputError(str(path), f"column(s) {', '.join(missing)} in a {name} table", row=1, column=missing[0])
    bad = df["source"].isna() | (df["source"].astype(str).str.strip() == "")
    if bad.any():
        raise InputError(
            str(path),
            "a source (document, table, year) for every value",
            row=int(bad.to_numpy().nonzero()[0][0]) + 2,
            column="source",
        )
    return df


@cache
def _bundled(name: str) -> pd.DataFrame:
    path = resources.files("coreduce.account").joinpath("data", _FILES[name])
    if name == "emission_factors":
        return schema.validate(
            pd.read_csv(path, dtype=str, keep_default_na=False),
            "emission_factors",
            source=f"coreduce/account/data/{_FILES[name]}",
        )
    return _read_aux(path, name)


@dataclass(frozen=True)
class FactorLibrary:
    """All factor tables used by the accounting engine.

    Attributes
    ----------
    emission_factors : pandas.DataFrame
        Canonical ``emission_factors`` rows (``factor_set, activity_type, pollutant, value, unit [mass/activity],
        region, sector, year_from, year_to, source``).
    ncv : pandas.DataFrame
        Net calorific values ``activity_type, value, unit [energy/mass or energy/volume], source``.
    removal_efficiencies : pandas.DataFrame
        ``control, pollutant, efficiency [0–1], source``.
    gwp : pandas.DataFrame
        ``gwp_set, gas, value [kg CO2e/kg], source``.
    grid_factors : pandas.DataFrame
        ``factor_id, purpose, region, year, value, unit [mass/energy], source``.
    sink_rates : pandas.DataFrame
        ``land_type, region, value, unit [t CO2/ha per year], source``.
    priority : tuple of str
        Factor sets in order of preference when several give the same pollutant for an activity.
    release : str
        Release tag of the bundled files, or ``"user"`` for libraries built only from user files.
    """

    emission_factors: pd.DataFrame
    ncv: pd.DataFrame
    removal_efficiencies: pd.DataFrame
    gwp: pd.DataFrame
    grid_factors: pd.DataFrame
    sink_rates: pd.DataFrame
    priority: tuple[str, ...] = field(default_factory=tuple)
    release: str = DEFAULT_FACTORS_RELEASE

    @classmethod
    def default(cls) -> FactorLibrary:
        """The bundled, cited library."""
        ef = _bundled("emission_factors")
        return cls(
            emission_factors=ef,
            ncv=_bundled("ncv"),
            removal_efficiencies=_bundled("removal_efficiencies"),
            gwp=_bundled("gwp"),
            grid_factors=_bundled("grid_factors"),
            sink_rates=_bundled("sink_rates"),
            priority=tuple(pd.unique(ef["factor_set"])),
        )

    @classmethod
    def from_csv(
        cls, path: str | Path, *, base: FactorLibrary | None = None, factor_set: str = "user"
    ) -> FactorLibrary:
        """Add a user table to ``base`` (the bundled library by default); user rows take priority.

        The kind of table is recognised by its columns, the same formats as the bundled files:
        emission factors (``activity_type, pollutant, value, unit, source`` + optional ``region, sector,
        year_from, year_to, factor_set``), removal efficiencies (``control, pollutant, efficiency, source``),
        sink rates (``land_type, region, value, unit, source``), grid factors (``factor_id, purpose, region,
        year, value, unit, source``), GWPs (``gwp_set, gas, value, source``) or NCVs (``activity_type, value,
        unit, source``).  Pass ``base=FactorLibrary.empty()`` to use the user's emission factors alone.
        """
        path = Path(path)
        try:
            raw = pd.read_csv(path, dtype=str, keep_default_na=False)
        except FileNotFoundError:
            raise InputError(str(path), "an existing factor file") from None
        except Exception as exc:
            raise InputError(str(path), f"a readable CSV file ({str(exc).splitlines()[0]})") from None
        base = base if base is not None else cls.default()
        cols = set(raw.columns)
        if "source" not in cols:
            raise InputError(
                str(path),
                "a 'source' column (document, table, year) in every factor table",
                row=1,
                column="source",
            )
        blank = raw["source"].str.strip() == ""
        if blank.any():
            raise InputError(
                str(path),
                "a source (document, table, year) for every factor",
                row=int(blank.to_numpy().nonzero()[0][0]) + 2,
                column="source",
                value="",
            )
        kind = next((kind for col, kind in _AUX_KIND.items() if col in cols), None)
        if kind is None and "pollutant" not in cols and {"activity_type", "value", "unit"} <= cols:
            kind = "ncv"
        if kind is not None:
            df = _read_aux(path, kind)
            merged = pd.concat([df, getattr(base, kind)], ignore_index=True)
            merged = merged.drop_duplicates(_AUX_KEYS[kind], keep="first").reset_index(drop=True)
            return replace(base, **{kind: merged}, release=f"{base.release}+user")
        if "factor_set" not in cols:
            raw["factor_set"] = factor_set
        ef = schema.validate(raw, "emission_factors", source=str(path))
        return base.with_factors(ef)

    @classmethod
    def empty(cls) -> FactorLibrary:
        """A library with no emission factors (auxiliary tables kept: NCVs, GWPs, grid factors, sinks)."""
        d = cls.default()
        return replace(d, emission_factors=schema.empty("emission_factors"), priority=(), release="user")

    def with_factors(self, ef: pd.DataFrame) -> FactorLibrary:
        """A copy where the canonical factor rows ``ef`` come first in priority."""
        ef = schema.validate(ef, "emission_factors") if "year_from" not in ef.columns else ef
        sets = tuple(pd.unique(ef["factor_set"]))
        merged = pd.concat([ef, self.emission_factors], ignore_index=True)
        return replace(
            self,
            emission_factors=merged,
            priority=sets + tuple(s for s in self.priority if s not in sets),
        )

    @property
    def version(self) -> str:
        """``<release>+<hash>``: the bundled release and a hash of the tables in use."""
        h = hashlib.sha256()
        for df in (
            self.emission_factors,
            self.ncv,
            self.removal_efficiencies,
            self.gwp,
            self.grid_factors,
            self.sink_rates,
        ):
            h.update(_hash_frame(df).encode())
        return f"{self.release}+{h.hexdigest()[:10]}"

    # ------------------------------------------------------------------ lookups
    def gwp_values(self, gwp_set: str = "AR5") -> dict[str, float]:
        """GWP-100 values of one set (``AR4``, ``AR5``, ``AR6``) as ``{gas: value}``."""
        g = self.gwp[self.gwp["gwp_set"] == gwp_set]
        if g.empty:
            raise FactorError(f"unknown GWP set {gwp_set!r}; known: {', '.join(pd.unique(self.gwp['gwp_set']))}")
        return dict(zip(g["gas"], g["value"].astype(float), strict=True))

    def grid_factor(self, factor_id: str) -> pd.Series:
        """One grid factor row by id (e.g. ``cn_mee_2022_national``)."""
        g = self.grid_factors[self.grid_factors["factor_id"] == factor_id]
        if g.empty:
            known = ", ".join(self.grid_factors["factor_id"].head(12))
            raise FactorError(f"unknown grid factor {factor_id!r}; known include: {known}, ...")
        return g.iloc[0]

    def sources(self) -> pd.DataFrame:
        """Every factor of every table with its source, one row each (for reports and audits)."""
        parts = [self.emission_factors.assign(table="emission_factors")]
        for name in ("ncv", "removal_efficiencies", "gwp", "grid_factors", "sink_rates"):
            parts.append(getattr(self, name).assign(table=name))
        return pd.concat(parts, ignore_index=True)
