"""The batched Celery path on RabbitMQ over TLS, when the broker stops reading mid-chunk.

A real TLS server (a throwaway self-signed certificate) in front of the real RabbitMQ forwards
what Celery writes, then stops reading after a megabyte, as a stalled broker or network does.
A TLS write that times out may already have sent some records: no message that reached the
queue may be reported unsent.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airlock import Intent
from tests.processes import wait_until
from tests.services import SERVICES, amqp_url, require_module, require_service

require_module("celery", "celery")

from celery import Celery  # noqa: E402
from kombu import Queue  # noqa: E402

from airlock.integrations.executors import BatchDispatchError  # noqa: E402
from airlock.integrations.executors.celery import CeleryBatchExecutor  # noqa: E402

pytestmark = pytest.mark.requires("rabbitmq")

QUEUE = "broker_perf_tls"
STALL_AFTER = 3 << 19  # bytes the proxy forwards before it stops reading: mid-way in a write


class StallingTLSProxy:
    """TLS in front of RabbitMQ; each connection stops being read after ``STALL_AFTER`` bytes
    once ``stall`` is set."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.stall = threading.Event()
        self.resume = threading.Event()
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.done.is_set():
            try:
                client, _ = self.listener.accept()
                tls = self.context.wrap_socket(client, server_side=True)
            except OSError:
                continue
            broker = socket.create_connection(SERVICES["rabbitmq"])
            threading.Thread(target=self._pump, args=(tls, broker, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(broker, tls, False), daemon=True).start()

    def _pump(self, source: Any, target: Any, stalls: bool) -> None:
        forwarded = 0
        try:
            while True:
                if stalls and self.stall.is_set() and forwarded >= STALL_AFTER:
                    self.resume.wait()  # the client gave up meanwhile: what it wrote still goes
                    forwarded, stalls = 0, False
                data = source.recv(65536)
                if not data:
                    return
                target.sendall(data)
                if self.stall.is_set():
                    forwarded += len(data)
        except OSError:
            return

    def close(self) -> None:
        self.done.set()
        self.resume.set()
        self.listener.close()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[StallingTLSProxy]:
    require_service("rabbitmq")
    if shutil.which("openssl") is None:  # pragma: no cover - Debian and CI have it
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server = StallingTLSProxy(cert, key)
    yield server
    server.close()


def _queued_ids() -> list[str]:
    plain = Celery("airlock_perf_tls_reader", broker=amqp_url(), set_as_current=False)
    with plain.connection_for_write() as conn:
        channel = conn.default_channel
        ids = []
        while (message := channel.basic_get(QUEUE, no_ack=True)) is not None:
            ids.append(message.headers["id"])
    plain.close()
    return ids


def test_a_stalled_tls_write_reports_nothing_unsent_that_arrived(proxy: StallingTLSProxy) -> None:
    app = Celery(
        "airlock_perf_tls",
        broker=f"amqp://guest:guest@127.0.0.1:{proxy.port}//",
        set_as_current=False,
    )
    app.conf.update(
        broker_use_ssl={"cert_reqs": ssl.CERT_NONE},
        broker_connection_timeout=1.0,  # py-amqp's TLS socket keeps it as its write timeout
        broker_connection_retry_on_startup=False,
        task_default_queue=QUEUE,
        task_queues=[Queue(QUEUE)],
    )

    @app.task(name="perf.big", shared=False)
    def big(text: str) -> int:
        return len(text)

    app.finalize()
    with app.connection_for_write() as conn:
        Queue(QUEUE)(conn.default_channel).declare()
        conn.default_channel.queue_purge(QUEUE)
    try:
        executor = CeleryBatchExecutor(chunk_size=500)
        executor.publish_all([Intent(task=big, args=("warm-up",))])  # through TLS, confirmed
        assert len(_queued_ids()) == 1
        proxy.stall.set()
        intents = [Intent(task=big, args=("x" * 20_000,)) for _ in range(500)]  # 10 MB
        with pytest.raises(BatchDispatchError) as caught:
            executor.publish_all(intents)
        error = caught.value
        fates = [*error.sent, *error.unsent, *error.in_doubt]
        assert sorted(map(id, fates)) == sorted(map(id, intents))
        assert error.in_doubt  # the write stalled part-way
        proxy.resume.set()
        sent, arrived = {i.id for i in error.sent}, set()

        def every_confirmed_one_read() -> bool:
            arrived.update(_queued_ids())
            return sent <= arrived

        wait_until(every_confirmed_one_read, what="the confirmed messages")
        assert not arrived & {i.id for i in error.unsent}
        assert arrived <= sent | {i.id for i in error.in_doubt}
    finally:
        plain = Celery("airlock_perf_tls_cleanup", broker=amqp_url(), set_as_current=False)
        with plain.connection_for_write() as conn:
            conn.default_channel.queue_delete(QUEUE)
        plain.close()
        app.close()

