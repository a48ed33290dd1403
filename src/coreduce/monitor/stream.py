"""Stream ingest: MQTT (paho-mqtt 2.x, VERSION2 callbacks, MQTT 5, QoS 1, persistent session) or a replayed file
into the canonical ``observations`` table through :meth:`Store.ingest`, and every reading through the live
monitor (:class:`~coreduce.monitor.live.LiveMonitor`: quality flags, dynamic band, scores, explained alerts).

A message is one JSON reading ``{"site": "stack-01", "ts": "2024-01-01T00:00:00Z" | epoch-ns, "variable":
"NOx", "value": 42.0, "unit": "mg/m^3"}`` (optional ``"id"``, ``"sent_ns"`` = publish time for latency,
``"state": {"TEY": 130.2, ...}`` = the operating state at that reading).

Threads: paho's network thread only queues ``(payload, arrival time, message id)`` on a bounded queue (a full queue
blocks it: backpressure through TCP to the broker, which holds QoS 1 messages for the session); one writer thread
drains the queue, parses, flags and writes the batch in one transaction. Acknowledgement: ``ack="receipt"``
(default) lets paho send the PUBACK when the message is queued — the broker's in-flight window (20 by default) then
never stalls the stream, and a graceful stop stores everything queued, but a consumer *killed* with readings still
queued loses them; ``ack="commit"`` sends each PUBACK only after the reading's batch is committed (nothing is lost
even then: the broker redelivers), at the price of a throughput bounded by the broker's in-flight window per batch —
in one 10 s run at 5,000 readings/s offered to the machine's default Mosquitto (queue 1,000 per client, after which
it drops QoS 1 messages) on the loaded 2-core box, 3,392 of 23,140 readings arrived. The writer does not wait a
fixed interval: it takes what arrived while it wrote the previous batch, so a batch covers at most ``batch_ms`` when
the store keeps up and the batching adapts when it does not. Idempotent: the observations key is (site_id, ts,
variable, source), so a redelivered reading upserts onto itself; duplicates inside a batch are dropped first.

Broker: QoS 1 is hop by hop; Mosquitto keeps at most ``max_queued_messages`` (default 1,000) for a subscriber
that reads slower than the stream and silently drops the rest, in either acknowledgement mode.  Measured: 60 s
offered to the machine's broker on the loaded box, 22,929 of 59,550 readings lost there; with a broker run with
``max_queued_messages 0`` (what ``benchmarks/monitor.py`` starts), 0 of 111,370 lost.
"""

from __future__ import annotations

import json
import queue
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
#: Session expiry asked of the broker (s): the subscription and its undelivered QoS 1 messages outlive a
#: consumer restart for this long.
SESSION_EXPIRY_S = 24 * 3600


@dataclass
class StreamStats:
    received: int = 0
    stored_rows: int = 0
    inserted: int = 0
    batches: int = 0
    bad: int = 0
    late: int = 0
    alerts: int = 0
    queue_max: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # publish (sent_ns) -> committed
    decided_ms: list[float] = field(default_factory=list)  # publish -> flags, band and alert decision done
    alert_ms: list[float] = field(default_factory=list)  # publish -> alert stored, for readings that raised one
    batch_rows: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def q(a: list[float], p: float) -> float | None:
            return float(np.percentile(a, p)) if a else None

        return {"received": self.received, "stored_rows": self.stored_rows, "inserted": self.inserted,
                "batches": self.batches, "bad": self.bad, "late": self.late, "alerts": self.alerts,
                "queue_max": self.queue_max, "p50_ms": q(self.latencies_ms, 50), "p99_ms": q(self.latencies_ms, 99),
                "p50_decided_ms": q(self.decided_ms, 50), "p99_decided_ms": q(self.decided_ms, 99),
                "p50_alert_ms": q(self.alert_ms, 50), "p99_alert_ms": q(self.alert_ms, 99),
                "mean_batch_rows": float(np.mean(self.batch_rows)) if self.batch_rows else None}  # fmt: skip


