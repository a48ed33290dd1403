"""The accounting chain: canonical ``activity`` rows → canonical ``inventory`` rows, as columnar joins.

How one activity row becomes inventory rows
-------------------------------------------
1. **Region.** ``region`` is read as an ISO 3166-2 code or a name/alias of ``regions.csv`` (``CN-GD``,
   ``Guangdong``, ``广东``) and written back as the code; its jurisdiction (``CN``, ``US``, ``EU``, ``*``)
   selects the factor sets (:meth:`FactorLibrary.precedence`: user sets, then the jurisdiction's sets by
   rank, then the ``*`` sets by rank).
2. **Factor.** Per pollutant, the first set in that precedence that has a factor valid for the row wins;
   inside a set the most specific factor (region > regional grid > country > ``*``, then sector match > ``*``)
   with the latest ``year_from`` valid for the period's year.  A factor whose denominator cannot be reached
   from the activity's unit is skipped (so a per-volume factor can serve gas metered in m³).
3. **Conversion** (one multiplier per distinct (fuel, activity unit, factor unit, basis, jurisdiction)):
   pint for units; a mass or volume through a calorific value: the user's, else the region's jurisdiction's
   (``volumetric_cv.csv``: GB/T 2589 gas per m³ in China, 40 CFR 98 Table C-1 gas per scf in the US;
   ``jurisdiction_ncv.csv``: the GB/T 32151 NCVs per tonne in China, which go with the ``cn_enterprise``
   carbon contents; ``gcv.csv``: the 40 CFR 98 HHVs per short ton or gallon in the US), else the IPCC net
   calorific values (``ncv.csv``); the energy basis through ``net_to_gross`` = NCV/GCV of
   ``energy_basis.csv`` (gross energy × net_to_gross = net energy) whenever the activity's basis
   (``activity.energy_basis``, ``net`` by default, or the calorific value's basis) differs from the factor
   set's (``factor_sets.csv``: IPCC/EMEP net, ``us_40cfr98`` gross).
4. **Controls** in series: ``η = 1 − Π(1 − ηᵢ)`` per pollutant (``removal_efficiencies.csv``).
5. ``E [t] = A · EF · k · (1 − η)``; CO2e = Σ GWP-100 × gas over CO2, CH4, N2O of the same row.

Purchased electricity and heat (``electricity_purchased``, ``heat_purchased``) are scope 2, priced by
:meth:`FactorLibrary.resolve_grid_factor` (region → regional grid → national, by year, the fallback stated
in ``method``).  Activity rows in area units whose ``activity_type`` is a land type of the sink table are
carbon sinks (negative CO2, scope ``sink``): area × rate × years.

Everything per row is columnar: the distinct keys (fuel, unit, sector, region, year, basis, control) of a
chunk are resolved once into a small table of multipliers, and the chunk is joined to it in DuckDB.  Input
is processed in chunks (``chunk_rows``), so :func:`write_inventory` streams any number of rows to Parquet
in bounded memory.

Factor gaps are never silent zeros: every (activity type, pollutant) that an activity row should have
(all nine of CO2, CH4, N2O, SO2, NOx, PM2.5, PM10, CO, VOCs for a fuel; the pollutants the library knows
for a process) but for which no factor applies is listed by :func:`factor_gaps` and in
``inventory.attrs["gaps"]``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from coreduce import schema
from coreduce.account.combustion import apply_controls
from coreduce.account.factors import ANY_REGION, SCALING_PROPERTIES, FactorLibrary, ResolvedGridFactor
from coreduce.account.sinks import year_fraction
from coreduce.errors import FactorError, InputError, UnitError
from coreduce.units import conversion_factor, dimension, quantity, split_rate

SCOPE2_TYPES = {"electricity_purchased": "electricity", "heat_purchased": "heat"}
GHGS = ("CO2", "CH4", "N2O")
#: Pollutants every combustion fuel is expected to have a factor for (a missing one is a reported gap).
COMBUSTION_POLLUTANTS = ("CO2", "CH4", "N2O", "SO2", "NOx", "PM2.5", "PM10", "CO", "VOCs")
INVENTORY_COLUMNS = schema.spec("inventory").names
DETAIL_COLUMNS = ["factor_set", "factor_value", "factor_unit", "removal_efficiency"]
GAP_COLUMNS = ["activity_type", "pollutant", "sector", "region", "rows", "reason"]
METHOD_EF = "A*EF*(1-eta)"
ENERGY_BASES = ("net", "gross")
#: Rows per chunk: bounds the memory of one step (the joined chunk is about 10 rows per activity row).
DEFAULT_CHUNK_ROWS = 500_000
_PROPS = tuple(SCALING_PROPERTIES)
_KEY = ["activity_type", "unit", "sector", "region", "year", "energy_basis", "control", "_class"] + [
    f"_has_{p}" for p in _PROPS
]
#: Lexical rank of every pollutant name (the sort order of the inventory's ``pollutant`` column).
_POLLUTANT_RANK = {p: i for i, p in enumerate(sorted(schema.POLLUTANTS))}


# ====================================================================== public API
class GapFrame(pd.DataFrame):
    """The factor-gap table (a DataFrame, :data:`GAP_COLUMNS`) kept in ``inventory.attrs["gaps"]``.

    Whole-frame ``==`` returns one bool (:meth:`pandas.DataFrame.equals`), so pandas can compare the
    ``attrs`` of two inventories (``pd.concat`` does) without "truth value of a DataFrame is ambiguous".
    Column comparisons (``gaps["pollutant"] == "PM10"``) are the usual element-wise ones.
    """

    @property
    def _constructor(self):
        return GapFrame

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        return isinstance(other, pd.DataFrame) and self.equals(other)

    def __ne__(self, other: object) -> bool:  # type: ignore[override]
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]


def compute_inventory_in_process(
    activity: pd.DataFrame | str | os.PathLike,
    factors: FactorLibrary | None = None,
    *,
    gwp: str | None = "AR5",
    electricity: str = "location",
    pollutants: list[str] | None = None,
    source: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    validated: bool = False,
) -> pd.DataFrame:
    """:func:`coreduce.account.compute_inventory` in this process: a frame or a file, expanded with NumPy in
    chunks of ``chunk_rows`` (parameters, return value and errors as there)."""
    if source is None:
        source = str(activity) if not isinstance(activity, pd.DataFrame) else "<DataFrame>"
    acc = _Accountant(factors, gwp=gwp, electricity=electricity, pollutants=pollutants, source=source)
    acc.validated = validated and isinstance(activity, pd.DataFrame)
    acts, exps = [], []
    for chunk in acc.chunks(activity, chunk_rows):
        exps.append(acc.expand(chunk))
        acts.append(chunk[["entity", "sector", "region", "period_start", "period_end", "activity_type"]])
    out = _assemble(acts, exps, acc.version)
    out.attrs["gaps"] = acc.gaps()
    out.attrs["factor_version"] = acc.version
    return out


def write_inventory(
    activity: pd.DataFrame | str | os.PathLike,
    out: str | os.PathLike,
    factors: FactorLibrary | None = None,
    *,
    gwp: str | None = "AR5",
    electricity: str = "location",
    pollutants: list[str] | None = None,
    source: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> dict:
    """:func:`compute_inventory` streamed to a Parquet data set, in bounded memory.

    Parameters
    ----------
    activity : pandas.DataFrame or path
        As :func:`compute_inventory` (a CSV or Parquet path is read in chunks of ``chunk_rows``).
    out : path
        Directory to write (created; must be empty or absent): one ``part-NNNNN.parquet`` per chunk, the
        same columns as :func:`compute_inventory` (unsorted across chunks).  Read it back with
        ``pandas.read_parquet(out)`` or DuckDB ``read_parquet('out/*.parquet')``.
    Other parameters
        As :func:`compute_inventory`.

    Returns
    -------
    dict
        ``rows`` (inventory rows written), ``activity_rows``, ``parts``, ``path``, ``factor_version`` and
        ``gaps`` (DataFrame, :data:`GAP_COLUMNS`).  Nothing is left in ``out`` when an error is raised.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(str(out), "an empty or new directory for the inventory Parquet parts")
    src = source if source is not None else (str(activity) if not isinstance(activity, pd.DataFrame) else "<DataFrame>")
    acc = _Accountant(factors, gwp=gwp, electricity=electricity, pollutants=pollutants, source=src)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    rows = n_act = 0
    # the Parquet encoder releases the GIL: chunk i is written in a thread while chunk i+1 is computed
    # (at most one write pending, so at most two chunks' rows are in memory)
    pool = ThreadPoolExecutor(max_workers=1)
    pending: Future | None = None
    try:
        for i, chunk in enumerate(acc.chunks(activity, chunk_rows)):
            table = acc.arrow(chunk)
            path = out / f"part-{i:05d}.parquet"
            written.append(path)
            if pending is not None:
                pending.result()
            # dictionary pages in the file; store_schema=False so readers see plain strings, not categoricals
            pending = pool.submit(pq.write_table, table, path, compression="zstd", store_schema=False)
            rows += table.num_rows
            n_act += len(chunk)
            del table
        if pending is not None:
            pending.result()
    except BaseException:
        if pending is not None:
            pending.exception()  # wait for it before removing its file
        for p in written:
            p.unlink(missing_ok=True)
        if not any(out.iterdir()):
            out.rmdir()
        raise
    finally:
        pool.shutdown(wait=True)
    return {
        "rows": rows,
        "activity_rows": n_act,
        "parts": len(written),
        "path": str(out),
        "factor_version": acc.version,
        "gaps": acc.gaps(),
    }


