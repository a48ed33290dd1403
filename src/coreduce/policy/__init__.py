"""Carbon asset and policy: ETS quota (benchmark, grandfathering), compliance position, carbon cost, a simple
trading rule, carbon-tax pass-through, green power and scope 2; techno-economics (NPV, IRR, payback, levelised
cost per t); citizen carbon credits (碳普惠).

Coefficient sets (``coreduce/policy/data``, registered on import): ``ets_benchmarks`` (allocation-plan
benchmarks), ``green_travel`` (citizen-credit baseline factors), ``technologies`` (seed technology cases).
"""

from __future__ import annotations

from coreduce import coefficients

coefficients.register(
    "ets_benchmarks",
    package="coreduce.policy",
    path="data/ets_benchmarks.csv",
    columns=("plan", "unit_class", "year", "product", "value", "unit", "verified"),
    numeric=("value", "year"),
    key=("plan", "unit_class", "year", "product"),
    description="China national ETS allocation-plan benchmarks (t CO2 per MWh supplied / per GJ heat)",
)
coefficients.register(
    "green_travel",
    package="coreduce.policy",
    path="data/green_travel.csv",
    columns=("methodology", "mode", "basis", "value", "unit", "verified"),
    numeric=("value",),
    key=("methodology", "mode"),
    description="citizen green-travel reduction factors (kg CO2 per trip or per person-km vs the baseline)",
)
coefficients.register(
    "technologies",
    package="coreduce.policy",
    path="data/technologies.csv",
    columns=("technology", "parameter", "value", "unit", "verified"),
    numeric=("value",),
    key=("technology", "parameter"),
    description="seed technology cases (savings, PUE)",
)

from coreduce.policy.carbon import (  # noqa: E402
    benchmark_quota,
    carbon_cost,
    carbon_tax,
    compliance_position,
    grandfathering_quota,
    plan_quota,
    scope2_green_power,
    trading_decision,
)
from coreduce.policy.techno import irr, levelised_cost, npv, payback, technology_economics  # noqa: E402

__all__ = [
    "benchmark_quota",
    "carbon_cost",
    "carbon_tax",
    "compliance_position",
    "grandfathering_quota",
    "irr",
    "levelised_cost",
    "npv",
    "payback",
    "plan_quota",
    "scope2_green_power",
    "technology_economics",
    "trading_decision",
]