def readings_frame(msgs: list[dict[str, Any]], source: str, arrived_ns: np.ndarray | None = None) -> pd.DataFrame:
    """Canonical ``observations`` rows from parsed messages (last copy of a key kept), plus the extra columns
    ``arrived`` (arrival time), ``sent_ns`` and ``state`` the monitor uses (dropped before the write)."""
    ts_raw = [m["ts"] for m in msgs]
    if ts_raw and all(isinstance(t, int) for t in ts_raw):
        ts = pd.to_datetime(np.asarray(ts_raw, dtype="int64"), utc=True, unit="ns")
    else:
        ts = pd.to_datetime(ts_raw, utc=True, format="ISO8601")
    df = pd.DataFrame({
        "site_id": [m["site"] for m in msgs],
        "ts": ts,
        "variable": [m["variable"] for m in msgs],
        "value": np.asarray([m["value"] if m["value"] is not None else np.nan for m in msgs], dtype=float),
        "unit": [m.get("unit", "1") for m in msgs],
        "source": source,
        "quality": [m.get("quality", "ok") for m in msgs],
        "sent_ns": np.asarray([m.get("sent_ns", 0) for m in msgs], dtype="int64"),
        "state": [m.get("state") for m in msgs],
    })  # fmt: skip
    if arrived_ns is None:
        df["arrived"] = pd.Timestamp.now(tz="UTC")
    else:  # 0 = arrival unknown (a replayed file): never late
        a = np.asarray(arrived_ns, dtype="int64")
        df["arrived"] = pd.to_datetime(np.where(a > 0, a, ts.asi8 if hasattr(ts, "asi8") else ts.astype("int64")),
                                       utc=True, unit="ns")  # fmt: skip
    return df.drop_duplicates(KEY, keep="last").reset_index(drop=True)


def parse(payload: bytes) -> dict[str, Any] | None:
    try:
        m = json.loads(payload)
        if not isinstance(m, dict) or not {"site", "ts", "variable", "value"} <= set(m):
            return None
        return m
    except (ValueError, TypeError):
        return None


def parse_many(payloads: list[bytes]) -> list[dict[str, Any] | None]:
    """Parse a batch of JSON payloads in one ``json.loads`` call (one per payload when any is malformed)."""
    try:
        out = json.loads(b"[" + b",".join(payloads) + b"]")
        if len(out) == len(payloads) and all(
            isinstance(m, dict) and "site" in m and "ts" in m and "variable" in m and "value" in m for m in out
        ):
            return out
    except (ValueError, TypeError):
        pass
    return [parse(p) for p in payloads]


