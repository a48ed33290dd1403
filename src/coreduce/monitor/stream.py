"""Stream ingest: MQTT (paho-mqtt 2.x, VERSION2 callbacks, QoS 1, persistent session) or a replayed file into
the canonical ``observations`` table, in batches of at most ``batch_ms`` through :meth:`Store.ingest`.

A message is one JSON reading ``{"site": "stack-01", "ts": "2024-01-01T00:00:00Z" | epoch-ns, "variable":
"NOx", "value": 42.0, "unit": "mg/m^3"}`` (optional ``"id"``, ``"sent_ns"``).  Idempotent: the observations key
is (site_id, ts, variable, source), so a reading redelivered after a broker or consumer restart upserts onto
itself; duplicates inside one batch are dropped before the write.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coreduce.errors import InputErrors
from coreduce.store import Store

KEY = ["site_id", "ts", "variable", "source"]


@dataclass
class StreamStats:
    received: int = 0
    stored_rows: int = 0
    inserted: int = 0
    batches: int = 0
    bad: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # publish (sent_ns) -> committed
    processed_ms: list[float] = field(default_factory=list)  # publish (sent_ns) -> on_batch (scoring) done

    def as_dict(self) -> dict[str, Any]:
        lat = np.asarray(self.latencies_ms)

        def q(p: float) -> float | None:
            return float(np.percentile(lat, p)) if len(lat) else None

        def q2(p: float) -> float | None:
            return float(np.percentile(self.processed_ms, p)) if self.processed_ms else None

        return {"received": self.received, "stored_rows": self.stored_rows, "inserted": self.inserted,
                "batches": self.batches, "bad": self.bad, "p50_ms": q(50), "p99_ms": q(99),
                "p99_processed_ms": q2(99)}  # fmt: skip


def readings_frame(msgs: list[dict[str, Any]], source: str) -> pd.DataFrame:
    """Canonical ``observations`` rows from parsed messages (last copy of a key kept)."""
    df = pd.DataFrame({
        "site_id": [m["site"] for m in msgs],
        "ts": pd.to_datetime([m["ts"] for m in msgs], utc=True,
                             unit="ns" if msgs and isinstance(msgs[0]["ts"], int) else None),
        "variable": [m["variable"] for m in msgs],
        "value": [float(m["value"]) for m in msgs],
        "unit": [m.get("unit", "1") for m in msgs],
        "source": source,
        "quality": [m.get("quality", "ok") for m in msgs],
    })  # fmt: skip
    return df.drop_duplicates(KEY, keep="last")


class Sink:
    """Batches readings and writes them through the store's ingest (one transaction per batch)."""

    def __init__(self, store: Store, source: str, *, batch_ms: int = 100,
                 on_batch: Callable[[pd.DataFrame], None] | None = None) -> None:  # fmt: skip
        self.store, self.source, self.batch_ms = store, source, batch_ms
        self.on_batch = on_batch
        self.stats = StreamStats()
        self.last_error: str | None = None
        self._buf: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def put(self, msg: dict[str, Any]) -> None:
        with self._lock:
            self._buf.append(msg)
            self.stats.received += 1

    def flush(self) -> int:
        with self._lock:
            msgs, self._buf = self._buf, []
        if not msgs:
            return 0
        df = readings_frame(msgs, self.source).reset_index(drop=True)
        try:
            rep = self.store.ingest({"observations": df}, source=self.source)
        except InputErrors as exc:  # refuse the bad readings (counted, last error kept), store the rest
            bad = {e.row - 2 for e in exc.errors if e.row is not None}  # error rows count the header, 1-based
            if not bad or exc.count > len(exc.errors):
                bad = set(range(len(df)))
            self.stats.bad += len(bad)
            self.last_error = str(exc.errors[0])
            df = df.drop(index=sorted(bad))
            if df.empty:
                return 0
            rep = self.store.ingest({"observations": df}, source=self.source)
        now = time.time_ns()
        self.stats.batches += 1
        self.stats.stored_rows += rep.rows["observations"]
        self.stats.inserted += rep.inserted["observations"]
        self.stats.latencies_ms += [(now - m["sent_ns"]) / 1e6 for m in msgs if "sent_ns" in m]
        if self.on_batch is not None:
            self.on_batch(df)
            done = time.time_ns()
            self.stats.processed_ms += [(done - m["sent_ns"]) / 1e6 for m in msgs if "sent_ns" in m]
        return len(df)

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                t0 = time.monotonic()
                self.flush()
                self._stop.wait(max(0.0, self.batch_ms / 1000 - (time.monotonic() - t0)))
            self.flush()

        self._thread = threading.Thread(target=loop, name="coreduce-monitor-sink", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def parse(payload: bytes) -> dict[str, Any] | None:
    try:
        m = json.loads(payload)
        if not {"site", "ts", "variable", "value"} <= set(m):
            return None
        return m
    except (ValueError, TypeError):
        return None


class MqttConsumer:
    """Subscribe to ``topics`` on ``host:port`` (QoS 1, ``clean_session=False`` under ``client_id``) and feed a
    :class:`Sink`.  Messages are acknowledged by paho after the callback returns; readings are buffered and
    committed within ``batch_ms``."""

    def __init__(self, store: Store, host: str, port: int, topics: Iterable[str], *,
                 client_id: str = "coreduce-monitor", batch_ms: int = 100,
                 on_batch: Callable[[pd.DataFrame], None] | None = None) -> None:  # fmt: skip
        import paho.mqtt.client as mqtt

        self.host, self.port, self.topics = host, port, list(topics)
        self.sink = Sink(store, f"mqtt://{host}:{port}", batch_ms=batch_ms, on_batch=on_batch)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                                  protocol=mqtt.MQTTv311)  # fmt: skip
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.1, 2)
        self.connected = threading.Event()

        def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            if not reason.is_failure:
                client.subscribe([(t, 1) for t in self.topics])
                self.connected.set()

        def on_message(client: Any, userdata: Any, msg: Any) -> None:
            m = parse(msg.payload)
            if m is None:
                self.sink.stats.bad += 1
                return
            self.sink.put(m)

        self.client.on_connect = on_connect
        self.client.on_message = on_message

    def start(self) -> None:
        self.sink.start()
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> StreamStats:
        self.client.loop_stop()
        self.client.disconnect()
        self.sink.stop()
        return self.sink.stats


