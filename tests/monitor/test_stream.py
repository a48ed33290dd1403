"""MQTT stream ingest against real Mosquitto brokers (the machine's one on 127.0.0.1:1883, and one the test starts
itself on a free loopback port and kills with SIGKILL mid-stream)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("paho.mqtt")
import paho.mqtt.client as mqtt

from coreduce.monitor.live import LiveMonitor
from coreduce.monitor.stream import MqttConsumer, ReliablePublisher, replay
from coreduce.store import Store

pytestmark = pytest.mark.mqtt
T0 = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z in ns


def _up(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _reading(i: int, site: str = "stack-01") -> str:
    return json.dumps({"site": site, "ts": T0 + i * 1_000_000_000, "variable": "stack_NOx", "value": 50.0 + i % 7,
                       "unit": "mg/m^3", "id": i, "sent_ns": time.time_ns()})  # fmt: skip


def _publisher(port: int, cid: str) -> mqtt.Client:
    p = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, clean_session=False, protocol=mqtt.MQTTv311)
    p.max_queued_messages_set(0)
    p.reconnect_delay_set(0.05, 0.5)
    p.connect("127.0.0.1", port)
    p.loop_start()
    return p


def _wait(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


@pytest.mark.skipif(not _up("127.0.0.1", 1883), reason="no Mosquitto on 127.0.0.1:1883")
def test_real_mosquitto_to_observations(tmp_path):
    st = Store(tmp_path / "ws.duckdb")
    topic = f"coreduce/test/{os.getpid()}/{time.time_ns()}"
    c = MqttConsumer(st, "127.0.0.1", 1883, [topic + "/#"], client_id=f"crt-{time.time_ns()}")
    c.start()
    assert c.connected.wait(5)
    p = _publisher(1883, f"crp-{time.time_ns()}")
    n = 1000
    for i in range(n):
        p.publish(topic + "/stack-01", _reading(i), qos=1)
    p.publish(topic + "/stack-01", _reading(7), qos=1)  # a redelivered reading: deduplicated by its key
    p.publish(topic + "/stack-01", b"not json", qos=1)
    assert _wait(lambda: c.sink.stats.received >= n + 2 and not c.sink.pending(), 20)  # + duplicate + bad
    time.sleep(0.3)
    s = c.stop()
    p.loop_stop()
    obs = st.read("observations")
    assert len(obs) == n and obs["ts"].is_unique
    # stored in ug/m^3 by the store's own ingest: 50 mg/m^3 -> 50,000 ug/m^3
    assert obs.loc[0, "value"] == pytest.approx(50_000.0) and obs.loc[0, "unit"] == "ug/m^3"
    assert s.bad == 1 and s.inserted == n


@pytest.mark.skipif(not _up("127.0.0.1", 1883), reason="no Mosquitto on 127.0.0.1:1883")
def test_mqtt_readings_flagged_late_and_alerted(tmp_path):
    """Every streamed reading goes through the live monitor: a reading stamped 20 min before it arrives is
    flagged ``late`` (stored ``suspect``); a stuck run raises one explained quality alert, published on the
    alerts topic as it is decided and stored with its ledger run."""
    st = Store(tmp_path / "ws.duckdb")
    topic = f"coreduce/test/late/{os.getpid()}/{time.time_ns()}"
    got: list[tuple[str, dict]] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"cra-{time.time_ns()}", protocol=mqtt.MQTTv311)
    sub.on_message = lambda c, u, m: got.append((m.topic, json.loads(m.payload)))
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.on_connect = lambda c, *a: c.subscribe(f"{topic}-alerts/#", qos=1)
    sub.connect("127.0.0.1", 1883)
    sub.loop_start()
    assert subscribed.wait(5)
    c = MqttConsumer(st, "127.0.0.1", 1883, [topic], client_id=f"crl-{time.time_ns()}", monitor=LiveMonitor(st),
                     alerts_topic=f"{topic}-alerts")  # fmt: skip
    c.start()
    assert c.connected.wait(5)
    p = _publisher(1883, f"crlp-{time.time_ns()}")
    now = time.time_ns() // 1000 * 1000
    vals = [50.0 + i % 7 for i in range(30)] + [42.0, 42.0, 42.0]  # readings 31, 32 repeat 30: stuck from 32
    for i, v in enumerate(vals):
        ts = now - (1200 if i == 10 else 30 - i) * 1_000_000_000  # reading 10 is 20 min old
        p.publish(topic, json.dumps({"site": "st-1", "ts": ts, "variable": "stack_NOx", "value": v,
                                     "unit": "mg/m^3", "sent_ns": time.time_ns()}), qos=1)  # fmt: skip
    assert _wait(lambda: c.sink.stats.received >= len(vals) and not c.sink.pending(), 20)
    time.sleep(0.3)
    s = c.stop()
    p.loop_stop()
    obs = st.read("observations").sort_values("ts").reset_index(drop=True)
    assert len(obs) == len(vals) and s.late == 1
    assert obs.loc[0, "quality"] == "suspect"  # the 20-min-old reading sorts first
    assert (obs["quality"] == "suspect").sum() == 2  # the late one and the third 42.0 (stuck)
    al = st.read("alerts")
    assert len(al) == 1 and al.loc[0, "kind"] == "quality" and al.loc[0, "flags"] == "stuck"
    assert al.loc[0, "path"].startswith("value_stuck ->") and al.loc[0, "run_id"]
    assert _wait(lambda: len(got) >= 1, 5)
    sub.loop_stop()
    t, msg = got[0]
    assert t == f"{topic}-alerts/st-1" and msg["alert_id"] == al.loc[0, "alert_id"]
    assert msg["kind"] == "quality" and msg["path"] == al.loc[0, "path"] and msg["observed"] == 42.0


MOSQ = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)


@pytest.mark.slow
@pytest.mark.skipif(MOSQ is None, reason="mosquitto not installed")
def test_broker_sigkill_and_consumer_restart_lose_nothing(tmp_path):
    """Own broker (persistence, autosave 1 s) SIGKILLed at reading 1,000 and restarted; the consumer is stopped
    and restarted (same client id: persistent session) at reading 1,500; the publisher re-sends every 100th
    reading.  All 2,000 readings are stored once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # mosquitto started as root drops to its own user, which must reach and write the persistence folder
    # (pytest's tmp_path sits under a 0700 folder: the broker then fails to save and loses its sessions)
    pdir = Path(tempfile.mkdtemp(prefix="coreduce-mosq-"))
    pdir.chmod(0o777)
    conf = tmp_path / "m.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                    f"persistence_location {pdir}/\nautosave_interval 1\nmax_queued_messages 100000\n")  # fmt: skip

    def start() -> subprocess.Popen:
        b = subprocess.Popen([MOSQ, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert _wait(lambda: _up("127.0.0.1", port), 5)
        return b

    broker = start()
    st = Store(tmp_path / "ws.duckdb")
    c = MqttConsumer(st, "127.0.0.1", port, ["r/#"], client_id="res-consumer", monitor=LiveMonitor(st))
    received = inserted = 0
    p = None
    try:
        c.start()
        assert c.connected.wait(5)
        p = ReliablePublisher("127.0.0.1", port, client_id="res-publisher")
        time.sleep(1.5)  # the broker saves both persistent sessions (autosave_interval 1 s)
        n = 2000
        for i in range(n):
            p.publish("r/stack-01", _reading(i))
            if i == 1000:
                broker.send_signal(signal.SIGKILL)
                broker.wait()
                time.sleep(0.3)
                broker = start()
            if i == 1500:
                s1 = c.stop()
                received, inserted = s1.received, s1.inserted
                c = MqttConsumer(st, "127.0.0.1", port, ["r/#"], client_id="res-consumer", monitor=LiveMonitor(st))
                c.start()
            time.sleep(0.002)  # ~400 readings/s
        for i in range(0, n, 100):  # duplicates
            p.publish("r/stack-01", _reading(i))
        ok = _wait(lambda: inserted + c.sink.stats.inserted >= n and p.unacked() == 0, 30)
        assert ok, (inserted, c.sink.stats.as_dict(), p.unacked(), p.republished)
        time.sleep(0.5)
        s2 = c.stop()
        obs = st.read("observations")
        assert len(obs) == n  # 0 lost, duplicates removed by the key
        secs = sorted(int((t.value - T0) // 1_000_000_000) for t in obs["ts"])
        assert secs == list(range(n))
        assert received + s2.received >= n + 20 and inserted + s2.inserted == n
        # every reading also went through the live monitor (flags -> quality): all stored, none refused
        assert set(obs["quality"]) <= {"ok", "suspect"} and s2.bad == 0
    finally:
        if p is not None:
            p.close()
        broker.send_signal(signal.SIGKILL)
        broker.wait()
        shutil.rmtree(pdir, ignore_errors=True)


@pytest.mark.skipif(MOSQ is None, reason="mosquitto not installed")
@pytest.mark.parametrize(
    ("protocol", "ack", "network"),
    [("5", "commit", "thread"), ("3.1.1", "commit", "thread"), ("5", "receipt", "thread"),
     ("5", "receipt", "process"), ("3.1.1", "receipt", "process")],
)  # fmt: skip
def test_protocols_and_acknowledgement_modes(tmp_path, protocol, ack, network):
    """Both protocols and both acknowledgement modes, in paho's (buffered) thread and in the reader process: every
    reading stored once, every one acknowledged to the broker (a consumer reconnecting under the same persistent
    session gets nothing again), and one connection per client id (the broker's log has no session take-over: a
    second client under the session's id once made the broker hand the session back and forth)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "m.conf"
    ldir = Path(tempfile.mkdtemp(prefix="coreduce-mosq-"))  # mosquitto may write it as the mosquitto user
    ldir.chmod(0o777)
    log = ldir / "m.log"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
                    f"log_type all\nlog_dest file {log}\n")  # fmt: skip
    broker = subprocess.Popen([MOSQ, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    p = None
    try:
        assert _wait(lambda: _up("127.0.0.1", port), 5)
        st = Store(tmp_path / "ws.duckdb")
        cid = f"proto-{protocol}-{ack}"
        c = MqttConsumer(st, "127.0.0.1", port, ["p/#"], client_id=cid, ack=ack, protocol=protocol, network=network)
        c.start()
        assert c.connected.wait(5)
        p = ReliablePublisher("127.0.0.1", port, client_id=f"pub-{cid}")
        n = 3000
        for i in range(n):
            p.publish("p/stack-01", _reading(i))
        assert _wait(lambda: c.sink.stats.inserted >= n and not c.sink.pending(), 30), c.sink.stats.as_dict()
        time.sleep(0.5)
        c.stop()
        assert st.count("observations") == n
        again = MqttConsumer(st, "127.0.0.1", port, ["p/#"], client_id=cid, ack=ack, protocol=protocol, network=network)
        again.start()
        assert again.connected.wait(5)
        time.sleep(1.0)
        assert again.stop().received == 0  # the broker holds nothing unacknowledged for the session
        text = log.read_text()
        assert "New client connected from 127.0.0.1" in text and "already connected" not in text
    finally:
        if p is not None:
            p.close()
        broker.send_signal(signal.SIGKILL)
        broker.wait()
        shutil.rmtree(ldir, ignore_errors=True)


def test_replay_file_same_path_idempotent(tmp_path):
    import pandas as pd

    f = tmp_path / "readings.csv"
    pd.DataFrame({"site_id": "stack-01", "ts": pd.date_range("2024-01-01", periods=50, freq="h", tz="UTC"),
                  "variable": "stack_NOx", "value": 40.0, "unit": "mg/m^3"}).to_csv(f, index=False)  # fmt: skip
    st = Store(tmp_path / "ws.duckdb")
    a = replay(st, f, batch_rows=20)
    b = replay(st, f, batch_rows=20)
    assert (a.inserted, a.batches, b.inserted, b.stored_rows) == (50, 3, 0, 50)
    assert st.count("observations") == 50


def test_arrow_batch_decode_equals_message_by_message():
    """The one-pass Arrow decode of a batch gives the frame the message-by-message parse gives (epoch-ns and
    ISO timestamps, integer values, optional unit/quality/state, duplicates), and declines what it cannot
    represent (malformed JSON, a missing field, a payload over two lines) so that the slow path handles it."""
    import numpy as np
    import pandas as pd

    from coreduce.monitor.stream import frame_of_payloads, parse_many, readings_frame

    arrived = np.arange(1, 6, dtype="int64") * 1_000_000_000 + T0
    batches = [
        [_reading(i).encode() for i in range(4)] + [_reading(2).encode()],  # a duplicate key: last copy kept
        [json.dumps({"site": "s", "ts": f"2024-01-01T00:00:0{i}Z", "variable": "load", "value": i, "unit": "MW",
                     "quality": "ok", "state": {"TEY": 1.0 + i} if i % 2 else None}).encode()
         for i in range(5)],
        [json.dumps({"site": "s", "ts": T0 + i, "variable": "x", "value": 1.5}).encode() for i in range(5)],
        [json.dumps({"site": "s", "ts": f"2024-01-01T08:00:0{i}.25+08:00", "variable": "x", "value": 1.5}).encode()
         for i in range(5)],
    ]  # fmt: skip
    for raw in batches:
        fast = frame_of_payloads(raw, "src", arrived[: len(raw)])
        slow = readings_frame(parse_many(raw), "src", arrived[: len(raw)])
        assert fast is not None
        pd.testing.assert_frame_equal(fast.drop(columns="state"), slow.drop(columns="state"))
        norm = [None if not isinstance(s, dict) else s for s in slow["state"]]
        assert list(fast["state"]) == norm
    good = _reading(1).encode()
    for bad in (b"not json", json.dumps({"site": "s", "ts": T0, "variable": "x"}).encode(),
                json.dumps({"site": "s", "ts": T0, "variable": "x", "value": 1.0}, indent=1).encode()):  # fmt: skip
        assert frame_of_payloads([good, bad], "src", arrived[:2]) is None
