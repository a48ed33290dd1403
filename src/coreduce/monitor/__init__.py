"""Monitoring: data-quality flags, causal anomaly scores, dynamic thresholds, explained alerts, stream ingest.

Modules: :mod:`~coreduce.monitor.quality` (named flags, robust scores, events), :mod:`~coreduce.monitor.thresholds`
(conditional expected value + online residual band with hysteresis, fixed limit), :mod:`~coreduce.monitor.rca`
(symptom -> cause -> action graph), :mod:`~coreduce.monitor.alerts` (alerts table, ledger, acknowledgement),
:mod:`~coreduce.monitor.pipeline` (all of it on a series), :mod:`~coreduce.monitor.stream` (MQTT / file replay into
``observations``), :mod:`~coreduce.monitor.evaluation` (EIA-930 and gas-turbine benchmarks).
"""

from coreduce.monitor.quality import (
    FLAGS,
    QualityRules,
    StreamScorer,
    anomaly_flags,
    events,
    quality_flags,
    robust_z,
)

__all__ = ["FLAGS", "QualityRules", "StreamScorer", "anomaly_flags", "events", "quality_flags", "robust_z"]