def replay(store: Store, path: str | Path, *, batch_rows: int = 5000) -> StreamStats:
    """Replay a readings file (CSV/Parquet with ``site_id|site, ts, variable, value, unit``) through the same
    batching path into ``observations`` (source = the file name)."""
    p = Path(path)
    df = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
    df = df.rename(columns={"site_id": "site"})
    sink = Sink(store, str(p.name))
    for i in range(0, len(df), batch_rows):
        for m in df.iloc[i : i + batch_rows].to_dict("records"):
            sink.put(m)
        sink.flush()
    return sink.stats


class ReliablePublisher:
    """Edge-side MQTT publisher with store-and-forward (QoS 1, persistent session).

    QoS 1 is hop-by-hop: a reading handed to paho while the broker is down (or acknowledged by nobody before a
    broker SIGKILL) can be lost — measured here: ~160 of 2,000 readings at 400/s across a 0.3 s outage.  This
    publisher keeps every reading until its PUBACK arrives and re-publishes the unacknowledged ones after each
    reconnect; the consumer's idempotent key removes the duplicates that causes.
    """

    def __init__(self, host: str, port: int, *, client_id: str, max_inflight: int = 200) -> None:
        import paho.mqtt.client as mqtt

        self._lock = threading.Lock()
        self.pending: dict[int, tuple[str, bytes | str]] = {}
        self._early: set[int] = set()
        self.republished = 0
        self._connects = 0
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                        protocol=mqtt.MQTTv311)  # fmt: skip
        c.max_queued_messages_set(0)
        c.max_inflight_messages_set(max_inflight)
        c.reconnect_delay_set(0.05, 1)
        c.on_publish = self._on_publish
        c.on_connect = self._on_connect
        self.client = c
        c.connect(host, port, keepalive=10)
        c.loop_start()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._lock:
            if self.pending.pop(mid, None) is None:
                self._early.add(mid)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._connects += 1
        if self._connects == 1 or reason.is_failure:
            return
        with self._lock:
            again, self.pending = list(self.pending.values()), {}
        for topic, payload in again:
            self.publish(topic, payload)
            self.republished += 1

    def publish(self, topic: str, payload: bytes | str) -> None:
        """Publish one reading at QoS 1 and keep it until acknowledged."""
        info = self.client.publish(topic, payload, qos=1)
        with self._lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
            else:
                self.pending[info.mid] = (topic, payload)

    def unacked(self) -> int:
        with self._lock:
            return len(self.pending)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
