"""Monitoring benchmark (prints JSON): EIA-930 events, gas-turbine NOx dynamic threshold, MQTT -> store -> alert.

Usage: ``PYTHONPATH=src python benchmarks/monitor.py [--seconds 60] [--rate 5000] [--port 1883]``
(Mosquitto on 127.0.0.1:PORT).  The publisher runs in its own process (paced at ``--rate``, QoS 1, backpressure
at 400 unacknowledged messages); the consumer stores readings in <= 100 ms batches and, after each commit, scores
them (incremental data-quality flags + causal robust z per site and variable, ``StreamScorer``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

PUBLISHER = r"""
import json, sys, time
import paho.mqtt.client as mqtt
port, topic, seconds, rate = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-pub-" + topic.rsplit("/", 1)[-1],
                protocol=mqtt.MQTTv311)
acked = [0]
c.on_publish = lambda *a: acked.__setitem__(0, acked[0] + 1)
c.max_inflight_messages_set(200)
c.connect("127.0.0.1", port)
c.loop_start()
sent, t0 = 0, time.monotonic()
while time.monotonic() - t0 < seconds:
    due = int((time.monotonic() - t0) * rate)
    while sent < due and sent - acked[0] < 400:
        c.publish(topic, json.dumps({"site": "stack-%02d" % (sent % 8), "ts": 1704067200000000000 + sent * 1000,
                                     "variable": "stack_NOx", "value": 50.0 + sent % 13, "unit": "mg/m^3",
                                     "sent_ns": time.time_ns()}), qos=1)
        sent += 1
    time.sleep(0.0005)
end = time.monotonic() + 10
while acked[0] < sent and time.monotonic() < end:
    time.sleep(0.01)
c.loop_stop()
print(json.dumps({"sent": sent, "acked": acked[0]}))
"""


def mqtt_bench(seconds: float, rate: int, port: int = 1883) -> dict:
    from coreduce.monitor.quality import StreamScorer
    from coreduce.monitor.stream import MqttConsumer
    from coreduce.store import Store

    st = Store(Path(tempfile.mkdtemp()) / "bench.duckdb")
    scorer = StreamScorer()
    alerts = [0]

    def on_batch(df: pd.DataFrame) -> None:  # incremental DQ flags + causal robust z per (site, variable)
        for key, g in df.groupby(["site_id", "variable"], sort=False):
            alerts[0] += int(scorer.update(key, g["value"].to_numpy())["anomaly"].sum())

    topic = f"coreduce/bench/{time.time_ns()}"
    c = MqttConsumer(st, "127.0.0.1", port, [topic], client_id=f"bench-{time.time_ns()}", on_batch=on_batch)
    c.start()
    c.connected.wait(5)
    t0 = time.time()
    pub = subprocess.run([sys.executable, "-c", PUBLISHER, str(port), topic, str(seconds), str(rate)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    sent = json.loads(pub.stdout.strip().splitlines()[-1])["sent"]
    end = time.monotonic() + 20
    while time.monotonic() < end and c.sink.stats.received < sent:
        time.sleep(0.05)
    time.sleep(0.3)
    s = c.stop()
    stored = st.count("observations")
    d = s.as_dict()
    return {"seconds": seconds, "offered_rate": rate, "sent": sent, "stored": stored, "lost": sent - stored,
            "stored_per_s": stored / seconds, "p50_publish_to_stored_ms": d["p50_ms"],
            "p99_publish_to_stored_ms": d["p99_ms"], "p99_reading_to_alert_decision_ms": d["p99_processed_ms"],
            "readings_flagged": alerts[0], "batches": d["batches"], "elapsed_s": time.time() - t0}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--skip-mqtt", action="store_true")
    a = ap.parse_args()
    from coreduce.monitor.evaluation import evaluate_eia930
    from coreduce.monitor.quality import QualityRules
    from coreduce.monitor.thresholds import evaluate_nox

    out: dict = {}
    t = time.time()
    out["eia930"] = evaluate_eia930()
    out["eia930"]["seconds"] = time.time() - t
    r0 = evaluate_eia930(rules=QualityRules(relocate=False))
    out["eia930_no_delay"] = {k: r0[k] for k in ("event_precision", "event_recall", "event_f1", "hard_recall")}
    t = time.time()
    out["nox"] = evaluate_nox()
    out["nox"]["seconds"] = time.time() - t
    s0 = evaluate_nox(lags=0, window=720)
    out["nox_state_only"] = {k: s0[k] for k in ("model", "recall", "false_alarm_rate", "clean_alarms_by_load_tercile")}
    out["targets"] = {"eia930_event_f1": 0.88, "eia930_hard_recall": 0.60, "nox_recall_at_1pct_fa": 0.30,
                      "mqtt_rate": 5000, "mqtt_p99_ms": 150, "reading_to_alert_p99_ms": 250}  # fmt: skip
    if not a.skip_mqtt:
        out["mqtt"] = mqtt_bench(a.seconds, a.rate, a.port)
    print(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    _ = np  # numpy imported for the JSON default of numpy scalars
    main()
