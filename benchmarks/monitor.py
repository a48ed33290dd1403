"""Monitoring benchmark (prints JSON): EIA-930 events, gas-turbine NOx dynamic threshold, MQTT -> store -> alert.

Usage: ``PYTHONPATH=src python benchmarks/monitor.py [--seconds 60] [--rate 5000] [--port 1883] [--select]``
(Mosquitto on 127.0.0.1:PORT).

- EIA-930: the detector's thresholds are the ones :func:`select_eia930_rules` chooses on 2020-2022 (``--select``
  re-runs that search and prints it); scores on 2023-2024 (held out), on 2020-2022 and on all five years.
- NOx: train 2011-12, test 2014-15 with +10 % faults on 1 % of rows; the band (``NOX_BAND``) is chosen on 2013
  (``select_nox_band``, printed as ``nox_validation_2013``) and measured once on 2014-15 (``nox``); the two
  previous bands (``NOX_BAND_V2``: relative residual per load tercile, q99.5 of 168; ``NOX_BAND_V1``: residual,
  pooled, q99 of 336) beside it, and the three at matched false-alarm rates on 2014-15 (a diagnostic).
- MQTT: gas-turbine 2014-15 records (NOx with faults + 9 operating variables, each one reading) published by a
  separate process (paced at ``--rate`` readings/s, QoS 1, max in-flight 1,000, backpressure at 4,000
  unacknowledged); the consumer (MQTT 5 persistent session, bounded queue, one writer thread, adaptive batches)
  stores every reading through ``Store.ingest`` and passes it through the live monitor (quality flags, the NOx
  conditional model + online band with hysteresis, explained alerts on the ledger).  Lost = published readings
  whose (site, ts, variable) is not in ``observations``.

Prints JSON with a ``checks`` block (target, measured, met) and exits 1 when a target is missed.
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

STATE = ["TEY", "AT", "AP", "AH", "AFDP", "GTEP", "TIT", "TAT", "CDP"]
UNITS = {"stack_NOx": "mg/m^3", "TEY": "MW", "AT": "degC", "AP": "mbar", "AH": "%", "AFDP": "mbar", "GTEP": "mbar",
         "TIT": "degC", "TAT": "degC", "CDP": "mbar"}  # fmt: skip

PUBLISHER = r"""
import json, sys, time
import numpy as np
import paho.mqtt.client as mqtt
port, topic, seconds, rate, data, sites = (int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4]),
                                          sys.argv[5], int(sys.argv[6]))
d = np.load(data)
names, units, rows = list(d["names"]), list(d["units"]), d["rows"]     # rows: records x (NOx, 9 state variables)
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-pub-" + topic.rsplit("/", 1)[-1],
                protocol=mqtt.MQTTv311)
acked = [0]
def on_pub(*a):
    acked[0] += 1
