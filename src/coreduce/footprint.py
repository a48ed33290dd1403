"""The platform's own compute footprint: energy and emissions of a run, and net-of-footprint claims.

A run's energy is measured with CodeCarbon's offline tracker where it works; where it does not (not
installed, fails to start, or ``COREDUCE_FOOTPRINT=fallback``) a documented power model converts the
process's CPU time, resident memory and (if NVML is present) the GPUs' energy counters into energy.
Emissions are energy × a grid factor chosen by the accounting engine's one resolver,
:meth:`coreduce.account.FactorLibrary.resolve_grid_factor` (the user's factor library when given, else the
bundled ``grid_factors.csv``/``regions.csv``): the province's own MEE/NBS factor, else its regional grid's
factor, else the national average — never CodeCarbon's own single national figure.

Environment
-----------
``COREDUCE_FOOTPRINT``
    ``codecarbon`` / ``auto`` (default): one process-wide CodeCarbon ``OfflineEmissionsTracker``, started
    lazily on the first measured run (its ``start()`` probes the hardware, ~2 s) and reused; each run reads
    the tracker's cumulative energy before and after. ``fallback``: the power model only (fast,
    deterministic; tests use it). ``off``: no measurement.
``COREDUCE_PROVINCE``
    Default province for the grid factor (e.g. ``Hebei``); unset means the national average.

Fallback power model (``method="fallback-power-model"``)
--------------------------------------------------------
- CPU: ``E_cpu = t_cpu × P_thread`` with ``t_cpu`` the process CPU time [s] (:func:`time.process_time`,
  all threads of this process) and ``P_thread = 4 W`` per busy hardware thread — CodeCarbon's
  ``DEFAULT_POWER_PER_CORE`` (``codecarbon/core/cpu.py``), the per-thread power it assumes for a CPU
  model missing from its TDP table.
- RAM: ``E_ram = t_wall × m × p_ram`` with ``m`` the process resident set size [GB] at the end of the run
  and ``p_ram = 3 W / 8 GB = 0.375 W/GB`` — CodeCarbon's RAM heuristic before v3
  (``codecarbon/external/ram.py``: "3 watts of power for every 8GB of DDR3 or DDR4 memory", after
  Crucial's memory power note).
- GPU: the NVML total-energy counters of all GPUs (``nvmlDeviceGetTotalEnergyConsumption``, mJ since
  driver load; Volta and newer), differenced over the run; 0 when NVML or a GPU is absent.

References
----------
.. [1] Courty, B., Schmidt, V., Luccioni, S., et al. (2024). *mlco2/codecarbon*. Zenodo.
   https://github.com/mlco2/codecarbon (version 3.3.2 read here).
.. [2] MEE & NBS, announcements on the 2021, 2022 and 2023 electricity CO2 emission factors; rows and
   citations in ``coreduce/account/data/grid_factors.csv``.
.. [3] The province → regional grid map is the ``grid`` column of ``coreduce/account/data/regions.csv``.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Literal

import pandas as pd

from coreduce.account.factors import FactorLibrary
from coreduce.errors import FactorError
from coreduce.units import conversion_factor

Method = Literal["codecarbon", "fallback-power-model"]

#: W per busy hardware thread; CodeCarbon ``core/cpu.py`` ``DEFAULT_POWER_PER_CORE`` (v3.3.2) [1].
CPU_POWER_PER_THREAD_W = 4.0
#: W per GB of resident memory; CodeCarbon's pre-v3 RAM heuristic, 3 W per 8 GB (``external/ram.py``) [1].
RAM_POWER_W_PER_GB = 3.0 / 8.0
#: Year of the MEE/NBS grid factors used by default [2].
DEFAULT_FACTOR_YEAR = 2022

_ELECTRIC_PURPOSES = ("location", "market", "fossil", "carbon_market")
_WS_TO_KWH = conversion_factor("W*s", "kWh")
_LEVELS = {"region": "province", "grid": "regional-grid", "national": "national", "explicit": "explicit"}


# --------------------------------------------------------------------------- grid factors
@dataclass(frozen=True)
class GridFactor:
    """One electricity CO2 emission factor, chosen by :meth:`FactorLibrary.resolve_grid_factor`.

    Attributes
    ----------
    factor_id : str
        Row id, e.g. ``"cn_mee_2022_Hebei"``.
    region : str
        Region of the row: ISO 3166-2 code (``CN-HE``), regional grid (``CN-GRID-NORTH``) or ``CN``.
    year : int
        Data year.
    value_kg_per_kwh : float
        Factor [kg CO2/kWh] (converted from the row's unit).
    source : str
        Citation of the row.
    level : str
        How it was chosen: ``"explicit"``, ``"province"``, ``"regional-grid"`` or ``"national"``.
    note : str
        The fallback taken, in words (empty when the province's own factor for the year was used).
    """

    factor_id: str
    region: str
    year: int
    value_kg_per_kwh: float
    source: str
    level: str
    note: str = ""


def _library(factors: FactorLibrary | None) -> FactorLibrary:
    return factors if factors is not None else _default_library()


@functools.cache
def _default_library() -> FactorLibrary:
    """The bundled library, built once: it is frozen, and it caches its resolved grid regions (a new one per
    ledger run re-resolved every region of the grid table: ~20 % of the CPU of a live alert's ledger run)."""
    return FactorLibrary.default()


def grid_factors(factors: FactorLibrary | None = None) -> pd.DataFrame:
    """The grid-factor table in use (the bundled ``coreduce/account/data/grid_factors.csv`` by default) [2]."""
    return _library(factors).grid_factors


def grid_factor(
    province: str | None = None,
    *,
    factor_id: str | None = None,
    year: int = DEFAULT_FACTOR_YEAR,
    factors: FactorLibrary | None = None,
) -> GridFactor:
    """Choose the electricity CO2 factor for a run: the accounting engine's own rule.

    :meth:`coreduce.account.FactorLibrary.resolve_grid_factor` with purpose ``location``: an explicit
    ``factor_id``; else the province's own factor → its regional grid's (``regions.csv`` column ``grid``) →
    the national one, the period's own year preferred, else the latest year before it (else the earliest),
    every fallback stated in :attr:`GridFactor.note`.

    Parameters
    ----------
    province : str or None
        Province as an ISO 3166-2 code or a name/alias of ``regions.csv`` (``"CN-HE"``, ``"Hebei"``,
        ``"河北"``; case and spaces ignored) or a regional grid. ``None`` uses ``COREDUCE_PROVINCE`` if set,
        else the national factor.
    factor_id : str or None
        A row id of the grid-factor table; overrides ``province``.
    year : int
        Data year (default 2022).
    factors : FactorLibrary, optional
        The user's factor library (their grid-factor and region files); default the bundled one.

    Returns
    -------
    GridFactor
        Factor in kg CO2/kWh with its id, source and the level it was found at.

    Raises
    ------
    coreduce.errors.FactorError
        Unknown ``factor_id`` or province (with close matches), a non-electricity factor, or no factor.

    References
    ----------
    .. [1] ``coreduce/account/data/grid_factors.csv`` and ``regions.csv`` (MEE & NBS factor announcements).
    """
    lib = _library(factors)
    if factor_id is not None:
        rows = lib.grid_factors[lib.grid_factors["factor_id"] == factor_id]
        if rows.empty:
            raise FactorError(f"grid_factors.csv: no factor_id {factor_id!r}")
        if str(rows.iloc[0]["purpose"]) not in _ELECTRIC_PURPOSES:
            raise FactorError(
                f"grid_factors.csv: factor {factor_id!r} has purpose {rows.iloc[0]['purpose']!r}, "
                f"expected an electricity factor ({', '.join(_ELECTRIC_PURPOSES)})"
            )
        r = lib.resolve_grid_factor(None, year, factor_id=factor_id)
    else:
        if province is None:
            province = os.environ.get("COREDUCE_PROVINCE") or None
        try:
            r = lib.resolve_grid_factor(province, year, "location")
        except FactorError as exc:
            msg = str(exc)
            if msg.startswith("unknown region"):
                msg = "unknown province" + msg[len("unknown region") :]
            raise FactorError(f"grid factor: {msg}") from None
    return GridFactor(
        factor_id=r.factor_id,
        region=r.region,
        year=r.year,
        value_kg_per_kwh=r.value * conversion_factor(r.unit, "kg/kWh"),
        source=r.source,
        level=_LEVELS.get(r.level, r.level),
        note=r.note,
    )


# --------------------------------------------------------------------------- footprint
@dataclass(frozen=True)
class Footprint:
    """Energy and emissions of one run.

    Attributes
    ----------
    energy_kwh, cpu_kwh, ram_kwh, gpu_kwh : float
        Energy [kWh]; ``energy_kwh = cpu_kwh + ram_kwh + gpu_kwh``.
    emissions_kg : float
        CO2 [kg] = ``energy_kwh × grid_factor_value_kg_per_kwh``.
    grid_factor_id : str
        Row of ``grid_factors.csv`` used.
    grid_factor_value_kg_per_kwh : float
        Grid factor [kg CO2/kWh].
    method : str
        ``"codecarbon"`` or ``"fallback-power-model"``.
    duration_s : float
        Wall-clock duration [s].
    """

    energy_kwh: float
    cpu_kwh: float
    ram_kwh: float
    gpu_kwh: float
    emissions_kg: float
    grid_factor_id: str
    grid_factor_value_kg_per_kwh: float
    method: Method
    duration_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def footprint_from_energy(
    cpu_kwh: float,
    ram_kwh: float = 0.0,
    gpu_kwh: float = 0.0,
    *,
    province: str | None = None,
    factor_id: str | None = None,
    method: Method = "fallback-power-model",
    duration_s: float = 0.0,
    factors: FactorLibrary | None = None,
) -> Footprint:
    """Emissions of a known energy use: ``E [kWh] × EF [kg CO2/kWh]``.

    Parameters
    ----------
    cpu_kwh, ram_kwh, gpu_kwh : float
        Energy by component [kWh].
    province, factor_id : str or None
        Grid factor choice, see :func:`grid_factor`.
    factors : FactorLibrary, optional
        The user's factor library (default: the bundled one).
    method : str
        How the energy was measured (recorded as is).
    duration_s : float
        Wall-clock duration [s] (recorded as is).

    Returns
    -------
    Footprint

    References
    ----------
    .. [1] ``coreduce/account/data/grid_factors.csv`` (MEE & NBS electricity CO2 factors).
    """
    gf = grid_factor(province, factor_id=factor_id, factors=factors)
    energy = cpu_kwh + ram_kwh + gpu_kwh
    return Footprint(
        energy_kwh=energy,
        cpu_kwh=cpu_kwh,
        ram_kwh=ram_kwh,
        gpu_kwh=gpu_kwh,
        emissions_kg=energy * gf.value_kg_per_kwh,
        grid_factor_id=gf.factor_id,
        grid_factor_value_kg_per_kwh=gf.value_kg_per_kwh,
        method=method,
        duration_s=duration_s,
    )


def fallback_energy(cpu_s: float, wall_s: float, ram_gb: float) -> tuple[float, float]:
    """Fallback power model: CPU and RAM energy [kWh] of a run.

    ``E_cpu = cpu_s × 4 W`` and ``E_ram = wall_s × ram_gb × 0.375 W/GB``, converted W·s → kWh with pint.

    Parameters
    ----------
    cpu_s : float
        Process CPU time [s] (all threads).
    wall_s : float
        Wall-clock time [s].
    ram_gb : float
        Resident memory [GB].

    Returns
    -------
    tuple of float
        ``(cpu_kwh, ram_kwh)``.

    References
    ----------
    .. [1] Courty et al., *mlco2/codecarbon* v3.3.2: ``core/cpu.py`` ``DEFAULT_POWER_PER_CORE = 4`` and
       ``external/ram.py`` (3 W per 8 GB).
    """
    return cpu_s * CPU_POWER_PER_THREAD_W * _WS_TO_KWH, wall_s * ram_gb * RAM_POWER_W_PER_GB * _WS_TO_KWH


def footprint_mode() -> str:
    """``"codecarbon"``, ``"fallback"`` or ``"off"`` from ``COREDUCE_FOOTPRINT`` (default codecarbon)."""
    mode = os.environ.get("COREDUCE_FOOTPRINT", "codecarbon").strip().lower()
    if mode in ("", "auto", "codecarbon", "on"):
        return "codecarbon"
    if mode in ("fallback", "off"):
        return mode
    raise ValueError(f"COREDUCE_FOOTPRINT={mode!r}: expected codecarbon, fallback or off")


# ---- CodeCarbon: one tracker per process -------------------------------------------------------------
_TRACKER_LOCK = threading.Lock()  # guards creation of the shared tracker
_MEASURE_LOCK = threading.Lock()  # one reading of the tracker's counters at a time
_TRACKER: Any = None
_TRACKER_FAILED: str | None = None


def shared_tracker() -> Any:
    """The process-wide CodeCarbon ``OfflineEmissionsTracker``, started on first use (~2 s), or ``None``.

    Country ``CHN``, no file/API output (``output_methods=[]``, or ``save_to_file=False`` before
    CodeCarbon 3.3), ``tracking_mode="process"`` (energy attributed to this
    process's CPU load and memory, not the whole machine), ``allow_multiple_runs=True`` (several
    coreduce processes may track at once). Stopped at interpreter exit. Returns ``None`` (and remembers
    why, :func:`tracker_error`) if CodeCarbon is not installed or fails to start.
    """
    global _TRACKER, _TRACKER_FAILED
    with _TRACKER_LOCK:
        if _TRACKER is not None or _TRACKER_FAILED is not None:
            return _TRACKER
        try:
            os.environ.setdefault("CODECARBON_LOG_LEVEL", "error")  # read once when codecarbon is imported
            from codecarbon import OfflineEmissionsTracker

            logging.getLogger("codecarbon").setLevel(logging.ERROR)  # its import resets the level

            common = {"country_iso_code": "CHN", "log_level": "error", "tracking_mode": "process",
                      "allow_multiple_runs": True}  # fmt: skip
            try:  # CodeCarbon >= 3.3: no output at all; save_to_file=False is deprecated there
                tracker = OfflineEmissionsTracker(output_methods=[], **common)
            except TypeError:
                tracker = OfflineEmissionsTracker(save_to_file=False, **common)
            tracker.start()
            if getattr(tracker, "_start_time", None) is None:
                raise RuntimeError("OfflineEmissionsTracker.start() did not start")
            _cc_totals(tracker)  # the private counters this module reads exist
        except Exception as exc:  # ImportError, hardware probing, API drift
            _TRACKER_FAILED = f"{type(exc).__name__}: {exc}"
            return None
        _TRACKER = tracker
        atexit.register(tracker.stop)
        return tracker


def tracker_error() -> str | None:
    """Why CodeCarbon could not be used in this process, or ``None``."""
    return _TRACKER_FAILED


def _cc_totals(tracker: Any) -> tuple[float, float, float]:
    """Cumulative (cpu, ram, gpu) energy [kWh] of a started tracker, after a fresh measurement.

    CodeCarbon 3.x keeps running totals in ``_total_cpu_energy`` / ``_total_ram_energy`` /
    ``_total_gpu_energy`` (``Energy`` objects, ``.kWh``) and updates them in
    ``_measure_power_and_energy()`` (what ``flush()`` and its scheduler call); there is no public
    "energy so far" getter, so these private names are read and checked when the tracker starts.
    """
    with _MEASURE_LOCK:
        tracker._measure_power_and_energy()
        return (
            float(tracker._total_cpu_energy.kWh),
            float(tracker._total_ram_energy.kWh),
            float(tracker._total_gpu_energy.kWh),
        )


# ---- fallback probes ---------------------------------------------------------------------------------
def process_ram_gb() -> float:
    """Resident set size of this process [GiB, the "GB" of memory sizes] (psutil; 0 if unavailable)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss * conversion_factor("B", "GiB")
    except Exception:
        return 0.0


_NVML: list[Any] | None = None


def gpu_energy_kwh() -> float:
    """Sum of the NVML total-energy counters of all GPUs [kWh]; 0 without NVML or GPUs."""
    global _NVML
    if _NVML is None:
        try:
            import pynvml

            pynvml.nvmlInit()
            _NVML = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
            for h in _NVML:
                pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
        except Exception:
            _NVML = []
    if not _NVML:
        return 0.0
    import pynvml

    try:
        mj = sum(pynvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in _NVML)
    except Exception:
        return 0.0
    return mj * conversion_factor("mJ", "kWh")


class FootprintMeter:
    """Measure one run: :meth:`start` before, :meth:`stop` after (or use :func:`measure`).

    Parameters
    ----------
    province, factor_id : str or None
        Grid factor choice (:func:`grid_factor`).
    factors : FactorLibrary, optional
        The user's factor library for the grid factor (default: the bundled one).
    mode : str or None
        ``"codecarbon"``, ``"fallback"`` or ``"off"``; ``None`` reads ``COREDUCE_FOOTPRINT``.
    clock, cpu_time : callable
        Wall clock and process CPU time [s]; injectable for tests (defaults :func:`time.perf_counter`,
        :func:`time.process_time`).
    ram_gb, gpu_kwh : callable
        Resident memory [GB] and cumulative GPU energy [kWh] probes (fallback model).
    """

    def __init__(
        self,
        province: str | None = None,
        *,
        factor_id: str | None = None,
        factors: FactorLibrary | None = None,
        mode: str | None = None,
        clock: Callable[[], float] = time.perf_counter,
        cpu_time: Callable[[], float] = time.process_time,
        ram_gb: Callable[[], float] = process_ram_gb,
        gpu_kwh: Callable[[], float] = gpu_energy_kwh,
    ) -> None:
        self.province = province
        self.factor_id = factor_id
        self.factors = factors
        self.mode = mode or footprint_mode()
        self.clock, self.cpu_time, self.ram_gb, self.gpu_kwh = clock, cpu_time, ram_gb, gpu_kwh
        self._tracker: Any = None
        self._t0 = self._c0 = self._g0 = 0.0
        self._cc0: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def start(self) -> None:
        """Take the starting readings (starts the shared CodeCarbon tracker on first use)."""
        if self.mode == "off":
            return
        if self.mode == "codecarbon":
            self._tracker = shared_tracker()
        self._t0 = self.clock()
        if self._tracker is not None:
            try:
                self._cc0 = _cc_totals(self._tracker)
            except Exception:
                self._tracker = None
        # fallback readings are taken in every mode: the power model is the backstop if CodeCarbon fails
        self._c0 = self.cpu_time()
        self._g0 = self.gpu_kwh() if self._tracker is None else 0.0

    def stop(self) -> Footprint | None:
        """Energy and emissions since :meth:`start`; ``None`` when the mode is ``off``."""
        if self.mode == "off":
            return None
        wall = self.clock() - self._t0
        if self._tracker is not None:
            try:
                cpu1, ram1, gpu1 = _cc_totals(self._tracker)
                cpu0, ram0, gpu0 = self._cc0
                return footprint_from_energy(
                    cpu1 - cpu0, ram1 - ram0, gpu1 - gpu0, province=self.province,
                    factor_id=self.factor_id, factors=self.factors, method="codecarbon", duration_s=wall,
                )  # fmt: skip
            except Exception:
                self._g0 = self.gpu_kwh()  # GPU counters unknown at start: count none
        cpu_kwh, ram_kwh = fallback_energy(self.cpu_time() - self._c0, wall, self.ram_gb())
        return footprint_from_energy(
            cpu_kwh, ram_kwh, max(self.gpu_kwh() - self._g0, 0.0), province=self.province,
            factor_id=self.factor_id, factors=self.factors, method="fallback-power-model", duration_s=wall,
        )  # fmt: skip


class _Measured:
    result: Footprint | None = None


@contextmanager
def measure(province: str | None = None, **kwargs: Any) -> Iterator[_Measured]:
    """Context manager: ``with measure("Hebei") as m: ...``; then ``m.result`` is the :class:`Footprint`.

    Keyword arguments go to :class:`FootprintMeter`. The result is set even if the block raises.
    """
    meter = FootprintMeter(province, **kwargs)
    holder = _Measured()
    meter.start()
    try:
        yield holder
    finally:
        holder.result = meter.stop()


# --------------------------------------------------------------------------- net benefit
@dataclass(frozen=True)
class NetBenefit:
    """A claimed reduction net of the compute emissions that produced it.

    Attributes
    ----------
    claimed_t : float
        Claimed reduction [t CO2].
    inference_t : float
        Emissions of this run [t CO2].
    training_t : float
        Share of the training emissions charged to this use [t CO2] = training / n_uses.
    compute_t : float
        ``inference_t + training_t`` [t CO2].
    net_t : float
        ``claimed_t − compute_t`` [t CO2].
    negative : bool
        ``net_t < 0``: the run emitted more than it claims to save.
    """

    claimed_t: float
    inference_t: float
    training_t: float
    compute_t: float
    net_t: float
    negative: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def net_benefit(
    claimed_reduction_t: float,
    footprint_kg: float,
    amortised_training_kg: float = 0.0,
    n_uses: int = 1,
) -> NetBenefit:
    """Claimed reduction minus the compute emissions of producing it.

    Amortisation rule: a model's training emissions are spread evenly over the documented number of uses
    of that trained model (``n_uses`` runs that use it, e.g. the forecasts made before it is retrained), so
    each use carries ``amortised_training_kg / n_uses``; its own inference run carries its measured
    footprint in full::

        compute_t = (footprint_kg + amortised_training_kg / n_uses) [kg] → t
        net_t     = claimed_reduction_t − compute_t

    Parameters
    ----------
    claimed_reduction_t : float
        Reduction the decision claims [t CO2].
    footprint_kg : float
        Emissions of the run that produced the decision [kg CO2] (:attr:`Footprint.emissions_kg`).
    amortised_training_kg : float
        Total emissions of training the model used [kg CO2] (0 for models without training).
    n_uses : int
        Number of uses the training is spread over (>= 1).

    Returns
    -------
    NetBenefit

    References
    ----------
    .. [1] Courty et al., *mlco2/codecarbon* (the footprint figures).
    """
    if n_uses < 1:
        raise ValueError(f"n_uses must be >= 1, got {n_uses}")
    kg_to_t = conversion_factor("kg", "t")
    inference_t = footprint_kg * kg_to_t
    training_t = amortised_training_kg / n_uses * kg_to_t
    compute_t = inference_t + training_t
    net_t = claimed_reduction_t - compute_t
    return NetBenefit(claimed_reduction_t, inference_t, training_t, compute_t, net_t, net_t < 0)
