"""Monitoring benchmark (prints JSON): EIA-930 events, gas-turbine NOx dynamic threshold, MQTT -> store.

Usage: ``PYTHONPATH=src python benchmarks/monitor.py [--seconds 20] [--rate 5000]`` (Mosquitto on 127.0.0.1:1883).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd


def mqtt_bench(seconds: float, rate: int, port: int = 1883) -> dict:
    import paho.mqtt.client as mqtt

    from coreduce.monitor.quality import robust_z
    from coreduce.monitor.stream import MqttConsumer
    from coreduce.store import Store

    st = Store(Path(tempfile.mkdtemp()) / "bench.duckdb")
    hist = pd.Series(dtype=float)

    def on_batch(df: pd.DataFrame) -> None:  # score every stored reading (causal robust z over the last 168):
        # its cost is inside the publish->stored latency of the next batch (reading->alert is not timed separately)
        nonlocal hist
        hist = pd.concat([hist, df["value"]]).iloc[-(168 + len(df)) :]
        robust_z(hist.reset_index(drop=True)).iloc[-len(df) :].to_numpy()

    topic = f"coreduce/bench/{time.time_ns()}"
    c = MqttConsumer(st, "127.0.0.1", port, [topic], client_id=f"bench-{time.time_ns()}", on_batch=on_batch)
    c.start()
    c.connected.wait(5)
    p = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"benchpub-{time.time_ns()}", protocol=mqtt.MQTTv311)
    acked = [0]
    p.on_publish = lambda *a: acked.__setitem__(0, acked[0] + 1)
    p.max_inflight_messages_set(200)
    p.connect("127.0.0.1", port)
    p.loop_start()
    t0 = time.time()
    sent = 0
    t_start = time.monotonic()
    while time.monotonic() - t_start < seconds:
        due = int((time.monotonic() - t_start) * rate)
        while sent < due:
            if sent - acked[0] > 400:
                break
            p.publish(topic, json.dumps({"site": "stack-01", "ts": 1_704_067_200_000_000_000 + sent * 1000,
                                         "variable": "stack_NOx", "value": 50.0 + sent % 13, "unit": "mg/m^3",
                                         "sent_ns": time.time_ns()}), qos=1)  # fmt: skip
            sent += 1
        time.sleep(0.001)
    end = time.monotonic() + 20
    while time.monotonic() < end and c.sink.stats.received < sent:
        time.sleep(0.05)
    time.sleep(0.3)
    s = c.stop()
    p.loop_stop()
    stored = st.count("observations")
    d = s.as_dict()
    return {"seconds": seconds, "offered_rate": rate, "sent": sent, "stored": stored, "lost": sent - stored,
            "achieved_rate": stored / seconds, "p50_publish_to_stored_ms": d["p50_ms"],
            "p99_publish_to_stored_ms": d["p99_ms"], "batches": d["batches"],
            "elapsed_s": time.time() - t0}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--skip-mqtt", action="store_true")
    a = ap.parse_args()
    from coreduce.monitor.evaluation import evaluate_eia930
    from coreduce.monitor.thresholds import evaluate_nox

    t = time.time()
    out: dict = {"eia930": evaluate_eia930()}
    out["eia930"]["seconds"] = time.time() - t
    t = time.time()
    out["nox"] = evaluate_nox()
    out["nox"]["seconds"] = time.time() - t
    out["targets"] = {"eia930_event_f1": 0.88, "eia930_hard_recall": 0.60, "nox_recall_at_1pct_fa": 0.30,
                      "mqtt_rate": 5000, "mqtt_p99_ms": 150}  # fmt: skip
    if not a.skip_mqtt:
        out["mqtt"] = mqtt_bench(a.seconds, a.rate)
    print(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
