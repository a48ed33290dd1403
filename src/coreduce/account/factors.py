"""The cited factor library: emission factors, calorific values, removal efficiencies, GWPs, grid factors
and sink rates, each a CSV file with one row per value and its source.

The default library ships in ``coreduce/account/data/`` (see ``docs/factors.md`` for what each file holds
and what was verified where).  Users add their own factor tables in the same format; their rows take
priority over the defaults.  The library ``version`` combines the release tag of the bundled files with a
short hash of every table actually in use, so an inventory can always be traced to the exact factors.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
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
    "regions": "regions.csv",
    "factor_sets": "factor_sets.csv",
    "energy_basis": "energy_basis.csv",
    "volumetric_cv": "volumetric_cv.csv",
    "gcv": "gcv.csv",
    "jurisdiction_ncv": "jurisdiction_ncv.csv",
}
#: Auxiliary tables (everything but the emission factors), in the order they enter the version hash.
AUX_TABLES = (
    "ncv",
    "removal_efficiencies",
    "gwp",
    "grid_factors",
    "sink_rates",
    "regions",
    "factor_sets",
    "energy_basis",
    "volumetric_cv",
    "gcv",
    "jurisdiction_ncv",
)
# how a user table is recognised: the first rule whose columns are all present wins
_AUX_KIND: list[tuple[set[str], str]] = [
    ({"land_type"}, "sink_rates"),
    ({"control"}, "removal_efficiencies"),
    ({"factor_id"}, "grid_factors"),
    ({"gwp_set"}, "gwp"),
    ({"code", "jurisdiction"}, "regions"),
    ({"factor_set", "rank"}, "factor_sets"),
    ({"net_to_gross"}, "energy_basis"),
    ({"jurisdiction", "basis"}, "volumetric_cv"),
    ({"activity_type", "jurisdiction", "value", "unit"}, "gcv"),
]
_AUX_KEYS = {
    "sink_rates": ["land_type", "region"],
    "removal_efficiencies": ["control", "pollutant"],
    "grid_factors": ["factor_id"],
    "gwp": ["gwp_set", "gas"],
    "ncv": ["activity_type"],
    "regions": ["code"],
    "factor_sets": ["factor_set", "jurisdiction"],
    "energy_basis": ["activity_type"],
    "volumetric_cv": ["activity_type", "jurisdiction"],
    "gcv": ["activity_type", "jurisdiction"],
    "jurisdiction_ncv": ["activity_type", "jurisdiction"],
}
_REQUIRED = {
    "ncv": ["activity_type", "value", "unit", "source"],
    "removal_efficiencies": ["control", "pollutant", "efficiency", "source"],
    "gwp": ["gwp_set", "gas", "value", "source"],
    "grid_factors": ["factor_id", "purpose", "region", "year", "value", "unit", "source"],
    "sink_rates": ["land_type", "region", "value", "unit", "source"],
    "regions": ["code", "name", "aliases", "country", "grid", "jurisdiction", "source"],
    "factor_sets": ["factor_set", "jurisdiction", "rank", "energy_basis", "source"],
    "energy_basis": ["activity_type", "net_to_gross", "source"],
    "volumetric_cv": ["activity_type", "jurisdiction", "value", "unit", "basis", "source"],
    "gcv": ["activity_type", "jurisdiction", "value", "unit", "source"],
    "jurisdiction_ncv": ["activity_type", "jurisdiction", "value", "unit", "source"],
}
_NUMERIC = ("value", "efficiency", "year", "rank", "net_to_gross")
#: Region code meaning "no region": jurisdiction ``*``; scope-2 factors fall back to this country.
ANY_REGION = "*"
#: Country whose national grid factor serves activity rows without a region (the bundled grid factors are China's).
DEFAULT_GRID_COUNTRY = "CN"
#: Fuel properties a factor set may scale with (``factor_sets.csv`` column ``scales_with``): the factor is given
#: at 1.0 wt % and multiplied by the activity row's value of the property; rows without it skip the set.
SCALING_PROPERTIES = {"sulfur_pct": "fuel sulfur content [wt %]", "ash_pct": "fuel ash content [wt %]"}


def _hash_frame(df: pd.DataFrame) -> str:
    return hashlib.sha256(df.to_csv(index=False).encode()).hexdigest()[:12]


def _read_aux(path: str | Path, name: str) -> pd.DataFrame:
    df = pd.read_csv(
        path,
        dtype={c: "string" for c in ("region", "code", "grid", "country", "jurisdiction", "aliases", "basis")},
        keep_default_na=False,
        na_values=[""],
    )
    for col in _NUMERIC:
        if col in df.columns:
            num = pd.to_numeric(df[col], errors="coerce")
            bad = num.isna() & df[col].notna()
            if bad.any() or num.isna().any():
                i = int((bad | num.isna()).to_numpy().nonzero()[0][0])
                raise InputError(str(path), "a number", row=i + 2, column=col, value=df[col].iloc[i])
            if col == "net_to_gross" and ((num <= 0) | (num > 1)).any():
                i = int(((num <= 0) | (num > 1)).to_numpy().nonzero()[0][0])
                raise InputError(
                    str(path), "a net/gross ratio NCV/GCV in (0, 1]", row=i + 2, column=col, value=df[col].iloc[i]
                )
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
    if name != "emission_factors" and not path.is_file():
        return _empty_aux(name)
    if name == "emission_factors":
        return schema.validate(
            pd.read_csv(path, dtype=str, keep_default_na=False),
            "emission_factors",
            source=f"coreduce/account/data/{_FILES[name]}",
        )
    return _read_aux(path, name)


def _empty_aux(name: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in _REQUIRED[name]})


def _norm(name: object) -> str:
    """Normalised spelling of a region name or code: case-folded, letters and digits only."""
    return "".join(ch for ch in str(name).casefold() if ch.isalnum())


@dataclass(frozen=True)
class ResolvedGridFactor:
    """The electricity or heat factor chosen for one (region, year, purpose).

    Attributes
    ----------
    factor_id, purpose, unit, source : str
        The grid-factor row used (``unit`` e.g. kg/kWh).
    value : float
        Factor in ``unit``.
    region : str
        Region of the row used (ISO 3166-2 code, regional grid code or country).
    level : {"region", "grid", "national", "explicit"}
        Where in the chain region → regional grid → national the factor was found.
    year : int
        Data year of the row used.
    requested_region : str
        The activity's region as a code (``*`` when none was given).
    requested_year : int
        The period's year.
    verified : bool
        False when the data file marks the row ``verified=no``.
    note : str
        The fallback taken, in words (empty when the row is the region's own factor for that year).
    """

    factor_id: str
    purpose: str
    value: float
    unit: str
    source: str
    region: str
    level: str
    year: int
    requested_region: str
    requested_year: int
    verified: bool
    note: str

    @property
    def method(self) -> str:
        """Text for the inventory's ``method`` column: ``scope2 <purpose>: <factor_id>[ (<note>)]``."""
        return f"scope2 {self.purpose}: {self.factor_id}" + (f" ({self.note})" if self.note else "")


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
    regions : pandas.DataFrame
        ``code, name, name_zh, aliases (';'-separated), country, grid, jurisdiction, source``: ISO 3166-2
        codes, regional grids and countries, the province → grid map and each region's jurisdiction.
    factor_sets : pandas.DataFrame
        ``factor_set, jurisdiction, rank, energy_basis, description, source``: the explicit precedence
        (:meth:`precedence`).
    energy_basis : pandas.DataFrame
        ``activity_type, net_to_gross [NCV/GCV], source``.
    volumetric_cv : pandas.DataFrame
        ``activity_type, jurisdiction, value, unit [energy/volume], basis (net/gross), reference_conditions,
        source``.
    gcv : pandas.DataFrame
        ``activity_type, jurisdiction, value, unit [energy/mass or energy/volume], source``: gross (higher)
        heating values of a jurisdiction (40 CFR 98 Table C-1 for the US).
    jurisdiction_ncv : pandas.DataFrame
        ``activity_type, jurisdiction, value, unit [energy/mass], source``: net (lower) calorific values of a
        jurisdiction that replace the IPCC ``ncv`` for its activity (China: the GB/T 32151 defaults that go with
        the ``cn_enterprise`` carbon contents).  Not recognised in user files (same columns as ``gcv``): a user's
        own NCVs go in an ``ncv`` table (used first everywhere) or a ``volumetric_cv``-format table with
        ``basis = net``.
    priority : tuple of str
        Factor sets in library order (used as the precedence when there is no ``factor_sets`` table).
    user_sets : tuple of str
        Factor sets added by the user (:meth:`with_factors`, :meth:`from_csv`); they come first everywhere.
    release : str
        Release tag of the bundled files, or ``"user"`` for libraries built only from user files.
    """

    emission_factors: pd.DataFrame
    ncv: pd.DataFrame
    removal_efficiencies: pd.DataFrame
    gwp: pd.DataFrame
    grid_factors: pd.DataFrame
    sink_rates: pd.DataFrame
    regions: pd.DataFrame = field(default_factory=lambda: _empty_aux("regions"))
    factor_sets: pd.DataFrame = field(default_factory=lambda: _empty_aux("factor_sets"))
    energy_basis: pd.DataFrame = field(default_factory=lambda: _empty_aux("energy_basis"))
    volumetric_cv: pd.DataFrame = field(default_factory=lambda: _empty_aux("volumetric_cv"))
    gcv: pd.DataFrame = field(default_factory=lambda: _empty_aux("gcv"))
    jurisdiction_ncv: pd.DataFrame = field(default_factory=lambda: _empty_aux("jurisdiction_ncv"))
    priority: tuple[str, ...] = field(default_factory=tuple)
    user_sets: tuple[str, ...] = field(default_factory=tuple)
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
            regions=_bundled("regions"),
            factor_sets=_bundled("factor_sets"),
            energy_basis=_bundled("energy_basis"),
            volumetric_cv=_bundled("volumetric_cv"),
            gcv=_bundled("gcv"),
            jurisdiction_ncv=_bundled("jurisdiction_ncv"),
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
        kind = next((kind for need, kind in _AUX_KIND if need <= cols), None)
        if kind == "gcv" and "pollutant" in cols:
            kind = None  # an emission-factor file that happens to carry a jurisdiction column
        if kind is None and "pollutant" not in cols and {"activity_type", "value", "unit"} <= cols:
            kind = "ncv"
        if kind is not None:
            df = _read_aux(path, kind)
            if kind == "ncv":  # the user's own calorific values come before every default (engine's CV order)
                df = df.assign(origin="user")
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
        return replace(d, emission_factors=schema.empty("emission_factors"), priority=(), user_sets=(), release="user")

    def with_factors(self, ef: pd.DataFrame) -> FactorLibrary:
        """A copy where the canonical factor rows ``ef`` come first in priority."""
        ef = schema.validate(ef, "emission_factors") if "year_from" not in ef.columns else ef
        sets = tuple(pd.unique(ef["factor_set"]))
        merged = pd.concat([ef, self.emission_factors], ignore_index=True)
        return replace(
            self,
            emission_factors=merged,
            priority=sets + tuple(s for s in self.priority if s not in sets),
            user_sets=sets + tuple(s for s in self.user_sets if s not in sets),
        )

    def coefficients(self, name: str, *user_paths: str | Path) -> Any:
        """A named, cited coefficient set (CRFs, VSL, technology costs …) through :mod:`coreduce.coefficients`.

        The same mechanism as the factor tables: bundled CSV with a source per row, user files override rows
        with the same key, and the returned set carries its own ``version`` for the ledger.
        """
        from coreduce import coefficients

        return coefficients.load(name, tuple(user_paths))

    @property
    def version(self) -> str:
        """``<release>+<hash>``: the bundled release and a hash of the tables in use."""
        cached = self.__dict__.get("_version")
        if cached is not None:
            return cached
        h = hashlib.sha256()
        for name in ("emission_factors", *AUX_TABLES):
            df = getattr(self, name)
            if name in AUX_TABLES[5:] and df.empty:
                continue  # libraries without the newer tables keep their earlier version strings
            h.update(_hash_frame(df).encode())
        h.update(("|".join(self.user_sets)).encode() if self.user_sets else b"")
        version = f"{self.release}+{h.hexdigest()[:10]}"
        self.__dict__["_version"] = version  # the tables are never mutated in place: hash once
        return version

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

    # ------------------------------------------------------------------ regions
    def _region_index(self) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
        """``{normalised code/name/alias: code}`` and ``{code: row as dict}`` (built once per library)."""
        cached = self.__dict__.get("_regions_idx")
        if cached is not None:
            return cached
        index: dict[str, str] = {}
        rows: dict[str, dict[str, str]] = {}
        for r in self.regions.fillna("").astype(str).to_dict("records"):
            code = r["code"].strip()
            rows[code] = r
            names = [code, r.get("name", ""), r.get("name_zh", ""), *r.get("aliases", "").split(";")]
            for n in names:
                k = _norm(n)
                if k and k not in index:  # the code and first spelling win over later aliases
                    index[k] = code
        self.__dict__["_regions_idx"] = (index, rows)
        return index, rows

    def resolve_region(self, region: object) -> str:
        """The region code (ISO 3166-2 ``CN-GD``, grid ``CN-GRID-SOUTH`` or country ``CN``) of a code or name.

        Codes, English names, Chinese names and the aliases of ``regions.csv`` are accepted, case and
        punctuation ignored (``CN-GD``, ``cn_gd``, ``Guangdong``, ``广东``, ``广东省``). ``*`` (or empty) means
        no region.  Without a regions table the value is returned unchanged.

        Raises
        ------
        coreduce.errors.FactorError
            Unknown region, naming the closest known codes and names.
        """
        if region is None or (isinstance(region, float) and pd.isna(region)) or str(region).strip() in ("", "*"):
            return ANY_REGION
        index, _ = self._region_index()
        if not index:
            return str(region).strip()
        code = index.get(_norm(region))
        if code is None:
            raise FactorError(f"unknown region {str(region)!r}; {self._close_regions(region)}")
        return code

    def _close_regions(self, region: object) -> str:
        index, rows = self._region_index()
        keys = difflib.get_close_matches(_norm(region), list(index), n=8, cutoff=0.6)
        seen: list[str] = []
        for k in keys:
            if index[k] not in seen:
                seen.append(index[k])
        if not seen:
            return (
                "expected an ISO 3166-2 code or a name from coreduce/account/data/regions.csv "
                f"(e.g. {', '.join(list(rows)[8:12])})"
            )
        close = ", ".join(f"{c} ({rows[c].get('name', '')})" for c in seen[:5])
        return f"close matches: {close}"

    def region_chain(self, code: str) -> list[tuple[str, str]]:
        """``[(level, code), ...]`` from the region to its regional grid to its country (no duplicates)."""
        if code == ANY_REGION:
            return []
        _, rows = self._region_index()
        r = rows.get(code, {})
        chain = [("region", code)]
        grid, country = (r.get("grid") or "").strip(), (r.get("country") or "").strip()
        if grid and grid != code:
            chain.append(("grid", grid))
        if country and country not in (code, grid):
            chain.append(("national", country))
        if len(chain) == 1 and code == country:
            chain = [("national", code)]
        return chain

    def jurisdiction(self, code: str) -> str:
        """Jurisdiction (``CN``, ``US``, ``EU``, ``*``) of a region code; ``*`` for no or unlisted region."""
        if code == ANY_REGION:
            return ANY_REGION
        _, rows = self._region_index()
        j = (rows.get(code, {}).get("jurisdiction") or "").strip()
        return j or ANY_REGION

    # ------------------------------------------------------------------ precedence
    def precedence(self, region: object = ANY_REGION, *, jurisdiction: str | None = None) -> pd.DataFrame:
        """The factor sets used for activity in ``region``, best first.

        User sets come first (in the order they were added); then the sets of the region's jurisdiction
        (``factor_sets.csv``, lower ``rank`` first); then the sets declared for every jurisdiction (``*``),
        by rank.  Sets of other jurisdictions are not used.  Without a ``factor_sets`` table the library
        order (:attr:`priority`) is the precedence.  Within the chosen set the most specific factor wins
        (region, then sector), then the latest ``year_from`` valid for the period.

        Returns
        -------
        pandas.DataFrame
            ``order, factor_set, origin, jurisdiction, rank, energy_basis, scales_with, description`` (order 1 = first);
            ``origin`` is ``user``, ``jurisdiction`` or ``any jurisdiction``; ``scales_with`` names the fuel
            property (:data:`SCALING_PROPERTIES`) a set's factors are multiplied by (empty for most sets):
            such a set serves only activity rows that give that property, the others fall to the next set.
        """
        j = jurisdiction if jurisdiction is not None else self.jurisdiction(self.resolve_region(region))
        fs = self.factor_sets
        rows: list[dict] = []
        for s_ in self.user_sets:
            rows.append({"factor_set": s_, "origin": "user", "jurisdiction": "", "rank": np.nan,
                         "energy_basis": self.set_basis(s_), "description": "user factor file"})  # fmt: skip
        if fs.empty:
            for s_ in self.priority:
                if s_ not in self.user_sets:
                    rows.append({"factor_set": s_, "origin": "library order", "jurisdiction": "", "rank": np.nan,
                                 "energy_basis": "net", "description": ""})  # fmt: skip
        else:
            fs = fs.assign(rank=pd.to_numeric(fs["rank"])).sort_values(["rank", "factor_set"], kind="stable")
            parts = ([("jurisdiction", fs[fs["jurisdiction"] == j])] if j != ANY_REGION else []) + [
                ("any jurisdiction", fs[fs["jurisdiction"] == ANY_REGION])
            ]
            for origin, part in parts:
                for r in part.to_dict("records"):
                    if r["factor_set"] in {x["factor_set"] for x in rows}:
                        continue
                    sw = r.get("scales_with")
                    sw = "" if sw is None or (isinstance(sw, float) and pd.isna(sw)) else str(sw).strip()
                    origin_ = f"{origin}; only rows that give {sw}" if sw else origin
                    rows.append({"factor_set": r["factor_set"], "origin": origin_, "jurisdiction": r["jurisdiction"],
                                 "rank": r["rank"], "energy_basis": r["energy_basis"], "scales_with": sw,
                                 "description": r.get("description", "")})  # fmt: skip
        cols = ["factor_set", "origin", "jurisdiction", "rank", "energy_basis", "scales_with", "description"]
        out = pd.DataFrame(rows, columns=cols)
        out["scales_with"] = out["scales_with"].fillna("")
        out.insert(0, "order", np.arange(1, len(out) + 1))
        return out

    def chosen_factors(self, region: object = ANY_REGION, year: int = 2022, sector: str | None = None) -> pd.DataFrame:
        """The factor the engine picks per (activity type, sector, pollutant) for ``region`` and ``year``.

        Same rule as :func:`coreduce.account.compute_inventory` — the first set in :meth:`precedence` that has a
        valid factor, then the most specific region (region > grid > country > ``*``) and sector, then the
        latest ``year_from`` — for activity given in the factor's own denominator unit (a per-volume factor can
        still be skipped by the engine for activity it cannot reach, e.g. gas in TJ without a calorific value).
        Sets that scale with a fuel property are left out (they apply only to rows that state it).

        Returns
        -------
        pandas.DataFrame
            ``activity_type, sector, pollutant, factor_set, value, unit, region, year_from, source, order``
            (``order``: the set's place in the precedence); one row per (activity type, sector, pollutant).
        """
        code = self.resolve_region(region)
        prec = self.precedence(code)
        prec = prec[prec["scales_with"] == ""]
        order = dict(zip(prec["factor_set"], prec["order"], strict=True))
        spec = {c: 3 - i for i, (_, c) in enumerate(self.region_chain(code))}
        ef = self.emission_factors
        ef = ef.assign(_region=ef["region"].map(self._code_or_raw))
        ef = ef[ef["factor_set"].isin(order) & (ef["year_from"] <= year) & (ef["year_to"] >= year)]
        ef = ef.assign(_spec=ef["_region"].map(spec).fillna(-1).where(ef["_region"] != ANY_REGION, 0))
        ef = ef[ef["_spec"] >= 0]
        if sector is not None:
            ef = ef[ef["sector"].isin([sector, "*"])].assign(_sector=sector)
        else:
            ef = ef.assign(_sector=ef["sector"])
        ef = ef.assign(order=ef["factor_set"].map(order), _exact=(ef["sector"] == ef["_sector"]).astype(int))
        ef = ef.sort_values(
            ["activity_type", "_sector", "pollutant", "order", "_spec", "_exact", "year_from"],
            ascending=[True, True, True, True, False, False, False],
            kind="stable",
        ).drop_duplicates(["activity_type", "_sector", "pollutant"])
        out = ef.rename(columns={"sector": "factor_sector"}).assign(sector=ef["_sector"])
        cols = ["activity_type", "sector", "pollutant", "factor_set", "value", "unit", "region", "year_from", "source"]
        return out[[*cols, "order"]].reset_index(drop=True)

    def set_basis(self, factor_set: str) -> str:
        """Energy basis of a factor set's energy-based factors: ``net`` (NCV), ``gross`` (GCV/HHV) or ``none``.

        From ``factor_sets.csv`` (user sets and undeclared sets: ``net``, the IPCC convention).
        """
        fs = self.factor_sets
        if not fs.empty:
            b = fs.loc[fs["factor_set"] == factor_set, "energy_basis"]
            if len(b):
                return str(b.iloc[0])
        return "net"

    # ------------------------------------------------------------------ grid factors
    def _grid_region_codes(self) -> pd.Series:
        cached = self.__dict__.get("_grid_codes")
        if cached is None:
            cached = self.grid_factors["region"].map(self._code_or_raw)
            self.__dict__["_grid_codes"] = cached
        return cached

    def _code_or_raw(self, value: object) -> str:
        try:
            return self.resolve_region(value)
        except FactorError:
            return str(value)

    def resolve_grid_factor(
        self, region: object, year: int, purpose: str = "location", *, factor_id: str | None = None
    ) -> ResolvedGridFactor:
        """The ONE electricity/heat factor rule: region → regional grid → national, by year.

        Order: an explicit ``factor_id`` wins.  Otherwise the chain region → its regional grid
        (``regions.csv`` column ``grid``) → its country is searched for rows of ``purpose``
        (``location``, ``market``, ``fossil``, ``carbon_market``, ``heat``): the most specific level that
        has the period's own year is used; if no level has that year, the most specific level that has
        any row, with its latest year ≤ the period's year, else its earliest year.  Every fallback is
        stated in :attr:`ResolvedGridFactor.note` (and so in the inventory's ``method``).  An activity
        without a region (``*``) uses the national factor of :data:`DEFAULT_GRID_COUNTRY`.

        Parameters
        ----------
        region : str
            Region code or name (see :meth:`resolve_region`).
        year : int
            Year of the period.
        purpose : str
            Row purpose in ``grid_factors.csv``.
        factor_id : str, optional
            Use this row.

        Raises
        ------
        coreduce.errors.FactorError
            Unknown region or factor id, or no row of ``purpose`` anywhere in the chain.
        """
        g = self.grid_factors
        year = int(year)
        if factor_id is not None:
            row = self.grid_factor(factor_id)
            return self._grid_choice(row, "explicit", ANY_REGION, year, "")
        code = self.resolve_region(region)
        chain = self.region_chain(code)
        notes = []
        if not chain:
            chain = [("national", DEFAULT_GRID_COUNTRY)]
            notes.append(f"no region given: national {DEFAULT_GRID_COUNTRY}")
        codes = self._grid_region_codes()
        sel = g[g["purpose"] == purpose]
        cand = [(lvl, c, sel[codes[sel.index] == c]) for lvl, c in chain]
        cand = [(lvl, c, rows) for lvl, c, rows in cand if not rows.empty]
        if not cand:
            tried = " → ".join(c for _, c in chain)
            raise FactorError(f"no {purpose} grid factor for region {code!r} (tried {tried}) in grid_factors.csv")
        exact = [(lvl, c, rows[rows["year"] == year]) for lvl, c, rows in cand]
        exact = [x for x in exact if not x[2].empty]
        if exact:
            lvl, c, rows = exact[0]
            row = rows.iloc[0]
        else:
            lvl, c, rows = cand[0]
            past = rows[rows["year"] <= year]
            row = (past.sort_values("year").iloc[-1]) if not past.empty else rows.sort_values("year").iloc[0]
            rule = "latest year before" if not past.empty else "earliest year, none at or before"
            notes.append(f"no {year} factor: {int(row['year'])} used ({rule} {year})")
        if c != chain[0][1] and code != ANY_REGION:
            what = f"{year} {purpose}" if exact else purpose
            notes.insert(0, f"{code} has no {what} factor: {lvl} {c} used")
        return self._grid_choice(row, lvl, code, year, "; ".join(notes))

    def _grid_choice(self, row: pd.Series, level: str, code: str, year: int, note: str) -> ResolvedGridFactor:
        verified = str(row.get("verified", "yes")).strip().lower() not in ("no", "false", "0")
        if not verified:
            note = (note + "; " if note else "") + "factor marked verified=no in grid_factors.csv"
        return ResolvedGridFactor(
            factor_id=str(row["factor_id"]),
            purpose=str(row["purpose"]),
            value=float(row["value"]),
            unit=str(row["unit"]),
            source=str(row["source"]),
            region=self._code_or_raw(row["region"]),
            level=level,
            year=int(row["year"]),
            requested_region=code,
            requested_year=year,
            verified=verified,
            note=note,
        )

    def sources(self) -> pd.DataFrame:
        """Every factor of every table with its source, one row each (for reports and audits)."""
        parts = [self.emission_factors.assign(table="emission_factors")]
        for name in AUX_TABLES:
            parts.append(getattr(self, name).assign(table=name))
        return pd.concat(parts, ignore_index=True)
