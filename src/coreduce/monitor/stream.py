"""Stream ingest: MQTT (paho-mqtt 2.x, VERSION2 callbacks, MQTT 3.1.1 or 5, QoS 1, persistent session) or a replayed
file into the canonical ``observations`` table through :meth:`Store.ingest`, and every reading through the live
monitor (:class:`~coreduce.monitor.live.LiveMonitor`: quality flags, dynamic band, scores, explained alerts).

A message is one JSON reading ``{"site": "stack-01", "ts": "2024-01-01T00:00:00Z" | epoch-ns, "variable":
"NOx", "value": 42.0, "unit": "mg/m^3"}`` (optional ``"id"``, ``"sent_ns"`` = publish time for latency,
``"state": {"TEY": 130.2, ...}`` = the operating state at that reading).

Reading: by default (``ack="receipt"``) paho's loop runs in a reader process of its own
(:func:`coreduce.monitor.mqtt_io.reader_process`) that hands payloads over a pipe; ``network="thread"`` keeps it in this
process. Threads: paho's network thread (:func:`_client_class`: a buffered socket, every buffered packet handled per
poll), or the pipe's pump thread, only appends ``(payload, arrival time, message id)`` to a deque (``max_queue`` waiting
readings block it: backpressure through TCP to the broker, which holds QoS 1 messages for the session); one writer
thread takes a batch when its oldest reading has waited ``batch_ms`` (or ``max_rows`` wait, or at once when it finishes
a batch that took longer: the batching adapts to the store), decodes it with one Arrow JSON pass, flags it, writes it in
one transaction and scores it; the alerts go with their ledger record on a third thread (:class:`_AlertWriter`).
Acknowledgement: ``ack="receipt"`` (default) lets paho send the PUBACK when the message is queued — the broker's
in-flight window (20 by default) then never stalls the stream, and a graceful stop stores everything queued, but a
consumer *killed* with readings still queued loses them; ``ack="commit"`` sends each PUBACK only after the reading's
batch is committed (nothing is lost even then: the broker redelivers), at the price of a throughput bounded by the
broker's in-flight window per batch — in one 10 s run at 5,000 readings/s offered to the machine's default
Mosquitto (queue 1,000 per client, after which it drops QoS 1 messages) on the loaded 2-core box, 3,392 of 23,140
readings arrived. Idempotent: the observations key is (site_id, ts,
variable, source), so a redelivered reading upserts onto itself; duplicates inside a batch are dropped first.

Broker: QoS 1 is hop by hop; Mosquitto keeps at most ``max_queued_messages`` (default 1,000) for a subscriber
that reads slower than the stream and silently drops the rest, in either acknowledgement mode.  Measured: 60 s
offered to the machine's broker on the loaded box, 22,929 of 59,550 readings lost there; with a broker run with
``max_queued_messages 0`` (what ``benchmarks/monitor.py`` starts), 0 of 111,370 lost.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coreduce.errors import InputErrors
from coreduce.monitor.alerts import store_alerts
from coreduce.monitor.mqtt_io import _client_class, reader_process
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
    arrival_ms: list[float] = field(default_factory=list)  # publish -> received by this consumer (network + broker)
    decided_ms: list[float] = field(default_factory=list)  # publish -> flags, band and alert decision done
    alert_ms: list[float] = field(default_factory=list)  # publish -> alert stored, for readings that raised one
    delivered_ms: list[float] = field(default_factory=list)  # publish -> alert handed to ``on_alert`` (published)
    batch_rows: list[int] = field(default_factory=list)
    cpu_ns: dict[str, int] = field(default_factory=dict)  # stage -> CPU time (thread time) of the stage

    def as_dict(self) -> dict[str, Any]:
        def q(a: list[float], p: float) -> float | None:
            return float(np.percentile(a, p)) if a else None

        return {"received": self.received, "stored_rows": self.stored_rows, "inserted": self.inserted,
                "batches": self.batches, "bad": self.bad, "late": self.late, "alerts": self.alerts,
                "queue_max": self.queue_max, "p50_ms": q(self.latencies_ms, 50), "p99_ms": q(self.latencies_ms, 99),
                "p50_arrival_ms": q(self.arrival_ms, 50), "p99_arrival_ms": q(self.arrival_ms, 99),
                "p50_decided_ms": q(self.decided_ms, 50), "p99_decided_ms": q(self.decided_ms, 99),
                "p50_alert_ms": q(self.alert_ms, 50), "p99_alert_ms": q(self.alert_ms, 99),
                "p50_delivered_ms": q(self.delivered_ms, 50), "p99_delivered_ms": q(self.delivered_ms, 99),
                "mean_batch_rows": float(np.mean(self.batch_rows)) if self.batch_rows else None,
                "cpu_us_per_reading": {k: v / 1e3 / self.received for k, v in self.cpu_ns.items()}
                if self.received else {}}  # fmt: skip


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


def frame_of_payloads(payloads: list[bytes], source: str, arrived_ns: np.ndarray) -> pd.DataFrame | None:
    """:func:`readings_frame` of a batch of raw JSON payloads in one pass of Arrow's JSON reader (C++, no Python
    object per reading); ``None`` when the batch is not the plain case (a malformed payload, a payload over
    several lines, a missing or null field, a field of another type, mixed timestamp forms): the caller then
    parses it message by message."""
    import pyarrow as pa
    import pyarrow.json as pj

    try:
        joined = b"\n".join(payloads)
    except TypeError:  # not all bytes
        return None
    if joined.count(b"\n") != len(payloads) - 1:
        return None
    try:
        opts = pj.ReadOptions(use_threads=False, block_size=len(joined) + 1)
        tb = pj.read_json(pa.py_buffer(joined), read_options=opts)
        if "ts" in tb.column_names and pa.types.is_timestamp(tb["ts"].type):
            # Arrow read ISO 8601 text as timestamps itself: read it as text, parsed below as pandas does
            text = pj.ParseOptions(explicit_schema=pa.schema([pa.field("ts", pa.string())]))
            tb = pj.read_json(pa.py_buffer(joined), read_options=opts, parse_options=text)
    except (pa.ArrowException, ValueError):
        return None
    names = set(tb.column_names)
    if tb.num_rows != len(payloads) or not {"site", "ts", "variable", "value"} <= names:
        return None
    cols = [c for c in ("site", "ts", "variable", "value", "unit", "quality", "sent_ns", "state") if c in names]
    if any(tb[c].null_count for c in cols if c != "state"):
        return None
    t = {c: tb[c].type for c in cols}
    text = [c for c in ("site", "variable", "unit", "quality") if c in t]
    if (not all(pa.types.is_string(t[c]) for c in text) or not pa.types.is_integer(t.get("sent_ns", pa.int64()))
            or not (pa.types.is_floating(t["value"]) or pa.types.is_integer(t["value"]))
            or ("state" in t and not pa.types.is_struct(t["state"]))):  # fmt: skip
        return None
    try:
        if pa.types.is_integer(t["ts"]):  # epoch-ns
            ts = pd.to_datetime(tb["ts"].to_numpy().astype("int64"), utc=True, unit="ns")
        elif pa.types.is_string(t["ts"]):
            ts = pd.to_datetime(tb["ts"].to_numpy(zero_copy_only=False), utc=True, format="ISO8601")
        else:
            return None
    except (ValueError, TypeError, OverflowError):
        return None
    n = tb.num_rows

    def text_col(c: str, default: str) -> Any:
        return tb[c].to_numpy(zero_copy_only=False) if c in t else default

    state = np.full(n, None, dtype=object)
    if "state" in t:  # rare: the operating state carried by the reading
        for i, s in enumerate(tb["state"].to_pylist()):
            if s is not None:
                state[i] = {k: v for k, v in s.items() if v is not None}
    a = np.asarray(arrived_ns, dtype="int64")
    df = pd.DataFrame({
        "site_id": text_col("site", ""),
        "ts": ts,
        "variable": text_col("variable", ""),
        "value": tb["value"].to_numpy().astype(float),
        "unit": text_col("unit", "1"),
        "source": source,
        "quality": text_col("quality", "ok"),
        "sent_ns": tb["sent_ns"].to_numpy().astype("int64") if "sent_ns" in t else np.zeros(n, dtype="int64"),
        "state": state,
        "arrived": pd.to_datetime(np.where(a > 0, a, ts.asi8), utc=True, unit="ns"),
    })  # fmt: skip
    return df.drop_duplicates(KEY, keep="last").reset_index(drop=True)


class _AlertWriter:
    """Stores a live monitor's alerts with their ledger record on a thread and a store connection of its own.

    A ledger run costs tens of milliseconds of CPU whatever its size (validation, hashing, the footprint, the
    record): inline, every batch of readings that raised an alert waited for it.  Here the writer hands the
    alerts over and goes on; alerts raised while a run is written are stored together in the next run (the last
    version of an alert id wins, as when they were stored one batch after the other).
    """

    def __init__(self, store: Store, stats: StreamStats, sink: Sink, every_ms: int = 0) -> None:
        self.store = Store(store.url, create=False)
        self.stats, self.sink, self.every_ns = stats, sink, every_ms * 1_000_000
        self._last_run = 0
        self.items: deque = deque()
        from coreduce.ledger import Ledger

        self.ledger: Any = Ledger(self.store, footprint="fallback")  # at start: its table checks off the stream
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="coreduce-monitor-alerts", daemon=True)
        self._thread.start()

    def put(self, alerts: pd.DataFrame, kwargs: dict, trig_sent_ns: np.ndarray) -> None:
        self.items.append((alerts, kwargs, trig_sent_ns))

    def _loop(self) -> None:
        while not (self._stop.is_set() and not self.items):
            wait = self._last_run + self.every_ns - time.monotonic_ns()
            if not self.items or (wait > 0 and not self._stop.is_set()):
                time.sleep(min(max(wait, 0) / 1e9, 0.01) if self.items else 0.002)
                continue
            self._last_run = time.monotonic_ns()
            t = time.thread_time_ns()
            got = [self.items.popleft() for _ in range(len(self.items))]
            alerts = pd.concat([g[0] for g in got], ignore_index=True).drop_duplicates("alert_id", keep="last")
            try:
                if self.ledger is None:
                    from coreduce.ledger import Ledger

                    self.ledger = Ledger(self.store, footprint="fallback")
                store_alerts(self.store, alerts, ledger=self.ledger, **got[-1][1])
            except Exception as exc:  # keep the stream alive; the error is the sink's last error
                self.sink.last_error = f"alerts: {type(exc).__name__}: {exc}"
            else:
                now = time.time_ns()
                for g in got:
                    trig = g[2]
                    self.stats.alert_ms += ((now - trig[trig > 0]) / 1e6).tolist()
            self.stats.cpu_ns["alert_store"] = self.stats.cpu_ns.get("alert_store", 0) + time.thread_time_ns() - t

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.store.close()


class Sink:
    """A bounded buffer of raw readings and the writer thread that stores, flags and scores them.

    The network thread only appends ``(payload, arrival ns, message id)`` to a deque (:meth:`put`); the writer
    takes a batch when its oldest reading has waited ``batch_ms`` or ``max_rows`` are waiting, decodes it in one
    Arrow pass (:func:`frame_of_payloads`), writes it in one transaction and runs the monitor on it.  The CPU
    time of each stage (thread time) is kept in ``stats.cpu_ns``.

    Parameters
    ----------
    batch_ms : int
        Longest wait of a reading before its batch is taken (the writer's latency budget on top of the write).
    max_rows : int
        Take a batch as soon as this many readings wait.
    max_queue : int
        Waiting readings at which :meth:`put` blocks (backpressure: paho's thread stops reading, TCP and then
        the broker hold the rest).
    monitor : LiveMonitor, optional
        Runs on every batch: quality flags before the write (a late or flagged reading is stored with quality
        ``suspect``; one the quality layer marks invalid with ``invalid``), dynamic band, scores and alerts
        after the commit.
    ack : callable, optional
        Called with the message ids of a batch once it is committed (manual MQTT acknowledgement).
    on_alert : callable, optional
        Called with the alerts a batch opened or closed (``alerts`` rows, ``run_id`` empty) as soon as the monitor
        has decided them, before they are stored (e.g. :class:`MqttConsumer` publishes them on ``alerts_topic``).
    alert_store_ms : int
        At most one ledger run of alerts per this many milliseconds (the alerts decided meanwhile are stored
        together; 0 = a run as soon as the previous one ends).  A run costs tens of milliseconds of CPU whatever
        its size, on the GIL the stream shares.
    """

    def __init__(self, store: Store, source: str, *, batch_ms: int = 25, max_rows: int = 20_000,
                 max_queue: int = 100_000, monitor: Any = None, ack: Callable[[list[int]], None] | None = None,
                 on_batch: Callable[[pd.DataFrame], None] | None = None,
                 on_alert: Callable[[pd.DataFrame], None] | None = None, alert_store_ms: int = 0) -> None:  # fmt: skip
        self.store, self.source, self.batch_ms, self.max_rows = store, source, batch_ms, max_rows
        self.max_queue = max_queue
        self.monitor, self.ack, self.on_batch, self.on_alert = monitor, ack, on_batch, on_alert
        self.alert_store_ms = alert_store_ms
        self.stats = StreamStats()
        self.last_error: str | None = None
        self.buffer: deque = deque()  # appended by the network thread, taken by the writer (both atomic)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = threading.Lock()
        self._alerts: _AlertWriter | None = None

    def put(self, payload: bytes | dict[str, Any], arrived_ns: int | None = None, mid: int | None = None) -> None:
        """Queue one reading (raw JSON bytes or a parsed dict); blocks while ``max_queue`` readings wait."""
        self.buffer.append((payload, time.time_ns() if arrived_ns is None else arrived_ns, mid))
        if len(self.buffer) >= self.max_queue:
            self.wait_room()

    def wait_room(self) -> None:
        while len(self.buffer) >= self.max_queue and not self._stop.is_set():
            time.sleep(0.001)

    def pending(self) -> int:
        return len(self.buffer)

    def _take(self, n: int) -> list[tuple]:
        pop = self.buffer.popleft
        return [pop() for _ in range(n)]

    def flush(self, items: list[tuple] | None = None) -> int:
        """Store (and monitor) one batch: the given items, or all queued now."""
        with self._busy:
            if items is None:
                items = self._take(len(self.buffer))
            if not items:
                return 0
            return self._write(items)

    def _cpu(self, stage: str, t0: int) -> int:
        t = time.thread_time_ns()
        self.stats.cpu_ns[stage] = self.stats.cpu_ns.get(stage, 0) + t - t0
        return t

    def _write(self, items: list[tuple]) -> int:
        t = time.thread_time_ns()
        self.stats.received += len(items)
        self.stats.queue_max = max(self.stats.queue_max, len(items) + len(self.buffer))
        raw = [it[0] for it in items]
        arrived = np.fromiter((it[1] for it in items), dtype="int64", count=len(items))
        mids = [it[2] for it in items if it[2] is not None]
        t = self._cpu("take", t)
        df = frame_of_payloads(raw, self.source, arrived) if isinstance(raw[0], bytes | bytearray) else None
        if df is None:  # message by message: a malformed or unusual payload in the batch
            df = self._frame_slow(raw, arrived)
        t = self._cpu("decode", t)
        n = self._store_and_monitor(df) if len(df) else 0
        if self.ack is not None and mids:
            t = time.thread_time_ns()
            self.ack(mids)
            self._cpu("ack", t)
        return n

    def _frame_slow(self, raw: list, arrived: np.ndarray) -> pd.DataFrame:
        if raw and isinstance(raw[0], bytes | bytearray):
            parsed = parse_many(raw)
        else:
            parsed = [m if isinstance(m, dict) else parse(m) for m in raw]
        ok = [i for i, m in enumerate(parsed) if m is not None]
        self.stats.bad += len(parsed) - len(ok)
        msgs = [parsed[i] for i in ok]
        if not msgs:
            return pd.DataFrame()
        arr = arrived[ok]
        try:
            return readings_frame(msgs, self.source, arr)
        except (KeyError, ValueError, TypeError) as exc:  # a field of the wrong type: refuse the batch's bad rows
            return self._frame_one_by_one(msgs, arr, exc)

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
        t = time.thread_time_ns()
        pre = self.monitor.before_write(df) if self.monitor is not None else None
        if pre is not None:
            df = df.assign(quality=pre["quality"].to_numpy())
        t = self._cpu("quality", t)
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
        t = self._cpu("ingest", t)
        self.stats.batches += 1
        self.stats.batch_rows.append(len(df))
        if rep is not None:
            self.stats.stored_rows += rep.rows["observations"]
            self.stats.inserted += rep.inserted["observations"]
        sent = df["sent_ns"].to_numpy()
        has = sent > 0
        self.stats.latencies_ms += ((now - sent[has & stored_mask]) / 1e6).tolist()
        if has.any():  # where the time went before the writer: publisher, loopback, broker, this consumer's socket
            arrived = df["arrived"].to_numpy("datetime64[ns]").astype("int64")
            self.stats.arrival_ms += ((arrived[has & stored_mask] - sent[has & stored_mask]) / 1e6).tolist()
        if self.monitor is not None:
            t = time.thread_time_ns()
            res = self.monitor.after_write(df, pre)
            done = time.time_ns()
            t = self._cpu("monitor", t)
            alert_cpu = getattr(res, "store_cpu_ns", 0) if res is not None else 0
            if alert_cpu:  # the alerts' write and ledger record, counted apart
                self.stats.cpu_ns["monitor"] -= alert_cpu
                self.stats.cpu_ns["alert_store"] = self.stats.cpu_ns.get("alert_store", 0) + alert_cpu
            self.stats.decided_ms += ((done - sent[has]) / 1e6).tolist()
            if res is not None and res.alert_rows is not None and len(res.alert_rows):
                self.stats.alerts += len(res.alert_rows)
                trig = sent[res.alert_rows]
                if res.deferred is None:
                    self.stats.alert_ms += ((res.stored_ns - trig[trig > 0]) / 1e6).tolist()
            if res is not None and self.on_alert is not None and len(res.alerts):
                try:  # delivered the moment they are decided (the store and its ledger run follow)
                    self.on_alert(res.deferred[0] if res.deferred is not None else res.alerts)
                except Exception as exc:  # a failing delivery never stops the stream
                    self.last_error = f"on_alert: {type(exc).__name__}: {exc}"
                else:
                    if res.alert_rows is not None and len(res.alert_rows):
                        trig = sent[res.alert_rows]
                        self.stats.delivered_ms += ((time.time_ns() - trig[trig > 0]) / 1e6).tolist()
            if res is not None and res.deferred is not None:
                if self._alerts is not None:  # the alert thread stores them (and measures their latency)
                    self._alerts.put(*res.deferred, sent[res.alert_rows] if len(res.alert_rows) else sent[:0])
                else:
                    store_alerts(self.monitor.store, res.deferred[0], **res.deferred[1])
            self.stats.late += int(pre["late"].sum()) if pre is not None else 0
        if self.on_batch is not None:
            self.on_batch(df)
        return int(stored_mask.sum())

    def start(self) -> None:
        mon = self.monitor
        if mon is not None and hasattr(mon, "warm_up"):
            mon.warm_up()
        if mon is not None and getattr(mon, "store", None) is not None and ":memory:" not in str(mon.store.url):
            try:
                self._alerts = _AlertWriter(mon.store, self.stats, self, every_ms=self.alert_store_ms)
                mon.defer_alerts = True
            except Exception as exc:  # no second connection to this store: alerts stored inline
                self.last_error = f"alerts stored inline: {type(exc).__name__}: {exc}"

        def loop() -> None:
            buf, wait_ns = self.buffer, self.batch_ms * 1_000_000
            while not self._stop.is_set():
                n = len(buf)
                if not n:
                    time.sleep(0.002)
                    continue
                age = time.time_ns() - buf[0][1]
                if n < self.max_rows and age < wait_ns:  # the oldest reading may wait a little longer
                    time.sleep(min((wait_ns - age) / 1e9, 0.005))
                    continue
                with self._busy:
                    items = self._take(min(len(buf), self.max_rows))
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
        if self._alerts is not None:  # every alert handed over is stored before stop returns
            self._alerts.stop()
            self.monitor.defer_alerts = False
            self._alerts = None


class MqttConsumer:
    """Subscribe to ``topics`` on ``host:port`` and feed a :class:`Sink`.

    A persistent session under ``client_id``, QoS 1 subscriptions: a restarted consumer gets what was published
    meanwhile.  ``protocol="3.1.1"`` (default): ``clean_session=False`` (the broker keeps the session until its own
    ``persistent_client_expiration``, by default for ever); ``protocol="5"``: ``clean_start=False`` and a session
    expiry of :data:`SESSION_EXPIRY_S`.  MQTT 5 costs the network thread about twice the CPU per reading (paho
    builds and clears a ``Properties`` object for every PUBLISH): measured here on 30,000 queued readings,
    34 µs vs 18 µs per reading with :func:`_client_class`'s buffered socket (53 µs vs 40 µs with paho's own).
    ``ack`` = ``"receipt"`` or ``"commit"`` (see the module docstring).  ``stats.cpu_ns["network"]`` is the CPU
    time of paho's thread (reading, PUBACKs, ``on_message``).  ``alerts_topic``: every alert the monitor opens or
    closes is published at once as JSON on ``<alerts_topic>/<site_id>`` (QoS 1; outside the subscribed topics), its
    store and ledger run following (``alert_store_ms``: at most one run per that many milliseconds).
    """

    def __init__(self, store: Store, host: str, port: int, topics: Iterable[str], *,
                 client_id: str = "coreduce-monitor", batch_ms: int = 25, max_queue: int = 100_000,
                 monitor: Any = None, on_batch: Callable[[pd.DataFrame], None] | None = None,
                 ack: str = "receipt", protocol: str = "3.1.1", alerts_topic: str | None = None,
                 alert_store_ms: int = 1000, network: str | None = None) -> None:  # fmt: skip
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        if ack not in ("receipt", "commit"):
            raise ValueError(f"ack={ack!r}: expected 'receipt' or 'commit'")
        if protocol not in ("3.1.1", "5"):
            raise ValueError(f"protocol={protocol!r}: expected '3.1.1' or '5'")
        # the reader process by default with acknowledgement on receipt (either protocol); ``ack="commit"`` needs
        # paho's thread in this process (the acknowledgement follows the writer's commit)
        network = network or ("process" if ack == "receipt" else "thread")
        if network not in ("thread", "process"):
            raise ValueError(f"network={network!r}: expected 'thread' or 'process'")
        if network == "process" and ack == "commit":
            raise ValueError("ack='commit' needs network='thread' (the reader process acknowledges on receipt)")
        self.host, self.port, self.topics, self.protocol = host, port, list(topics), protocol
        self.network, self.client_id, self._proc, self._conn, self._reader = network, client_id, None, None, None
        if alerts_topic and any(mqtt.topic_matches_sub(t, f"{alerts_topic}/x") for t in self.topics):
            raise ValueError(f"alerts_topic={alerts_topic!r} lies under a subscribed topic ({', '.join(self.topics)}): "
                             "the consumer would read its own alerts as readings")  # fmt: skip
        cls = _client_class()
        if protocol == "5":
            self.client = cls(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        else:
            self.client = cls(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                              protocol=mqtt.MQTTv311)  # fmt: skip
        self.client.manual_ack_set(ack == "commit")
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.1, 2)
        self.sink = Sink(store, f"mqtt://{host}:{port}", batch_ms=batch_ms, max_queue=max_queue, monitor=monitor,
                         ack=self._ack if ack == "commit" else None, on_batch=on_batch,
                         on_alert=self._publish_alerts if alerts_topic else None,
                         alert_store_ms=alert_store_ms)  # fmt: skip
        self.alerts_topic = alerts_topic
        self.connected = threading.Event()
        self._props = None
        if protocol == "5":
            self._props = Properties(PacketTypes.CONNECT)
            self._props.SessionExpiryInterval = SESSION_EXPIRY_S

        def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            if not reason.is_failure:
                opts = mqtt.SubscribeOptions(qos=1) if protocol == "5" else 1
                client.subscribe([(t, opts) for t in self.topics])

        def on_subscribe(client: Any, userdata: Any, mid: Any, reasons: Any, props: Any) -> None:
            self.connected.set()  # subscribed (SUBACK): from now on nothing published to the topics passes by

        def on_disconnect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            self.connected.clear()

        # the whole per-reading work of the network thread: one tuple appended (the writer does the rest)
        sink, append, now, manual = self.sink, self.sink.buffer.append, time.time_ns, ack == "commit"

        def on_message(client: Any, userdata: Any, msg: Any) -> None:
            append((msg.payload, now(), msg.mid if manual and msg.qos else None))
            if len(sink.buffer) >= sink.max_queue:
                sink.wait_room()

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_disconnect = on_disconnect
        self.client.on_message = on_message

        if network == "process":  # paho's reading loop lives in the reader process (same client id, same session)
            self.client = None
        # alerts leave on a client of their own (another client id: a second connection under the reading session's
        # id would take the session over, and the broker would hand it back and forth), so that reading can stop
        # before the last batches are stored while their alerts are still published
        self._alert_client = None
        if alerts_topic:
            self._alert_client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{client_id}-alerts",
                                             protocol=mqtt.MQTTv311)  # fmt: skip
            self._alert_client.max_queued_messages_set(0)

    def _publish_alerts(self, alerts: pd.DataFrame) -> None:
        """Each alert as one JSON message on ``<alerts_topic>/<site_id>`` (QoS 1): what an operator's screen or a
        plant's DCS subscribes to; the same alert id again when the alert closes (``ts_end``, ``status``)."""
        cols = [c for c in alerts.columns if c != "run_id"]
        text = alerts[cols].to_json(orient="records", date_format="iso", date_unit="ms", lines=True)
        for site, line in zip(alerts["site_id"].to_numpy(), text.splitlines(), strict=True):
            self._alert_client.publish(f"{self.alerts_topic}/{site}", line, qos=1)

    def _ack(self, mids: list[int]) -> None:
        for mid in mids:
            self.client.ack(mid, 1)

    def start(self) -> None:
        self.sink.start()
        if self._alert_client is not None:
            self._alert_client.connect(self.host, self.port, keepalive=30)
            self._alert_client.loop_start()
        if self.network == "process":
            self._start_process()
            return
        if self.protocol == "5":
            self.client.connect(self.host, self.port, keepalive=30, clean_start=False, properties=self._props)
        else:
            self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def _start_process(self) -> None:
        """The reader process (spawned: no fork of a process holding DuckDB's threads) and the thread that moves
        its messages into the sink's buffer (``recv`` waits without the GIL)."""
        import multiprocessing

        from coreduce.monitor.mqtt_io import unpack

        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=reader_process, name="coreduce-mqtt-reader", daemon=True,
                                 args=(child, self.host, self.port, self.topics, self.client_id, self.protocol,
                                       self.sink.max_queue))  # fmt: skip
        self._proc.start()
        child.close()
        sink, conn = self.sink, self._conn

        def pump() -> None:
            while True:
                try:
                    msg = conn.recv_bytes()
                except (EOFError, OSError):  # the reader process is gone
                    self.connected.clear()
                    return
                kind = msg[:1]
                if kind == b"R":
                    payloads, ns = unpack(msg)
                    sink.buffer.extend(zip(payloads, ns.tolist(), [None] * len(payloads), strict=True))
                    if len(sink.buffer) >= sink.max_queue:
                        sink.wait_room()
                elif kind == b"C":
                    self.connected.set()
                elif kind == b"D":
                    self.connected.clear()
                elif kind == b"E":
                    sink.stats.cpu_ns["network"] = sink.stats.cpu_ns.get("network", 0) + int(
                        np.frombuffer(msg, dtype=np.int64, count=1, offset=1)[0]
                    )
                    return

        self._reader = threading.Thread(target=pump, name="coreduce-mqtt-pump", daemon=True)
        self._reader.start()

    def _stop_process(self) -> None:
        """Disconnect the reader process; everything it received reaches the sink before this returns."""
        if self._proc is None:  # stopped before it started
            return
        try:
            self._conn.send_bytes(b"stop")
        except OSError:  # already gone
            pass
        self._reader.join(timeout=60)
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.kill()
        self._conn.close()

    def stop(self) -> StreamStats:
        """Store and acknowledge what was received, then disconnect (the session stays on the broker)."""
        if self.network == "process":
            self._stop_process()
        elif self.client is not None:
            # reading stops first: paho acknowledges on receipt, so a reading it took after the writer's last batch
            # would be acknowledged and never stored (under ``ack="commit"`` the acknowledgements of the last batches
            # are not sent after this: the broker delivers those readings again, and they are stored once)
            self.client.disconnect()
            self.client.loop_stop()
            self.sink.stats.cpu_ns["network"] = self.sink.stats.cpu_ns.get("network", 0) + self.client.thread_cpu_ns
            self.client.thread_cpu_ns = 0
        end = time.monotonic() + 30
        while self.sink.pending() and time.monotonic() < end:
            time.sleep(0.02)
        self.sink.stop()
        if self._alert_client is not None:
            self._alert_client.disconnect()
            self._alert_client.loop_stop()
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
            sink.buffer.append((m, 0, None))  # arrival unknown: a replay is never "late"
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