c.on_publish = on_pub
c.max_inflight_messages_set(1000)
c.max_queued_messages_set(0)
c.connect("127.0.0.1", port)
c.loop_start()
sent, t0, rec, last_ts = 0, time.monotonic(), 0, [0] * sites
per = len(names)
while time.monotonic() - t0 < seconds:
    due = int((time.monotonic() - t0) * rate)
    while sent + per <= due and sent - acked[0] < 4000:
        s = rec % sites
        ts = max(last_ts[s] + 1000, time.time_ns() // 1000 * 1000)   # microsecond steps: unique per site
        last_ts[s] = ts
        r = rows[(rec // sites + 997 * s) % len(rows)]
        for j in range(per - 1, -1, -1):      # the state variables first, the pollutant last
            c.publish(topic, json.dumps({"site": "gt-%03d" % s, "ts": ts, "variable": names[j], "value": float(r[j]),
                                         "unit": units[j], "id": sent, "sent_ns": time.time_ns()}), qos=1)
            sent += 1
        rec += 1
    time.sleep(0.0005)
end = time.monotonic() + 30
while acked[0] < sent and time.monotonic() < end:
    time.sleep(0.01)
c.loop_stop()
print(json.dumps({"sent": sent, "acked": acked[0], "records": rec}))
"""


def own_broker(tmp: Path) -> tuple[subprocess.Popen, int]:
    """A Mosquitto of the benchmark's own on a free loopback port, configured for a stream: no cap on the queue of
    a slow subscriber (the machine's broker keeps 1,000 messages per client and then drops QoS 1 messages)."""
    import shutil
    import socket

    mosq = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 0\n"
    )
    b = subprocess.Popen([mosq, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 5
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return b, port
        except OSError:
            time.sleep(0.05)
    b.kill()
    raise RuntimeError("own mosquitto did not start")


def mqtt_bench(seconds: float, rate: int, port: int = 1883, sites: int = 50, monitor: bool = True,
               alert_store_ms: int = 1000, network: str = "process") -> dict:  # fmt: skip
    """Gas-turbine 2014-15 records (NOx with +10 % faults on 1 % of rows, and the 9 operating variables, each a
    reading) streamed at ``rate`` readings/s from ``sites`` turbines through Mosquitto into the store and the
    live monitor (quality flags, conditional model + online band with hysteresis, explained alerts)."""
    from coreduce.monitor.evaluation import inject_faults, load_gas_turbine
    from coreduce.monitor.live import LiveMonitor
    from coreduce.monitor.rca import terciles_of
    from coreduce.monitor.stream import MqttConsumer
    from coreduce.monitor.thresholds import NOX_BAND, NOX_MODEL, ConditionalModel
    from coreduce.store import Store

    df = load_gas_turbine()
    tr, te = df[df["year"] <= 2012], df[df["year"] >= 2014].reset_index(drop=True)
    model = ConditionalModel(STATE, "NOX", **NOX_MODEL).fit(tr)
    y, _ = inject_faults(te["NOX"].to_numpy(), 0.01, 0.10, 0)
    tmp = Path(tempfile.mkdtemp(prefix="coreduce-bench-"))
    names = ["stack_NOx", *STATE]
    np.savez(tmp / "rows.npz", rows=np.column_stack([y, te[STATE].to_numpy()]), names=np.array(names),
             units=np.array([UNITS[n] for n in names]))  # fmt: skip
    broker = None
    if port == 0:
        broker, port = own_broker(tmp)
    st = Store(tmp / "bench.duckdb")
    mon = LiveMonitor(st, models={"stack_NOx": model}, terciles={"stack_NOx": terciles_of(tr, STATE)},
                      limits={"stack_NOx": float(np.quantile(tr["NOX"], 0.99))}, **NOX_BAND,
                      quality_alerts=("non_positive", "out_of_range"))  # fmt: skip
    topic = f"coreduce/bench/{time.time_ns()}"
    c = MqttConsumer(st, "127.0.0.1", port, [topic], client_id=f"bench-{time.time_ns()}",
                     monitor=mon if monitor else None, alerts_topic=f"{topic}-alerts",
                     alert_store_ms=alert_store_ms, network=network)  # fmt: skip
    c.start()
    c.connected.wait(5)
    t0 = time.time()
    pub = subprocess.run([sys.executable, "-c", PUBLISHER, str(port), topic, str(seconds), str(rate),
                          str(tmp / "rows.npz"), str(sites)], capture_output=True, text=True)  # fmt: skip
    if pub.returncode:
        raise RuntimeError(pub.stderr[-2000:])
    published = time.time()  # the publisher has sent everything and had it acknowledged by the broker
    p = json.loads(pub.stdout.strip().splitlines()[-1])
    end = time.monotonic() + 120
    while time.monotonic() < end and (c.sink.stats.received < p["sent"] or c.sink.pending()):
        time.sleep(0.05)
    drained_after = time.time() - published  # every reading received and stored (not one waiting in the sink)
    s = c.stop()
    drained = time.time() - t0  # from the first publish to the last reading stored and monitored
    if broker is not None:
        broker.kill()
        broker.wait()
    src = c.sink.source
    distinct = st.execute('SELECT count(*) FROM (SELECT DISTINCT site_id, ts, variable FROM "observations" '
                          "WHERE source = ?)", [src])[0][0]  # fmt: skip
    alerts = st.read("alerts") if "alerts" in st.tables() else None
    d = s.as_dict()
    st.close()
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return {"broker": "own (max_queued_messages 0)" if broker is not None else f"127.0.0.1:{port}",
            "live_monitor": monitor, "seconds": seconds, "offered_rate": rate, "sites": sites, "sent": p["sent"],
            "acked_by_broker": p["acked"],
            "stored_distinct": int(distinct), "lost": p["sent"] - int(distinct),
            "received_incl_duplicates": d["received"],
            "stored_per_s": distinct / max(seconds, drained), "published_per_s": p["sent"] / seconds,
            "publish_to_drained_s": drained,
            "drain_after_last_publish_s": drained_after, "p50_publish_to_stored_ms": d["p50_ms"],
            "p99_publish_to_stored_ms": d["p99_ms"],
            # publish -> received by the consumer (publisher's paho, loopback, Mosquitto, the consumer's socket)
            "p50_publish_to_received_ms": d["p50_arrival_ms"], "p99_publish_to_received_ms": d["p99_arrival_ms"],
            "p50_reading_to_decision_ms": d["p50_decided_ms"],
            "p99_reading_to_decision_ms": d["p99_decided_ms"], "p50_reading_to_alert_ms": d["p50_alert_ms"],
            "p99_reading_to_alert_ms": d["p99_alert_ms"],
            # publish -> the alert published on the alerts topic (decided; its store and ledger run follow)
            "p50_reading_to_alert_delivered_ms": d["p50_delivered_ms"],
            "p99_reading_to_alert_delivered_ms": d["p99_delivered_ms"], "alert_store_ms": alert_store_ms,
            "network": network,
            "alerts": d["alerts"],
            "alerts_stored": 0 if alerts is None else len(alerts),
            "alerts_explained_share": None if alerts is None or not len(alerts) else
            float((alerts["path"] != "unexplained").mean()),
            "late": d["late"], "bad": d["bad"], "batches": d["batches"], "mean_batch_rows": d["mean_batch_rows"],
            "queue_max": d["queue_max"], "last_error": c.sink.last_error, "elapsed_s": time.time() - t0,
            # CPU time per received reading of each consumer stage (thread time: independent of the machine's load)
            "consumer_cpu_us_per_reading": {k: round(v, 2) for k, v in d["cpu_us_per_reading"].items()},
            "consumer_cpu_us_per_reading_total": round(sum(d["cpu_us_per_reading"].values()), 2)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--port", type=int, default=0, help="broker port on 127.0.0.1; 0 = start an own Mosquitto")
    ap.add_argument("--sites", type=int, default=8)
    ap.add_argument("--skip-mqtt", action="store_true")
    ap.add_argument(
        "--network",
        choices=("thread", "process"),
        default="process",
        help="paho's reading loop in the consumer (thread) or in a reader process",
    )
    ap.add_argument("--alert-store-ms", type=int, default=1000, help="at most one alert ledger run per this many ms")
    ap.add_argument("--mqtt-only", action="store_true")
    ap.add_argument("--no-monitor", action="store_true", help="MQTT -> store only (a diagnostic: no target met by it)")
    ap.add_argument("--select", action="store_true", help="re-run the EIA-930 threshold search on 2020-2022")
    a = ap.parse_args()
    from coreduce.monitor.evaluation import TRAIN_END, evaluate_eia930, select_eia930_rules
    from coreduce.monitor.quality import QualityRules
    from coreduce.monitor.thresholds import (
        NOX_BAND_V1,
        NOX_BAND_V2,
        NOX_CANDIDATES,
        compare_nox_bands,
        evaluate_nox,
        select_nox_band,
    )

    keys = ("true_events", "found", "pred_events", "correct", "false_events", "false_hours", "event_precision",
            "event_recall", "event_f1", "point_precision", "point_recall", "point_f1", "hard_found", "hard_labels",
            "hard_recall", "recall_by_label", "hours_by_label")  # fmt: skip
    out: dict = {"uptime": _uptime()}
    t = time.time()
    if a.mqtt_only:
        m = mqtt_bench(
            a.seconds,
            a.rate,
            a.port,
            a.sites,
            monitor=not a.no_monitor,
            alert_store_ms=a.alert_store_ms,
            network=a.network,
        )
        return _finish(out | {"mqtt": m, "uptime_after": _uptime()}, {})
    if a.select:
        out["eia930_selection"] = select_eia930_rules()
    rules = QualityRules()
    out["eia930_rules"] = {k: getattr(rules, k) for k in ("score_z", "spike_z", "delta_k", "level_z", "level_rel",
                                                          "hold_rel", "hold_max")}  # fmt: skip
    out["eia930_heldout_2023_2024"] = {k: v for k, v in evaluate_eia930(start=TRAIN_END).items() if k in keys}
    out["eia930_train_2020_2022"] = {k: v for k, v in evaluate_eia930(end=TRAIN_END).items() if k in keys}
    out["eia930_all"] = {k: v for k, v in evaluate_eia930().items() if k in keys}
    r0 = evaluate_eia930(rules=QualityRules(relocate=False, double_delta=False))
    out["eia930_all_no_delay"] = {k: r0[k] for k in ("event_precision", "event_recall", "event_f1", "hard_recall")}
    h0 = evaluate_eia930(start=TRAIN_END, rules=QualityRules(hold_rel=float("inf")))
    out["eia930_heldout_without_departure_hold"] = {k: h0[k] for k in ("event_f1", "hard_recall", "false_events",
                                                                       "false_hours", "point_f1")}  # fmt: skip
    out["eia930_seconds"] = time.time() - t
    t = time.time()
    out["nox_validation_2013"] = select_nox_band()
    out["nox"] = evaluate_nox()
    keep = ("band", "recall", "false_alarm_rate", "clean_alarms_dynamic", "clean_alarms_fixed_matched",
            "clean_alarms_by_load_tercile")  # fmt: skip
    for name, prev in (("nox_previous_band_v2", NOX_BAND_V2), ("nox_previous_band_v1", NOX_BAND_V1)):
        p0 = evaluate_nox(**prev)
        out[name] = {k: p0[k] for k in keep}
    # diagnostic on the test years (the choice was made on 2013): the three bands at the chosen band's measured
    # false-alarm rate and at 1 %
    both = {k: NOX_CANDIDATES[k] for k in ("abs-pooled-336", "rel-state-168", out["nox_validation_2013"]["chosen"])}
    out["nox_test_matched_rate"] = {
        f"{rate:.4f}": compare_nox_bands(both, years=(2014, 2015), seed0=0, draws=5, rate=rate)["candidates"]
        for rate in (round(out["nox"]["false_alarm_rate"], 4), 0.01)
    }
    out["nox"]["seconds"] = time.time() - t
    s0 = evaluate_nox(lags=0, window=720, score="abs", by_state=False, scaled=False, q_on=0.99)
    out["nox_state_only"] = {k: s0[k] for k in ("model", "recall", "false_alarm_rate", "clean_alarms_by_load_tercile")}
    if not a.skip_mqtt:
        out["mqtt"] = mqtt_bench(a.seconds, a.rate, a.port, a.sites, alert_store_ms=a.alert_store_ms,
                                 network=a.network)  # fmt: skip
        out["uptime_after"] = _uptime()
    nox, low = out["nox"], out["nox"]["clean_alarms_by_load_tercile"]
    checks = {
        "eia930_event_f1_heldout": (0.88, out["eia930_heldout_2023_2024"]["event_f1"], ">="),
        "eia930_event_f1_all": (0.88, out["eia930_all"]["event_f1"], ">="),
        "eia930_hard_recall_heldout": (0.60, out["eia930_heldout_2023_2024"]["hard_recall"], ">="),
        "eia930_hard_recall_all": (0.60, out["eia930_all"]["hard_recall"], ">="),
        "nox_recall_at_le_1pct_fa": (0.30, nox["recall"] if nox["false_alarm_rate"] <= 0.01 else 0.0, ">="),
        "nox_false_alarm_rate": (0.01, nox["false_alarm_rate"], "<="),
        # clean-data alarms in the lowest-load tercile <= 0.4 x those of a fixed limit with as many clean-data
        # alarms (the matched false-alarm rate; docs/monitor.md says why not the training-q99 limit's 80 alarms)
        "nox_low_load_false_alarms_vs_fixed_matched": (0.4 * low["fixed_matched"]["low"], low["dynamic"]["low"], "<="),
    }
    _finish(out, checks)


def _finish(out: dict, checks: dict) -> None:
    if "mqtt" in out:
        m = out["mqtt"]
        if not m["live_monitor"]:
            m["p99_reading_to_alert_delivered_ms"] = None  # no monitor: the reading -> alert target cannot be met
        checks |= {
            # 5,000 readings/s for 60 s: the publisher offered the rate (it paces whole 10-reading records: 299,990
            # in 60 s) and the consumer kept up (all stored within 2 s of the last publish; a consumer slower than
            # the stream falls further behind every second).  ``stored_per_s`` (over publish + drain) is reported.
            "mqtt_offered_per_s": (4999, m["published_per_s"], ">="),
            "mqtt_drain_after_last_publish_s": (2.0, m["drain_after_last_publish_s"], "<="),
            "mqtt_lost": (0, m["lost"], "<="),
            "mqtt_p99_publish_to_stored_ms": (150, m["p99_publish_to_stored_ms"], "<="),
            # the alert as delivered (published on the alerts topic); its stored copy is reported beside it
            "mqtt_p99_reading_to_alert_delivered_ms": (250, m["p99_reading_to_alert_delivered_ms"], "<="),
            "alerts_explained_share": (1.0, m["alerts_explained_share"], ">="),
        }
    out["checks"] = {
        k: {"target": f"{op} {tgt}", "measured": v,
            "met": v is not None and (v >= tgt if op == ">=" else v <= tgt)}
        for k, (tgt, v, op) in checks.items()
    }  # fmt: skip
    print(json.dumps(out, indent=1, default=float))
    missed = [k for k, c in out["checks"].items() if not c["met"]]
    if missed:
        print(f"target missed: {', '.join(missed)}", file=sys.stderr)
        sys.exit(1)


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