class Sink:
    """A bounded queue of raw readings and the writer thread that stores, flags and scores them.

    Parameters
    ----------
    monitor : LiveMonitor, optional
        Runs on every batch: quality flags before the write (a late or flagged reading is stored with quality
        ``suspect``; one the quality layer marks invalid with ``invalid``), dynamic band, scores and alerts
        after the commit.
    ack : callable, optional
        Called with the message ids of a batch once it is committed (manual MQTT acknowledgement).
    """

    def __init__(self, store: Store, source: str, *, batch_ms: int = 100, max_queue: int = 100_000,
                 monitor: Any = None, ack: Callable[[list[int]], None] | None = None,
                 on_batch: Callable[[pd.DataFrame], None] | None = None) -> None:  # fmt: skip
        self.store, self.source, self.batch_ms = store, source, batch_ms
        self.monitor, self.ack, self.on_batch = monitor, ack, on_batch
        self.stats = StreamStats()
        self.last_error: str | None = None
        self.q: queue.Queue = queue.Queue(maxsize=max_queue)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = threading.Lock()

    def put(self, payload: bytes | dict[str, Any], arrived_ns: int | None = None, mid: int | None = None) -> None:
        """Queue one reading (raw JSON bytes or a parsed dict); blocks while the queue is full."""
        self.q.put((payload, time.time_ns() if arrived_ns is None else arrived_ns, mid))

    def pending(self) -> int:
        return self.q.qsize()

    def _drain(self, first_wait: float) -> list[tuple]:
        try:
            items = [self.q.get(timeout=first_wait)]
        except queue.Empty:
            return []
        while True:
            try:
                items.append(self.q.get_nowait())
            except queue.Empty:
                return items

    def flush(self, items: list[tuple] | None = None) -> int:
        """Store (and monitor) one batch: the given items, or all queued now."""
        with self._busy:
            if items is None:
                items = self._drain(0.0)
            if not items:
                return 0
            return self._write(items)

    def _write(self, items: list[tuple]) -> int:
        self.stats.received += len(items)
        self.stats.queue_max = max(self.stats.queue_max, len(items) + self.q.qsize())
        raw = [it[0] for it in items]
        mids = [it[2] for it in items if it[2] is not None]
        if raw and isinstance(raw[0], bytes | bytearray):
            parsed = parse_many(raw)
        else:
            parsed = [m if isinstance(m, dict) else parse(m) for m in raw]
        ok = [i for i, m in enumerate(parsed) if m is not None]
        self.stats.bad += len(parsed) - len(ok)
        msgs = [parsed[i] for i in ok]
        n = 0
        if msgs:
            arrived = np.asarray([items[i][1] for i in ok], dtype="int64")
            try:
                df = readings_frame(msgs, self.source, arrived)
            except (KeyError, ValueError, TypeError) as exc:  # a field of the wrong type: refuse the batch's bad rows
                df = self._frame_one_by_one(msgs, arrived, exc)
            if len(df):
                n = self._store_and_monitor(df)
        if self.ack is not None and mids:
            self.ack(mids)
        return n

    def _frame_one_by_one(self, msgs: list[dict], arrived: np.ndarray, exc: Exception) -> pd.DataFrame:
        good = []
        for m, a in zip(msgs, arrived, strict=True):
            try:
                good.append(readings_frame([m], self.source, np.asarray([a])))
            except (KeyError, ValueError, TypeError) as e:
                self.stats.bad += 1
                self.last_error = f"reading {str(m)[:80]}: {e}"
        return pd.concat(good, ignore_index=True).drop_duplicates(KEY, keep="last") if good else pd.DataFrame()

    def _store_and_monitor(self, df: pd.DataFrame) -> int:
        pre = self.monitor.before_write(df) if self.monitor is not None else None
        if pre is not None:
            df = df.assign(quality=pre["quality"].to_numpy())
        obs = df[["site_id", "ts", "variable", "value", "unit", "source", "quality"]]
        stored_mask = np.ones(len(df), dtype=bool)
        try:
            rep = self.store.ingest({"observations": obs}, source=self.source)
        except InputErrors as exc:  # refuse the bad readings (counted, last error kept), store the rest
            bad = {e.row - 2 for e in exc.errors if e.row is not None}  # error rows count the header, 1-based
            if not bad or exc.count > len(exc.errors):
                bad = set(range(len(obs)))
            self.stats.bad += len(bad)
            self.last_error = str(exc.errors[0])
            stored_mask[sorted(bad)] = False
            rep = (
                self.store.ingest({"observations": obs[stored_mask]}, source=self.source) if stored_mask.any() else None
            )
        now = time.time_ns()
        self.stats.batches += 1
        self.stats.batch_rows.append(len(df))
        if rep is not None:
            self.stats.stored_rows += rep.rows["observations"]
            self.stats.inserted += rep.inserted["observations"]
        sent = df["sent_ns"].to_numpy()
        has = sent > 0
        self.stats.latencies_ms += ((now - sent[has & stored_mask]) / 1e6).tolist()
        if self.monitor is not None:
            res = self.monitor.after_write(df, pre)
            done = time.time_ns()
            self.stats.decided_ms += ((done - sent[has]) / 1e6).tolist()
            if res is not None and res.alert_rows is not None and len(res.alert_rows):
                self.stats.alerts += len(res.alert_rows)
                trig = sent[res.alert_rows]
                self.stats.alert_ms += ((res.stored_ns - trig[trig > 0]) / 1e6).tolist()
            self.stats.late += int(pre["late"].sum()) if pre is not None else 0
        if self.on_batch is not None:
            self.on_batch(df)
        return int(stored_mask.sum())

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                items = self._drain(self.batch_ms / 1000)
                if items:
                    with self._busy:
                        try:
                            self._write(items)
                        except Exception as exc:  # keep the stream alive; unacknowledged readings come back
                            self.last_error = f"{type(exc).__name__}: {exc}"
            self.flush()

        self._thread = threading.Thread(target=loop, name="coreduce-monitor-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class MqttConsumer:
    """Subscribe to ``topics`` on ``host:port`` and feed a :class:`Sink`.

    MQTT 5 with ``clean_start=False`` and a session expiry of :data:`SESSION_EXPIRY_S` under ``client_id``
    (a persistent session: a restarted consumer gets what was published meanwhile), QoS 1 subscriptions;
    ``ack`` = ``"receipt"`` or ``"commit"`` (see the module docstring).
    """

    def __init__(self, store: Store, host: str, port: int, topics: Iterable[str], *,
                 client_id: str = "coreduce-monitor", batch_ms: int = 100, max_queue: int = 100_000,
                 monitor: Any = None, on_batch: Callable[[pd.DataFrame], None] | None = None,
                 ack: str = "receipt") -> None:  # fmt: skip
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self.host, self.port, self.topics = host, port, list(topics)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if ack not in ("receipt", "commit"):
            raise ValueError(f"ack={ack!r}: expected 'receipt' or 'commit'")
        self.client.manual_ack_set(ack == "commit")
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.1, 2)
        self.sink = Sink(store, f"mqtt://{host}:{port}", batch_ms=batch_ms, max_queue=max_queue, monitor=monitor,
                         ack=self._ack if ack == "commit" else None, on_batch=on_batch)  # fmt: skip
        self.connected = threading.Event()
        self._props = Properties(PacketTypes.CONNECT)
        self._props.SessionExpiryInterval = SESSION_EXPIRY_S

        def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            if not reason.is_failure:
                client.subscribe([(t, mqtt.SubscribeOptions(qos=1)) for t in self.topics])
                self.connected.set()

        def on_disconnect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            self.connected.clear()

        put, manual = self.sink.put, ack == "commit"

        def on_message(client: Any, userdata: Any, msg: Any) -> None:
            put(msg.payload, time.time_ns(), msg.mid if manual and msg.qos else None)

        self.client.on_connect = on_connect
        self.client.on_disconnect = on_disconnect
        self.client.on_message = on_message

    def _ack(self, mids: list[int]) -> None:
        for mid in mids:
            self.client.ack(mid, 1)

    def start(self) -> None:
        self.sink.start()
        self.client.connect(self.host, self.port, keepalive=30, clean_start=False, properties=self._props)
        self.client.loop_start()

    def stop(self) -> StreamStats:
        """Store and acknowledge what was received, then disconnect (the session stays on the broker)."""
        end = time.monotonic() + 30
        while self.sink.pending() and time.monotonic() < end:
            time.sleep(0.02)
        self.sink.stop()
        self.client.disconnect()
        self.client.loop_stop()
        return self.sink.stats


