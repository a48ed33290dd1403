"""Co-benefits of pollution–carbon co-control: synergy metrics, health impact and money, the
environment–economy–society index.

Every coefficient table is a named, cited coefficient set (:mod:`coreduce.coefficients`) registered here on
import and bundled in ``coreduce/benefits/data``:

- ``pollution_equivalents`` — China's statutory pollution-equivalent values (kg per equivalent);
- ``crf`` — log-linear concentration–response functions (RR per ``per`` µg/m³);
- ``gemm`` — GEMM parameters (Burnett et al. 2018);
- ``vsl`` — value of a statistical life (base for income-elasticity transfer);
- ``intake_fraction`` — the reduced-form source–receptor relation: mass inhaled per mass emitted, by pollutant
  and setting, which turns an emission change into a population-weighted PM2.5 change
  (:func:`~coreduce.benefits.health.pm25_from_emissions`).

Each row has a ``verified`` column (``yes``/``no``; the reason is in ``source``).
"""

from __future__ import annotations

from coreduce import coefficients

coefficients.register(
    "pollution_equivalents",
    package="coreduce.benefits",
    path="data/pollution_equivalents.csv",
    columns=("pollutant", "value", "unit", "verified"),
    numeric=("value",),
    key=("pollutant",),
    description="China statutory pollution-equivalent values (kg of pollutant per pollution equivalent)",
)
coefficients.register(
    "crf",
    package="coreduce.benefits",
    path="data/crf.csv",
    columns=("crf", "endpoint", "age_min", "rr", "rr_low", "rr_high", "per", "verified"),
    numeric=("age_min", "rr", "rr_low", "rr_high", "per"),
    key=("crf", "endpoint"),
    description="log-linear PM2.5 concentration-response functions: relative risk per `per` ug/m3",
)
coefficients.register(
    "gemm",
    package="coreduce.benefits",
    path="data/gemm.csv",
    columns=("gemm", "endpoint", "theta", "theta_se", "alpha", "mu", "nu", "cf", "verified"),
    numeric=("theta", "theta_se", "alpha", "mu", "nu", "cf"),
    key=("gemm", "endpoint"),
    description="GEMM hazard-ratio parameters (Burnett et al. 2018); z = max(0, C - cf) ug/m3",
)
coefficients.register(
    "vsl",
    package="coreduce.benefits",
    path="data/vsl.csv",
    columns=("vsl_set", "value", "currency", "year", "income_per_capita", "verified"),
    numeric=("value", "year", "income_per_capita"),
    optional_numeric=("income_per_capita",),
    key=("vsl_set",),
    description="value of a statistical life (currency of `year`), base of the income-elasticity transfer",
)

coefficients.register(
    "intake_fraction",
    package="coreduce.benefits",
    path="data/intake_fraction.csv",
    columns=("if_set", "pollutant", "species", "setting", "intake_fraction", "verified"),
    numeric=("intake_fraction",),
    key=("if_set", "pollutant", "setting"),
    description="intake fraction (kg PM2.5 inhaled per kg emitted) by emitted pollutant and setting",
)

from coreduce.benefits.health import (  # noqa: E402
    HealthResult,
    benmap_avoided,
    gemm_rr,
    health_impact,
    loglinear_beta,
    monte_carlo,
    pm25_from_emissions,
    source_receptor,
    vsl_transfer,
)
from coreduce.benefits.index import coupling_coordination, entropy_weights, normalise, topsis  # noqa: E402
from coreduce.benefits.synergy import apeq, coordinate_chart, synergy  # noqa: E402

__all__ = [
    "HealthResult",
    "apeq",
    "benmap_avoided",
    "coordinate_chart",
    "coupling_coordination",
    "entropy_weights",
    "gemm_rr",
    "health_impact",
    "loglinear_beta",
    "monte_carlo",
    "normalise",
    "pm25_from_emissions",
    "source_receptor",
    "synergy",
    "topsis",
    "vsl_transfer",
]