def factor_gaps(
    activity: pd.DataFrame | str | os.PathLike,
    factors: FactorLibrary | None = None,
    *,
    electricity: str = "location",
    source: str = "<DataFrame>",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> pd.DataFrame:
    """Every (activity type, pollutant) an activity should have but no factor serves.

    A fuel (an activity type with a calorific value, a net/gross ratio or a per-energy CO2 factor) should
    have all of :data:`COMBUSTION_POLLUTANTS`; another activity type the pollutants the library has any
    factor for.  A gap is reported, never turned into a silent zero.

    Returns
    -------
    pandas.DataFrame
        ``activity_type, pollutant, sector, region, rows, reason`` (``rows``: activity rows affected),
        sorted by activity type, pollutant, sector, region.
    """
    acc = _Accountant(factors, gwp=None, electricity=electricity, pollutants=None, source=source)
    for chunk in acc.chunks(activity, chunk_rows):
        acc.resolve(chunk)
    return acc.gaps()


# ====================================================================== the engine
def row_emission(amount, mult, *, years=None, scaled=None, where):
    """``E [t] = amount · mult [· years] [· property]`` per inventory row — the one formula of the row arithmetic,
    for numpy arrays (the in-process expansion, ``where=np.where``) and for Ibis columns (the engine's expression,
    :mod:`coreduce.account.expression`, ``where`` = ``cond.ifelse``).

    ``mult`` is the key's ``EF · k · (1 − η)`` (Σ GWP · EF · k · (1 − η) for CO2e; a sink's ``−rate · k``);
    ``years``: ``(per_year, year_fraction)`` for sinks (area × rate × years); ``scaled``: ``{property: (applies,
    value)}`` for factors per % of a fuel property (AP-42 ash, the S mass balance).  The products are taken in this
    order, with a factor of exactly 1.0 where a term does not apply, so every engine gives the same doubles.
    """
    e = amount * mult
    if years is not None:
        per_year, fraction = years
        e = e * where(per_year, fraction, 1.0)
    for applies, value in (scaled or {}).values():
        e = e * where(applies, value, 1.0)
    return e


@dataclass
class _Expanded:
    """A chunk joined to its keys: the activity row and key row of every output row, and the amounts [t]."""

    r_act: np.ndarray
    r_res: np.ndarray
    amount: np.ndarray
    res: pd.DataFrame


def _dict_take(values: pd.Series, idx: np.ndarray) -> pa.Array:
    """``values[idx]`` as a dictionary-encoded Arrow array (each distinct string stored once)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    dictionary = pa.array(np.asarray(uniques, dtype=object), pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype("int32", copy=False)[idx]), dictionary)


@dataclass
class _Accountant:
    """State of one accounting run: the library, options, resolution cache and gaps."""

    factors: FactorLibrary | None
    gwp: str | None
    electricity: str
    pollutants: list[str] | None
    source: str
    lib: FactorLibrary = field(init=False)
    version: str = field(init=False)
    validated: bool = field(init=False, default=False)  # input chunks are already canonical activity rows
    last_rows: int = field(init=False, default=0)
    _gaps: list[pd.DataFrame] = field(init=False, default_factory=list)
    _gwp: dict[str, float] = field(init=False, default_factory=dict)
    _gwp_source: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.lib = self.factors if self.factors is not None else FactorLibrary.default()
        self.version = self.lib.version
        if self.gwp is not None:
            self._gwp = self.lib.gwp_values(self.gwp)
            g = self.lib.gwp
            self._gwp_source = "; ".join(g[(g["gwp_set"] == self.gwp) & g["gas"].isin(GHGS)]["source"].unique())
        self._ef = _prepare_factors(self.lib)
        self._mult_cache: dict[tuple, tuple[float | None, str]] = {}

    # ------------------------------------------------------------------ input
    def chunks(self, activity: pd.DataFrame | str | os.PathLike, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """Validated activity chunks with ``_line`` (input line numbers), region codes and row classes."""
        hashes: list[np.ndarray] = []
        lines: list[np.ndarray] = []
        for raw, offset in _raw_chunks(activity, chunk_rows):
            if self.validated:
                act = raw.reset_index(drop=True).copy()
            else:
                act = schema.validate(raw, "activity", source=self.source, row_offset=offset)
            act["_line"] = np.arange(len(act), dtype="int64") + offset
            for p in _PROPS:  # fuel properties [wt %], range-checked by validate; NaN where not given
                act[p] = act[p].to_numpy("float64", na_value=np.nan)
            if not self.validated:  # a validated frame was checked whole: its keys are unique
                hashes.append(pd.util.hash_pandas_object(act[schema.spec("activity").keys], index=False).to_numpy())
                lines.append(act["_line"].to_numpy())
            yield self._prepare(act)
        if len(hashes) > 1:  # validation saw one chunk at a time: one row per key across chunks too
            self._check_duplicates(np.concatenate(hashes), np.concatenate(lines))

    def _check_duplicates(self, h: np.ndarray, lines: np.ndarray) -> None:
        order = np.argsort(h, kind="stable")
        hs = h[order]
        dup = np.flatnonzero(hs[1:] == hs[:-1])
        if dup.size:
            later = lines[order[dup + 1]]
            i = int(np.argmin(later))
            first, row = int(lines[order[dup[i]]]), int(later[i])
            keys = ", ".join(schema.spec("activity").keys)
            raise InputError(self.source, f"one row per key ({keys}); same key as row {first}", row=row,
                             column=schema.spec("activity").keys[0], table="activity")  # fmt: skip

    def _prepare(self, act: pd.DataFrame) -> pd.DataFrame:
        lib = self.lib
        if "energy_basis" not in act.columns:
            act["energy_basis"] = "net"
        basis = act["energy_basis"].fillna("net").astype(str).str.lower()
        bad = ~basis.isin(ENERGY_BASES)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(self.source, "net or gross (energy basis of the amount)", row=int(act["_line"].iloc[i]),
                             column="energy_basis", value=act["energy_basis"].iloc[i], table="activity")  # fmt: skip
        act["energy_basis"] = basis
        # region codes: one lookup per distinct spelling
        regions = pd.unique(act["region"].astype(object))
        codes = {}
        for r in regions:
            try:
                codes[r] = lib.resolve_region(r)
            except FactorError as exc:
                i = int(np.flatnonzero((act["region"] == r).to_numpy())[0])
                raise InputError(self.source, f"a known region ({exc})", row=int(act["_line"].iloc[i]),
                                 column="region", value=r, table="activity") from None  # fmt: skip
        act["region"] = act["region"].astype(object).map(codes)
        act["control"] = act["control"].fillna("").astype(str)
        act["year"] = act["period_start"].dt.year.astype("int64")
        units = pd.unique(act["unit"])
        dims = act["unit"].map({u: dimension(u) for u in units})
        lands = set(lib.sink_rates["land_type"])
        is_sink = (dims == "area") & act["activity_type"].isin(lands)
        is_s2 = act["activity_type"].isin(list(SCOPE2_TYPES)) & ~is_sink
        act["_class"] = np.where(is_sink, "sink", np.where(is_s2, "scope2", "direct"))
        for p in _PROPS:
            act[f"_has_{p}"] = ~np.isnan(act[p].to_numpy("float64"))
        if is_sink.any():
            years = np.ones(len(act))
            years[is_sink.to_numpy()] = year_fraction(act.loc[is_sink, "period_start"], act.loc[is_sink, "period_end"])
            act["_years"] = years
        else:
            act["_years"] = 1.0
        return act

    # ------------------------------------------------------------------ keys
    def _keys(self, act: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """Distinct keys of a chunk and each row's key id (factorised columns, no per-row Python)."""
        code = np.zeros(len(act), dtype="int64")
        for col in _KEY:
            c, uniq = pd.factorize(act[col], use_na_sentinel=False)
            if int(code.max(initial=0)) * (len(uniq) + 1) >= 2**62:  # keep the mixed-radix code in int64
                code = pd.factorize(code)[0].astype("int64")
            code = code * (len(uniq) + 1) + c
        _, first, kid = np.unique(code, return_index=True, return_inverse=True)
        keys = act.iloc[first][[*_KEY, "_line"]].reset_index(drop=True)
        keys["_kid"] = np.arange(len(keys), dtype="int64")
        keys["rows"] = np.bincount(kid.ravel(), minlength=len(keys))
        # the first occurrence of each key is its lowest input line (rows keep their order)
        return keys, kid.ravel().astype("int64")

    def resolve(self, act: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """Resolve the chunk's distinct keys to ``_kid, pollutant, scope, mult, ...`` rows; record gaps."""
        keys, kid = self._keys(act)
        return self.resolve_keys(keys), kid

    def resolve_keys(self, keys: pd.DataFrame) -> pd.DataFrame:
        """Distinct keys (:data:`_KEY` columns with region codes, ``_line``, ``_kid``, ``rows``) to their
        ``_kid, pollutant, scope, mult, per_year, scale, method, ...`` rows (the per-key factor table); record gaps.

        Shared by the in-process engine (:meth:`expand`) and the Ibis form (:mod:`coreduce.account.expression`):
        the resolution is the same Python, whichever engine then joins the activity rows to it."""
        parts = []
        direct = keys[keys["_class"] == "direct"]
        if len(direct):
            res, gaps = self._resolve_direct(direct)
            parts.append(res)
            if len(gaps):
                self._gaps.append(gaps)
        s2 = keys[keys["_class"] == "scope2"]
        if len(s2):
            parts.append(self._resolve_scope2(s2))
        sk = keys[keys["_class"] == "sink"]
        if len(sk):
            parts.append(self._resolve_sinks(sk))
        res = pd.concat(parts, ignore_index=True)
        if self.gwp is not None:
            res = pd.concat([res, self._co2e(res)], ignore_index=True)
        if self.pollutants is not None:
            res = res[res["pollutant"].isin(self.pollutants)]
        return res.reset_index(drop=True)

    # ------------------------------------------------------------------ direct emissions
    def _resolve_direct(self, keys: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        lib, ef, src = self.lib, self._ef, self.source
        keys = keys.assign(jurisdiction=keys["region"].map(lib.jurisdiction))
        known = set(ef["activity_type"])
        unknown = keys[~keys["activity_type"].isin(known)]
        if len(unknown):
            r = unknown.sort_values("_line").iloc[0]
            every = sorted(known | set(SCOPE2_TYPES) | set(lib.sink_rates["land_type"]))
            raise FactorError(
                f"{src}, row {r['_line']}, column 'activity_type': no emission factor for "
                f"{r['activity_type']!r} (sector {r['sector']!r}, region {r['region']!r}, year "
                f"{r['year']}); known activity types: {', '.join(every)}"
            )
        # stage 0: every factor of the activity type
        m = keys.merge(ef, on="activity_type", how="inner")
        # stage 1: sets that apply to the region's jurisdiction, with their order
        ranks = _rank_table(lib, pd.unique(keys["jurisdiction"]))
        m = m.merge(ranks, on=["jurisdiction", "factor_set"], how="left")
        m["_scale"] = m["_scale"].fillna("")
        has_prop = np.zeros(len(m), dtype=bool)
        for p in _PROPS:
            has_prop |= (m["_scale"] == p).to_numpy() & m[f"_has_{p}"].to_numpy(dtype=bool)
        s1 = m["_rank"].notna() & ((m["_scale"] == "") | has_prop)
        m["_needs"] = np.where(m["_rank"].notna() & (m["_scale"] != "") & ~has_prop, m["_scale"], "")
        # stage 2: region / sector / year valid
        chain = _chain_table(lib, pd.unique(keys["region"]))
        m = m.merge(chain, on=["region", "region_f"], how="left")
        m["_spec_r"] = m["_spec_r"].fillna(-1)
        sector_ok = (
            (m["sector_f"] == m["sector"])
            | (m["sector_f"] == "*")
            | (
                (m["sector"] == "heat") & (m["sector_f"] == "power")  # IPCC/EMEP: public electricity and heat
            )
        )
        s2 = s1 & (m["_spec_r"] >= 0) & sector_ok & (m["year_from"] <= m["year"]) & (m["year_to"] >= m["year"])
        # stage 3: the activity unit reaches the factor's denominator (one multiplier per distinct combination)
        m["_set_basis"] = m["factor_set"].map(_set_basis_map(lib, m["factor_set"]))
        combo = ["activity_type", "unit", "unit_f", "_set_basis", "energy_basis", "jurisdiction"]
        mult = m.loc[s2, combo].drop_duplicates()
        ks, why = [], []
        for row in mult.itertuples(index=False):
            k, reason = self._multiplier(*row)
            ks.append(np.nan if k is None else k)
            why.append(reason)
        mult = mult.assign(_k=ks, _why=why)
        m = m.merge(mult, on=combo, how="left")
        s3 = s2 & m["_k"].notna()
        m["_stage"] = np.select([s3, s2, s1], [3, 2, 1], 0)
        best = m[s3].copy()
        best["_spec_s"] = (best["sector_f"] == best["sector"]).astype(int)
        best = best.sort_values(
            ["_kid", "pollutant", "_rank", "_spec_r", "_spec_s", "year_from"],
            ascending=[True, True, True, False, False, False],
            kind="stable",
        ).drop_duplicates(["_kid", "pollutant"], keep="first")
        self._check_co2(keys, m, best)
        self._check_empty(keys, best)
        gaps = self._direct_gaps(keys, m, best)
        # removal efficiencies of the control lists (one per distinct control × pollutant)
        cp = best[["control", "pollutant"]].drop_duplicates().reset_index(drop=True)
        eta, unknown_ctrl = apply_controls(cp["control"], cp["pollutant"], lib.removal_efficiencies)
        if unknown_ctrl:
            bad = keys[keys["control"].str.split("+").apply(lambda xs: unknown_ctrl[0] in [x.strip() for x in xs])]
            line = int(bad["_line"].min())
            raise FactorError(
                f"{src}, row {line}, column 'control': unknown control {unknown_ctrl[0]!r}; known: "
                f"{', '.join(sorted(set(lib.removal_efficiencies['control'])))}"
            )
        best = best.merge(cp.assign(_eta=eta), on=["control", "pollutant"], how="left")
        value = best["value"].to_numpy("float64")
        res = pd.DataFrame(
            {
                "_kid": best["_kid"].to_numpy(),
                "scope": "1",
                "pollutant": best["pollutant"].to_numpy(),
                "mult": value * best["_k"].to_numpy() * (1.0 - best["_eta"].to_numpy()),
                "k": best["_k"].to_numpy("float64"),
                "per_year": False,
                "scale": best["_scale"].to_numpy(),
                "method": METHOD_EF,
                "factor_source": best["source"].to_numpy(),
                "factor_set": best["factor_set"].to_numpy(),
                "factor_value": value,
                "factor_unit": best["unit_f"].to_numpy(),
                "removal_efficiency": best["_eta"].to_numpy("float64"),
            }
        )
        return res, gaps

    def _multiplier(
        self, activity_type: str, act_unit: str, factor_unit: str, set_basis: str, act_basis: str, jurisdiction: str
    ) -> tuple[float | None, str]:
        """(k, "") with ``E [t] = amount [act_unit] · factor [factor_unit] · k``, or (None, why not)."""
        key = (activity_type, act_unit, factor_unit, set_basis, act_basis, jurisdiction)
        if key not in self._mult_cache:
            try:
                self._mult_cache[key] = _multiplier(self.lib, *key)
            except UnitError as exc:
                self._mult_cache[key] = (None, str(exc))
        return self._mult_cache[key]

    def _check_empty(self, keys: pd.DataFrame, best: pd.DataFrame) -> None:
        """An activity row that no factor serves at all is an error (naming its row and the factor units)."""
        src = self.source
        served = set(best["_kid"])
        empty = keys[~keys["_kid"].isin(served)].sort_values("_line")
        if len(empty):
            r = empty.iloc[0]
            cand = self._ef[self._ef["activity_type"] == r["activity_type"]]
            dens = sorted({split_rate(u)[1] for u in cand["unit_f"]})
            has_cv = _has_calorific_value(self.lib, r["activity_type"])
            raise FactorError(
                f"{src}, row {r['_line']}, column 'unit': got {r['unit']!r}; the factors for "
                f"{r['activity_type']!r} are per {', '.join(dens)}"
                + ("" if has_cv else f" and there is no net calorific value for {r['activity_type']!r} in the "
                   "library's ncv table")
                + " (or none is valid for this sector, region and year)"
            )  # fmt: skip

    def _check_co2(self, keys: pd.DataFrame, m: pd.DataFrame, best: pd.DataFrame) -> None:
        """CO2 must never vanish because the activity's unit cannot reach the CO2 factors' denominator."""
        src = self.source
        co2_known = m.loc[(m["pollutant"] == "CO2") & (m["_stage"] >= 2), "_kid"]
        co2_served = best.loc[best["pollutant"] == "CO2", "_kid"]
        lost = keys[keys["_kid"].isin(set(co2_known) - set(co2_served))].sort_values("_line")
        if len(lost) and not _has_calorific_value(self.lib, lost.iloc[0]["activity_type"]):
            self._check_empty(lost.iloc[:1], best.iloc[0:0])  # "... and there is no net calorific value ..."
        if len(lost):  # CO2 must never silently vanish because of a unit the factors cannot reach
            r = lost.iloc[0]
            d = dimension(r["unit"])
            reasons = m.loc[(m["_kid"] == r["_kid"]) & (m["pollutant"] == "CO2") & (m["_stage"] == 2), "_why"]
            why = f" ({reasons.iloc[0]})" if len(reasons) and reasons.iloc[0] else ""
            raise FactorError(
                f"{src}, row {r['_line']}, column 'unit': got {r['unit']!r}; the CO2 factors for "
                f"{r['activity_type']!r} cannot be applied to a {d}{why} (add a calorific value per {d} for it, "
                "e.g. a factor file with columns activity_type,value,unit,source and unit MJ/m^3, or report the "
                "activity as energy or mass)"
            )

    def _direct_gaps(self, keys: pd.DataFrame, m: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
        """Expected (key, pollutant) pairs with no chosen factor, each with the stage where it failed."""
        lib, ef = self.lib, self._ef
        fuels = _fuel_types(lib, ef)
        known = ef.groupby("activity_type")["pollutant"].agg(lambda s: tuple(sorted(set(s))))
        exp_rows = []
        for at in pd.unique(keys["activity_type"]):
            pols = COMBUSTION_POLLUTANTS if at in fuels else known.get(at, ())
            exp_rows += [(at, p) for p in pols]
        expected = keys.merge(pd.DataFrame(exp_rows, columns=["activity_type", "pollutant"]), on="activity_type")
        if self.pollutants is not None:
            expected = expected[expected["pollutant"].isin(self.pollutants)]
        have = best[["_kid", "pollutant"]].assign(_have=True)
        miss = expected.merge(have, on=["_kid", "pollutant"], how="left")
        miss = miss[miss["_have"].isna()]
        if miss.empty:
            return pd.DataFrame(columns=GAP_COLUMNS)
        stage = m.groupby(["_kid", "pollutant"])["_stage"].max().rename("stage").reset_index()
        why = m[m["_stage"] == 2].groupby(["_kid", "pollutant"])["_why"].first().rename("why").reset_index()
        sets = m.groupby(["_kid", "pollutant"])["factor_set"].agg(lambda s: ", ".join(sorted(set(s))))
        sets = sets.rename("sets").reset_index()
        miss = miss.merge(stage, on=["_kid", "pollutant"], how="left").merge(why, on=["_kid", "pollutant"], how="left")
        miss = miss.merge(sets, on=["_kid", "pollutant"], how="left")
        ok_else = (m["_spec_r"] >= 0) & (m["year_from"] <= m["year"]) & (m["year_to"] >= m["year"])
        ok_else &= (m["sector_f"] == m["sector"]) | (m["sector_f"] == "*")
        needs = m[(m["_needs"] != "") & ok_else]
        needs = needs.groupby(["_kid", "pollutant"]).apply(
            lambda g: "; ".join(
                sorted(
                    {
                        f"set {a} applies to rows that give {b}"
                        for a, b in zip(g["factor_set"], g["_needs"], strict=True)
                    }
                )
            ),
            include_groups=False,
        )
        needs = (
            needs.rename("needs").reset_index() if len(needs) else pd.DataFrame(columns=["_kid", "pollutant", "needs"])
        )
        miss = miss.merge(needs, on=["_kid", "pollutant"], how="left")
        reasons = []
        for r in miss.itertuples(index=False):  # one per (key, pollutant) gap: a handful
            if pd.isna(r.stage):
                reasons.append(f"no {r.pollutant} factor for {r.activity_type} in the library")
            elif r.stage == 0:
                reasons.append(
                    f"{r.pollutant} factors only in sets not used for region {r.region} "
                    f"(jurisdiction {lib.jurisdiction(r.region)}): {r.sets}"
                )
            elif r.stage == 1:
                reasons.append(f"no {r.pollutant} factor valid for sector {r.sector}, region {r.region}, year {r.year}")
            else:
                reasons.append(f"{r.pollutant} factor cannot be applied to {r.unit}: {r.why}")
        extra = miss["needs"].fillna("").map(lambda t: f" ({t})" if t else "")
        miss = miss.assign(reason=[r + e for r, e in zip(reasons, extra, strict=True)])
        return miss.groupby(["activity_type", "pollutant", "sector", "region", "reason"], as_index=False)["rows"].sum()[
            GAP_COLUMNS
        ]

    # ------------------------------------------------------------------ scope 2
    def _resolve_scope2(self, keys: pd.DataFrame) -> pd.DataFrame:
        lib, src = self.lib, self.source
        explicit = self.electricity not in ("location", "market", "fossil", "carbon_market")
        rows = []
        for r in _records(keys):  # one per distinct key (region × year × unit), not per row
            kind = SCOPE2_TYPES[r.activity_type]
            try:
                if kind == "electricity" and explicit:
                    gf = lib.resolve_grid_factor(r.region, r.year, factor_id=self.electricity)
                else:
                    purpose = "heat" if kind == "heat" else self.electricity
                    gf = lib.resolve_grid_factor(r.region, r.year, purpose)
            except FactorError as exc:
                raise FactorError(f"{src}, row {r._line}, column 'region': {exc}") from None
            num, den = split_rate(gf.unit)
            if dimension(r.unit) != "energy":
                raise InputError(
                    src,
                    f"an energy unit (MWh, kWh, GJ, TJ) for {r.activity_type}: the {kind} factor "
                    f"{gf.factor_id} is per {den}",
                    row=int(r._line),
                    column="unit",
                    value=r.unit,
                    table="activity",
                )
            k = conversion_factor(r.unit, den) * conversion_factor(num, "t")
            rows.append(_s2_row(r._kid, gf, k))
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ sinks
    def _resolve_sinks(self, keys: pd.DataFrame) -> pd.DataFrame:
        lib, src = self.lib, self.source
        sr = lib.sink_rates.assign(_code=lib.sink_rates["region"].map(lib._code_or_raw))
        rows = []
        for r in _records(keys):  # per distinct land type × region × unit
            cand = sr[sr["land_type"] == r.activity_type]
            order = [c for _, c in lib.region_chain(r.region)] + [ANY_REGION]
            pick = None
            for c in order:
                hit = cand[cand["_code"] == c]
                if len(hit):
                    pick = hit.iloc[0]
                    break
            if pick is None:
                have = ", ".join(sorted(set(cand["region"].astype(str))))
                raise FactorError(
                    f"{src}, row {r._line}, column 'region': no sink rate for land type {r.activity_type!r} in "
                    f"region {r.region!r} or its grid/country or '*' (sink_rates has it only for: {have}); add a "
                    "rate for this region (land_type,region,value,unit,source) or use region '*'"
                )
            num, den = split_rate(pick["unit"])
            try:
                ca = conversion_factor(r.unit, den)
            except UnitError as exc:
                raise FactorError(f"{src}, row {r._line}, column 'unit': got {r.unit!r}; {exc}") from None
            mult = -(ca * float(pick["value"]) * conversion_factor(num, "t"))
            rows.append({"_kid": r._kid, "scope": "sink", "pollutant": "CO2", "mult": mult, "per_year": True,
                         "k": -(ca * conversion_factor(num, "t")),
                         "scale": "", "method": "area*rate*years", "factor_source": pick["source"],
                         "factor_set": "sink_rates", "factor_value": float(pick["value"]), "factor_unit": pick["unit"],
                         "removal_efficiency": 0.0})  # fmt: skip
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ CO2e
    def _co2e(self, res: pd.DataFrame) -> pd.DataFrame:
        ghg = res[res["pollutant"].isin(GHGS)]
        if ghg.empty:
            return res.iloc[0:0]
        if (ghg["scale"] != "").any():
            raise FactorError("a greenhouse-gas factor that scales with a fuel property is not supported for CO2e")
        w = ghg["pollutant"].map(self._gwp).to_numpy("float64")
        c = ghg.assign(mult=ghg["mult"].to_numpy() * w).groupby(["_kid", "scope", "per_year"], as_index=False)["mult"]
        c = c.sum()
        return c.assign(
            scale="",
            k=np.nan,
            pollutant="CO2e",
            method=f"GWP-100 {self.gwp}",
            factor_source=self._gwp_source,
            factor_set=self.gwp,
            factor_value=np.nan,
            factor_unit="",
            removal_efficiency=0.0,
        )

    # ------------------------------------------------------------------ the join
    def expand(self, act: pd.DataFrame) -> _Expanded:
        """The chunk joined to its resolved keys: one output row per (activity row, pollutant of its key).

        A join on the integer key id done with index arithmetic: rows of a key are contiguous in the sorted
        key table, so output row ``j`` of activity row ``i`` takes key row ``start[kid[i]] + j``.
        """
        res, kid = self.resolve(act)
        self._check_overflow(act, res, kid)
        res = res.sort_values("_kid", kind="stable").reset_index(drop=True)
        nk = int(kid.max()) + 1 if len(kid) else 0
        counts = np.bincount(res["_kid"].to_numpy("int64"), minlength=nk)
        starts = np.cumsum(counts) - counts
        per_row = counts[kid]
        total = int(per_row.sum())
        r_act = np.repeat(np.arange(len(act), dtype="int64"), per_row)
        first_out = np.cumsum(per_row) - per_row
        r_res = starts[kid][r_act] + (np.arange(total, dtype="int64") - first_out[r_act])
        per_year = res["per_year"].to_numpy(bool)[r_res]
        scale = res["scale"].to_numpy(object)
        scaled = {p: ((scale == p)[r_res], act[p].to_numpy("float64")[r_act]) for p in _PROPS}
        amount = row_emission(
            act["amount"].to_numpy("float64")[r_act],
            res["mult"].to_numpy("float64")[r_res],
            years=(per_year, act["_years"].to_numpy("float64")[r_act]) if per_year.any() else None,
            scaled={p: v for p, v in scaled.items() if v[0].any()},
            where=np.where,
        )
        self.last_rows = total
        return _Expanded(r_act=r_act, r_res=r_res, amount=amount, res=res)

    def arrow(self, act: pd.DataFrame, e: _Expanded | None = None) -> pa.Table:
        """One chunk's inventory rows as an Arrow table (strings dictionary-built, no per-row Python)."""
        e = self.expand(act) if e is None else e
        cols: dict[str, pa.Array] = {}
        for c in ("entity", "sector", "region"):
            cols[c] = _dict_take(act[c], e.r_act)
        for c in ("period_start", "period_end"):
            ns = act[c].to_numpy("datetime64[ns]").view("int64")[e.r_act]
            cols[c] = pa.array(ns, pa.int64()).cast(pa.timestamp("ns", tz="UTC"))
        cols["activity_type"] = _dict_take(act["activity_type"], e.r_act)
        for c in ("scope", "pollutant"):
            cols[c] = _dict_take(e.res[c], e.r_res)
        cols["amount"] = pa.array(e.amount, pa.float64())
        n = len(e.amount)
        cols["unit"] = pa.DictionaryArray.from_arrays(np.zeros(n, "int32"), pa.array(["t"]))
        for c in ("method", "factor_source"):
            cols[c] = _dict_take(e.res[c], e.r_res)
        cols["factor_version"] = pa.DictionaryArray.from_arrays(np.zeros(n, "int32"), pa.array([self.version]))
        cols["factor_set"] = _dict_take(e.res["factor_set"], e.r_res)
        cols["factor_value"] = pa.array(e.res["factor_value"].to_numpy("float64")[e.r_res], pa.float64())
        cols["factor_unit"] = _dict_take(e.res["factor_unit"], e.r_res)
        cols["removal_efficiency"] = pa.array(e.res["removal_efficiency"].to_numpy("float64")[e.r_res], pa.float64())
        return pa.table(cols)

    def _check_overflow(self, act: pd.DataFrame, res: pd.DataFrame, kid: np.ndarray) -> None:
        """An amount whose emission overflows float64 is an input error at its own row and column."""
        if res.empty:
            return
        big = res.assign(_a=res["mult"].abs()).groupby("_kid")["_a"].max()
        per_key = np.zeros(int(kid.max()) + 1)
        per_key[big.index.to_numpy()] = big.to_numpy()
        props = np.nan_to_num(np.column_stack([act[p].to_numpy("float64") for p in _PROPS]), nan=1.0)
        with np.errstate(over="ignore", invalid="ignore"):
            e = act["amount"].to_numpy("float64") * per_key[kid] * act["_years"].to_numpy("float64")
            e = e * np.maximum(props.max(axis=1), 1.0)
        bad = ~np.isfinite(e)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                self.source,
                f"an amount whose emissions fit in a float64 in t (amount × factor overflows for "
                f"{act['activity_type'].iloc[i]} in {act['unit'].iloc[i]})",
                row=int(act["_line"].iloc[i]),
                column="amount",
                value=float(act["amount"].iloc[i]),
                table="activity",
            )

    def gaps(self) -> GapFrame:
        if not self._gaps:
            return GapFrame({c: pd.Series(dtype="int64" if c == "rows" else "object") for c in GAP_COLUMNS})
        g = pd.concat(self._gaps, ignore_index=True)
        g = g.groupby(["activity_type", "pollutant", "sector", "region", "reason"], as_index=False)["rows"].sum()
        g = g[GAP_COLUMNS].sort_values(["activity_type", "pollutant", "sector", "region"]).reset_index(drop=True)
        return GapFrame(g.astype({"rows": "int64"}))


# ====================================================================== helpers
def _records(keys: pd.DataFrame) -> list:
    """Rows of a small key frame as attribute records (``_line``, ``_kid`` kept; itertuples renames them)."""
    from types import SimpleNamespace

    return [SimpleNamespace(**r) for r in keys.to_dict("records")]


def _raw_chunks(activity: pd.DataFrame | str | os.PathLike, chunk_rows: int) -> Iterator[tuple[pd.DataFrame, int]]:
    """(raw frame, line number of its first row) per chunk of a DataFrame, CSV or Parquet file."""
    chunk_rows = max(int(chunk_rows), 1)
    if isinstance(activity, pd.DataFrame):
        if len(activity) == 0:
            yield activity, 2
            return
        for start in range(0, len(activity), chunk_rows):
            yield activity.iloc[start : start + chunk_rows], start + 2
        return
    path = Path(activity)
    if not path.is_file():
        raise InputError(str(path), "an existing regular activity file (CSV or Parquet)")
    line = 2
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas(), line
            line += batch.num_rows
        return
    import pyarrow.csv as pcsv

    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        header = next(csv.reader(fh), [])
    dups = sorted({c for c in header if header.count(c) > 1})
    if dups:
        raise InputError(str(path), "each column name once in the header", row=1, column=dups[0], value=dups[0])
    opts = pcsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()))
    reader = pcsv.open_csv(path, convert_options=opts, read_options=pcsv.ReadOptions(block_size=1 << 24))
    buf: list[pd.DataFrame] = []
    n = 0
    for batch in reader:
        buf.append(batch.to_pandas())
        n += batch.num_rows
        while n >= chunk_rows:
            df = pd.concat(buf, ignore_index=True)
            yield df.iloc[:chunk_rows].reset_index(drop=True), line
            line += chunk_rows
            rest = df.iloc[chunk_rows:].reset_index(drop=True)
            buf, n = [rest], len(rest)
    if n:
        yield pd.concat(buf, ignore_index=True), line


def _prepare_factors(lib: FactorLibrary) -> pd.DataFrame:
    """Emission factors with region codes, ``unit_f``/``region_f``/``sector_f`` names for the joins."""
    ef = lib.emission_factors
    regions = {r: lib._code_or_raw(r) for r in pd.unique(ef["region"])}
    return pd.DataFrame(
        {
            "factor_set": ef["factor_set"].astype(object).to_numpy(),
            "activity_type": ef["activity_type"].astype(object).to_numpy(),
            "pollutant": ef["pollutant"].astype(object).to_numpy(),
            "value": ef["value"].to_numpy("float64"),
            "unit_f": ef["unit"].astype(object).to_numpy(),
            "region_f": ef["region"].astype(object).map(regions).to_numpy(),
            "sector_f": ef["sector"].astype(object).to_numpy(),
            "year_from": ef["year_from"].to_numpy("int64"),
            "year_to": ef["year_to"].to_numpy("int64"),
            "source": ef["source"].astype(object).to_numpy(),
        }
    )


def _rank_table(lib: FactorLibrary, jurisdictions) -> pd.DataFrame:
    rows = []
    for j in jurisdictions:
        p = lib.precedence(jurisdiction=j)
        rows += [(j, s, i, sc) for i, (s, sc) in enumerate(zip(p["factor_set"], p["scales_with"], strict=True))]
    out = pd.DataFrame(rows, columns=["jurisdiction", "factor_set", "_rank", "_scale"])
    unknown = set(out["_scale"]) - {"", *_PROPS}
    if unknown:
        raise FactorError(
            f"factor_sets.csv: scales_with {sorted(unknown)[0]!r} is not a property the engine knows "
            f"({', '.join(_PROPS)})"
        )
    return out


def _chain_table(lib: FactorLibrary, regions) -> pd.DataFrame:
    """``region, region_f, _spec_r``: factor regions that serve an activity region, most specific highest."""
    rows = []
    spec = {"region": 3, "grid": 2, "national": 1}
    for r in regions:
        rows.append((r, ANY_REGION, 0))
        for lvl, c in lib.region_chain(r):
            rows.append((r, c, spec[lvl]))
        if r != ANY_REGION and not lib.region_chain(r):
            rows.append((r, r, 3))
    return pd.DataFrame(rows, columns=["region", "region_f", "_spec_r"]).drop_duplicates(["region", "region_f"])


def _set_basis_map(lib: FactorLibrary, sets: pd.Series) -> dict[str, str]:
    return {s: lib.set_basis(s) for s in pd.unique(sets)}


def _fuel_types(lib: FactorLibrary, ef: pd.DataFrame) -> set[str]:
    """Activity types that are burnt fuels: a calorific value, a net/gross ratio or a per-energy CO2 factor."""
    tables = (lib.ncv, lib.energy_basis, lib.volumetric_cv, lib.jurisdiction_ncv, lib.gcv)
    fuels = set().union(*(set(t["activity_type"]) for t in tables))
    co2 = ef[ef["pollutant"] == "CO2"]
    per_energy = [dimension(split_rate(u)[1]) == "energy" for u in co2["unit_f"]]
    return fuels | set(co2.loc[per_energy, "activity_type"])


def _has_calorific_value(lib: FactorLibrary, activity_type: str) -> bool:
    tables = (lib.ncv, lib.volumetric_cv, lib.jurisdiction_ncv, lib.gcv)
    return any(activity_type in set(t["activity_type"]) for t in tables)


def _net_to_gross(lib: FactorLibrary, activity_type: str) -> float | None:
    eb = lib.energy_basis
    v = eb.loc[eb["activity_type"] == activity_type, "net_to_gross"]
    return float(v.iloc[0]) if len(v) else None


def _basis_factor(lib: FactorLibrary, activity_type: str, have: str, want: str) -> float:
    """Multiplier turning energy on basis ``have`` into energy on basis ``want`` (net = gross × NCV/GCV)."""
    if have == want or want not in ENERGY_BASES or have not in ENERGY_BASES:
        return 1.0
    r = _net_to_gross(lib, activity_type)
    if r is None:
        raise UnitError(
            f"the amount is on a {have} basis and the factor set on a {want} basis, and energy_basis.csv has no "
            f"net_to_gross ratio for {activity_type!r}"
        )
    return r if want == "net" else 1.0 / r


def _calorific_value(lib: FactorLibrary, activity_type: str, per: str, jurisdiction: str) -> tuple[float, str, str]:
    """(value, unit, basis) of the fuel's calorific value per ``mass`` or ``volume``.

    Order: the user's own calorific values (``FactorLibrary.from_csv`` of an NCV file); the region's jurisdiction's
    values (``volumetric_cv.csv`` with its basis, then ``jurisdiction_ncv.csv``, net — e.g. the GB/T 32151 defaults
    in China —, then ``gcv.csv``, gross — e.g. 40 CFR 98 Table C-1 in the US); the bundled IPCC net calorific values
    (``ncv.csv``); then values declared for every jurisdiction (``*``).
    """

    def per_dim(unit: object) -> bool:
        den = str(unit).split("/", 1)[1].strip().strip("()") if "/" in str(unit) else ""
        return bool(den) and dimension(den) == per

    def basis_of(row: pd.Series, default: str) -> str:
        b = row.get("basis")
        return str(b) if isinstance(b, str) and b in ENERGY_BASES else default

    ncv = lib.ncv[lib.ncv["activity_type"] == activity_type]
    ncv = ncv[[per_dim(u) for u in ncv["unit"]]]
    user = ncv[ncv["origin"] == "user"] if "origin" in ncv.columns else ncv.iloc[0:0]
    bundled = ncv.drop(user.index)
    if len(user):
        r = user.iloc[0]
        return float(r["value"]), str(r["unit"]), basis_of(r, "net")
    tables = [(lib.volumetric_cv, None), (lib.jurisdiction_ncv, "net"), (lib.gcv, "gross")]
    order = [jurisdiction] if jurisdiction != ANY_REGION else []
    for j in [*order, None, ANY_REGION]:
        if j is None:  # between the jurisdiction's own values and the '*' ones: the bundled IPCC NCVs
            if len(bundled):
                r = bundled.iloc[0]
                return float(r["value"]), str(r["unit"]), basis_of(r, "net")
            continue
        for t, basis in tables:
            hit = t[(t["activity_type"] == activity_type) & (t["jurisdiction"] == j)]
            hit = hit[[per_dim(u) for u in hit["unit"]]]
            if len(hit):
                r = hit.iloc[0]
                return float(r["value"]), str(r["unit"]), basis or basis_of(r, "net")
    raise UnitError(
        f"no calorific value per {per} for {activity_type!r}"
        + (f" (volumetric_cv.csv has none for jurisdiction {jurisdiction})" if per == "volume" else "")
    )


def _multiplier(
    lib: FactorLibrary,
    activity_type: str,
    act_unit: str,
    factor_unit: str,
    set_basis: str,
    act_basis: str,
    jurisdiction: str,
) -> tuple[float | None, str]:
    """k such that ``emission [t] = amount [act_unit] · factor [factor_unit] · k`` (see the module docstring)."""
    num, den = split_rate(factor_unit)
    k_num = conversion_factor(num, "t")
    d_act, d_den = dimension(act_unit), dimension(den)
    if d_act == d_den:
        k = conversion_factor(act_unit, den) * k_num
        if d_act == "energy":
            k *= _basis_factor(lib, activity_type, act_basis, set_basis)
        return k, ""
    if {d_act, d_den} not in ({"energy", "mass"}, {"energy", "volume"}):
        return None, f"a {d_act} cannot be turned into a {d_den}"
    per = d_den if d_act == "energy" else d_act
    try:
        v, u, cv_basis = _calorific_value(lib, activity_type, per, jurisdiction)
    except UnitError as exc:
        return None, str(exc)
    q_act, q_cv, q_den = quantity(act_unit), v * quantity(u), quantity(den)
    if d_den == "energy":  # mass/volume × CV → energy on the CV's basis → the set's basis
        k_act = float(((q_act * q_cv) / q_den).to("dimensionless").magnitude)
        return k_act * k_num * _basis_factor(lib, activity_type, cv_basis, set_basis), ""
    # energy / CV → mass or volume: the activity's energy first on the CV's basis
    k_act = float(((q_act / q_cv) / q_den).to("dimensionless").magnitude)
    return k_act * k_num * _basis_factor(lib, activity_type, act_basis, cv_basis), ""


def _s2_row(kid: int, gf: ResolvedGridFactor, k: float) -> dict:
    return {"_kid": kid, "scope": "2", "pollutant": "CO2", "mult": gf.value * k, "k": k, "per_year": False, "scale": "",
            "method": gf.method, "factor_source": gf.source, "factor_set": "grid_factors", "factor_value": gf.value,
            "factor_unit": gf.unit, "removal_efficiency": 0.0}  # fmt: skip


def _assemble(acts: list[pd.DataFrame], exps: list[_Expanded], version: str) -> pd.DataFrame:
    """All chunks as one frame sorted by entity, sector, period_start, activity_type, pollutant (stable).

    The activity rows are ranked once (dense ranks of their sort key, so rows that tie interleave by
    pollutant exactly as a stable multi-column sort would), the output rows are ordered by (activity rank,
    pollutant rank) with one stable integer argsort, and each column is then one ``take`` from the
    activity rows or the small key table (strings as shared Python objects, no per-row string work).
    """
    if not exps or sum(len(e.amount) for e in exps) == 0:
        return _finish_frame(_empty_output())
    act = pd.concat(acts, ignore_index=True) if len(acts) > 1 else acts[0]
    offs_a = np.cumsum([0] + [len(a) for a in acts])
    offs_r = np.cumsum([0] + [len(e.res) for e in exps])
    r_act = np.concatenate([e.r_act + o for e, o in zip(exps, offs_a, strict=False)])
    r_res = np.concatenate([e.r_res + o for e, o in zip(exps, offs_r, strict=False)])
    amount = np.concatenate([e.amount for e in exps])
    res = pd.concat([e.res for e in exps], ignore_index=True) if len(exps) > 1 else exps[0].res
    obj = {c: act[c].to_numpy(object) for c in ("entity", "sector", "region", "activity_type")}
    ns = {c: act[c].to_numpy("datetime64[ns]") for c in ("period_start", "period_end")}
    ranks = [pd.factorize(obj[c], sort=True)[0] for c in ("entity", "sector")]
    ranks.append(pd.factorize(ns["period_start"].view("int64"), sort=True)[0])
    ranks.append(pd.factorize(obj["activity_type"], sort=True)[0])
    order_a = np.lexsort(ranks[::-1])
    stacked = np.column_stack(ranks)[order_a]
    new_group = np.ones(len(order_a), dtype=bool)
    new_group[1:] = (stacked[1:] != stacked[:-1]).any(axis=1)
    dense = np.empty(len(order_a), dtype="int64")
    dense[order_a] = np.cumsum(new_group) - 1
    pol_rank = res["pollutant"].map(_POLLUTANT_RANK).to_numpy("int64")
    order = np.argsort(dense[r_act] * (len(_POLLUTANT_RANK) + 1) + pol_rank[r_res], kind="stable")
    ra, rr = r_act[order], r_res[order]
    n = len(order)
    cols = {
        "entity": obj["entity"][ra],
        "sector": obj["sector"][ra],
        "region": obj["region"][ra],
        "period_start": pd.DatetimeIndex(ns["period_start"][ra]).tz_localize("UTC"),
        "period_end": pd.DatetimeIndex(ns["period_end"][ra]).tz_localize("UTC"),
        "activity_type": obj["activity_type"][ra],
        "scope": res["scope"].to_numpy(object)[rr],
        "pollutant": res["pollutant"].to_numpy(object)[rr],
        "amount": amount[order],
        "unit": np.full(n, "t", dtype=object),
        "method": res["method"].to_numpy(object)[rr],
        "factor_source": res["factor_source"].to_numpy(object)[rr],
        "factor_version": np.full(n, version, dtype=object),
        "factor_set": res["factor_set"].to_numpy(object)[rr],
        "factor_value": res["factor_value"].to_numpy("float64")[rr],
        "factor_unit": res["factor_unit"].to_numpy(object)[rr],
        "removal_efficiency": res["removal_efficiency"].to_numpy("float64")[rr],
    }
    # copy=False: one block per column, no consolidation copy of ~a dozen object columns
    assert list(cols) == INVENTORY_COLUMNS + DETAIL_COLUMNS
    return pd.DataFrame(cols, copy=False)


def _empty_output() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in INVENTORY_COLUMNS + DETAIL_COLUMNS})