def replay(store: Store, path: str | Path, *, batch_rows: int = 5000, monitor: Any = None) -> StreamStats:
    """Replay a readings file (CSV/Parquet with ``site_id|site, ts, variable, value, unit``) through the same
    batching path into ``observations`` (source = the file name), and through ``monitor`` when given."""
    p = Path(path)
    df = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
    df = df.rename(columns={"site_id": "site"})
    sink = Sink(store, str(p.name), monitor=monitor)
    recs = df.to_dict("records")
    for i in range(0, len(recs), batch_rows):
        for m in recs[i : i + batch_rows]:
            m["ts"] = str(m["ts"])
            sink.q.put((m, 0, None))  # arrival unknown: a replay is never "late"
        sink.flush()
    return sink.stats


class ReliablePublisher:
    """Edge-side MQTT publisher with store-and-forward (QoS 1, persistent session).

    QoS 1 is hop-by-hop: a reading handed to paho while the broker is down (or acknowledged by nobody before a
    broker SIGKILL) can be lost — measured here: ~160 of 2,000 readings at 400/s across a 0.3 s outage.  This
    publisher keeps every reading until its PUBACK arrives and re-publishes the unacknowledged ones after each
    reconnect; the consumer's idempotent key removes the duplicates that causes.
    """

    def __init__(self, host: str, port: int, *, client_id: str, max_inflight: int = 1000) -> None:
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
