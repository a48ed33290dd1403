"""MQTT input of the stream (paho-mqtt 2.x): a buffered socket and read loop for paho's network thread, and the
same client in a process of its own (:func:`reader_process`) that hands the received payloads to the consumer over a
pipe.  Light on purpose (paho and NumPy only): the reader process starts in well under a second.

Why a process: paho's network thread costs ~20-45 µs of Python per reading (reading the packet, the PUBACK,
``on_message``), and in the consumer it holds the GIL the writer thread needs to decode, flag, store and score the
batch; in a process of its own it runs on the other core.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import numpy as np

#: Session expiry asked of the broker (s) under MQTT 5: the subscription and its undelivered QoS 1 messages outlive
#: a consumer restart for this long.
SESSION_EXPIRY_S = 24 * 3600


class _BufferedSocket:
    """A plain TCP socket for paho's network thread that reads up to 256 KiB per ``recv`` system call and gathers
    writes until the loop next polls.

    paho 2.x reads a packet with three to five ``recv`` calls (the command byte, each remaining-length byte, the
    body) and sends each PUBACK with its own ``send``; at 5,000 readings/s that is ~35,000 system calls a second, and
    each one releases the GIL, which the writer thread then holds for up to the switch interval (5 ms) before the
    network thread gets it back.  Here the reads are served from the buffer and the writes leave in one ``send``
    when paho's loop calls :meth:`pending` (once per loop, before its ``select``; a positive answer makes that
    ``select`` not wait, as it does for TLS sockets' buffered bytes).
    """

    __slots__ = ("_buf", "_err", "_out", "_pos", "sock")

    def __init__(self, sock: Any) -> None:
        self.sock, self._buf, self._pos, self._out, self._err = sock, b"", 0, bytearray(), None

    def recv(self, n: int) -> bytes:
        if self._err is not None:
            raise self._err
        if self._pos >= len(self._buf):
            data = self.sock.recv(1 << 18)  # BlockingIOError when nothing arrived: paho's "try again"
            if len(data) <= n:
                return data
            self._buf, self._pos = data, 0
        p = self._pos
        self._pos = p + n
        return self._buf[p : p + n]

    def buffered(self) -> int:
        return max(len(self._buf) - self._pos, 0)

    def send(self, data: bytes | bytearray) -> int:
        if self._err is not None:
            raise self._err
        self._out += data
        if len(self._out) >= 1 << 16:
            self.flush()
        return len(data)

    def flush(self) -> None:
        while self._out and self._err is None:
            try:
                n = self.sock.send(self._out)
            except BlockingIOError:  # the kernel's send buffer is full: the rest goes at the next poll
                return
            except OSError as exc:  # the connection is gone: the next recv/send tells paho
                self._err = exc
                return
            del self._out[:n]

    def pending(self) -> int:
        self.flush()
        return self.buffered() + (1 if self._out else 0)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()

    def __getattr__(self, name: str) -> Any:  # setblocking, settimeout, getpeername, ... of the socket
        return getattr(self.sock, name)


def _client_class() -> type:
    """paho's ``Client`` with :class:`_BufferedSocket` on plain TCP and a read loop that handles every packet
    already buffered before it polls again (paho handles one packet per poll and wakes its own ``select`` through a
    socket pair for each PUBACK it queues; inside this loop the network thread is awake anyway, so that wake-up is
    skipped)."""
    import paho.mqtt.client as mqtt

    class FastClient(mqtt.Client):
        thread_cpu_ns = 0  # CPU time of the network thread (loop_start's), counted when it ends

        def _thread_main(self) -> None:
            t = time.thread_time_ns()
            try:
                super()._thread_main()
            finally:
                self.thread_cpu_ns += time.thread_time_ns() - t

        def _create_socket(self) -> Any:
            sock = super()._create_socket()
            return sock if self._ssl or self._transport != "tcp" else _BufferedSocket(sock)

        def loop_read(self, max_packets: int = 1) -> Any:
            sock = self._sock
            if not isinstance(sock, _BufferedSocket):
                return super().loop_read(max_packets)
            wake, self._sockpairW = self._sockpairW, None
            try:
                rc = super().loop_read(max_packets)
                n = 0
                while not rc and self._sock is sock and sock.buffered() and n < 10_000:
                    rc = super().loop_read(max_packets)
                    n += 1
                return rc
            finally:
                if self._sockpairW is None:
                    self._sockpairW = wake

    return FastClient


def make_client(client_id: str, protocol: str) -> tuple[Any, Any]:
    """A :func:`_client_class` client for a persistent QoS 1 session, and its MQTT 5 CONNECT properties (or None)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    cls = _client_class()
    props = None
    if protocol == "5":
        client = cls(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
    else:
        client = cls(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                     protocol=mqtt.MQTTv311)  # fmt: skip
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(0.1, 2)
    return client, props


def pack(items: list[tuple]) -> bytes:
    """``b"R"``, the count, the arrival times (int64 ns), the payload lengths (int32) and the payloads of
    ``(payload, arrival ns, ...)`` items."""
    n = len(items)
    ns = np.fromiter((it[1] for it in items), dtype=np.int64, count=n)
    lens = np.fromiter((len(it[0]) for it in items), dtype=np.int32, count=n)
    return b"".join([b"R", np.int64(n).tobytes(), ns.tobytes(), lens.tobytes(), *(it[0] for it in items)])


def unpack(msg: bytes) -> tuple[list[bytes], np.ndarray]:
    """The payloads and arrival times of a :func:`pack` message."""
    n = int(np.frombuffer(msg, dtype=np.int64, count=1, offset=1)[0])
    ns = np.frombuffer(msg, dtype=np.int64, count=n, offset=9)
    lens = np.frombuffer(msg, dtype=np.int32, count=n, offset=9 + 8 * n)
    ends = (9 + 12 * n + np.cumsum(lens)).tolist()
    starts = [9 + 12 * n, *ends[:-1]]
    mv = memoryview(msg)
    return [bytes(mv[a:b]) for a, b in zip(starts, ends, strict=True)], ns


def reader_process(conn: Any, host: str, port: int, topics: list[str], client_id: str, protocol: str,
                   max_queue: int, keepalive: int = 30) -> None:  # fmt: skip
    """Body of the reader process: subscribe (QoS 1, persistent session), gather ``(payload, arrival ns)`` and send
    them every ~2 ms as one :func:`pack` message; ``b"C"`` / ``b"D"`` on (dis)connection.  Stops on ``b"stop"``:
    sends what it holds, disconnects, then ``b"E"`` + its CPU time (ns).  Each PUBACK goes once its reading is in the
    pipe (what this process holds when it stops or dies is delivered again by the broker); ``max_queue`` waiting
    readings block paho's thread (backpressure through TCP to the broker)."""
    import signal

    import paho.mqtt.client as mqtt

    # Ctrl-C in a terminal reaches the whole process group, a service manager's SIGTERM every process of the service:
    # the consumer stops this process itself (everything received is handed over first), so neither is for it (it
    # also ends when the consumer is gone: the pipe closes)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    t_cpu = time.process_time_ns()
    client, props = make_client(client_id, protocol)
    buf: deque = deque()
    send_lock = threading.Lock()

    def send(b: bytes) -> None:
        with send_lock:
            conn.send_bytes(b)

    def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, p: Any) -> None:
        if not reason.is_failure:
            opts = mqtt.SubscribeOptions(qos=1) if protocol == "5" else 1
            c.subscribe([(t, opts) for t in topics])

    def on_subscribe(c: Any, userdata: Any, mid: Any, reasons: Any, p: Any) -> None:
        send(b"C")  # subscribed (SUBACK): from now on nothing published to the topics passes by

    def on_disconnect(c: Any, userdata: Any, flags: Any, reason: Any, p: Any) -> None:
        send(b"D")

    append, now = buf.append, time.time_ns
    # each PUBACK goes once the reading is in the pipe (the consumer then has it): a reading this process holds
    # when it stops or dies is not acknowledged, and the broker delivers it again to the session
    client.manual_ack_set(True)

    def on_message(c: Any, userdata: Any, msg: Any) -> None:
        append((msg.payload, now(), msg.mid if msg.qos else None))
        while len(buf) >= max_queue:
            time.sleep(0.001)

    client.on_connect, client.on_disconnect, client.on_message = on_connect, on_disconnect, on_message
    client.on_subscribe = on_subscribe
    if protocol == "5":
        client.connect(host, port, keepalive=keepalive, clean_start=False, properties=props)
    else:
        client.connect(host, port, keepalive=keepalive)
    client.loop_start()

    def flush() -> None:
        if buf:
            items = [buf.popleft() for _ in range(len(buf))]
            send(pack(items))
            for it in items:
                if it[2] is not None:
                    client.ack(it[2], 1)

    while True:
        try:
            if conn.poll(0.002) and conn.recv_bytes() == b"stop":
                break
            flush()
        except (EOFError, OSError):  # the consumer is gone: nothing can take what is held
            client.loop_stop()
            return
    flush()  # handed over and acknowledged; what arrives after this is acknowledged by nobody: the broker keeps it
    client.disconnect()
    client.loop_stop()
    send(b"E" + np.int64(time.process_time_ns() - t_cpu).tobytes())
    conn.close()