def _finish_frame(out: pd.DataFrame) -> pd.DataFrame:
    """Column order and dtypes of the inventory frame (timestamps ns UTC, floats float64)."""
    for c in ("period_start", "period_end"):
        out[c] = pd.to_datetime(out[c], utc=True).astype("datetime64[ns, UTC]")
    for c in ("amount", "factor_value", "removal_efficiency"):
        out[c] = out[c].astype("float64")
    return out[INVENTORY_COLUMNS + DETAIL_COLUMNS]


# kept for callers of the earlier row-wise engine
def grid_factor_for(lib: FactorLibrary, electricity: str, kind: str, region: str, year: int) -> ResolvedGridFactor:
    """The grid factor used for one scope-2 activity (see :meth:`FactorLibrary.resolve_grid_factor`)."""
    if kind == "electricity" and electricity not in ("location", "market", "fossil", "carbon_market"):
        return lib.resolve_grid_factor(region, year, factor_id=electricity)
    return lib.resolve_grid_factor(region, year, "heat" if kind == "heat" else electricity)


def summarise(
    inventory: pd.DataFrame,
    by: list[str] | tuple[str, ...] = ("entity", "sector", "period_start"),
    pollutants: list[str] | None = None,
) -> pd.DataFrame:
    """Sum an inventory over everything not in ``by`` (keeps ``pollutant`` and ``unit``).

    The CLI's ``account`` output is ``summarise(inv)``: ``entity, sector, period_start, pollutant, amount, unit``.
    """
    inv = inventory if pollutants is None else inventory[inventory["pollutant"].isin(pollutants)]
    units = set(inv["unit"])
    if len(units) > 1:
        raise InputError("<inventory>", f"one unit for all amounts (found {sorted(units)})", column="unit")
    keys = [*by, "pollutant"]
    out = inv.groupby(keys, as_index=False, sort=True, dropna=False)["amount"].sum()
    return out.assign(unit=next(iter(units)) if units else "t")
