from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

import airlock
from airlock.executors import with_retry
from airlock.integrations.executors.webhook import (
    ReplayGuard,
    WebhookError,
    WebhookVerificationError,
    sign,
    verify_webhook,
    webhook_executor,
)
from tests.executors.helpers import run_threads
from tests.executors.servers import dripping, serve
from tests.failures import raises_dispatch

SECRET = "s3cret"


def send_receipt(order_id: int, *, email: str = "") -> None:
    raise AssertionError("a webhook executor never runs the task here")


class Receiver:
    """The receiving side as a user would write it: verify, de-duplicate, accept."""

    def __init__(self) -> None:
        self.accepted: list[dict[str, Any]] = []
        self.guard = ReplayGuard()
        self.fail_next = 0
        self.gate: threading.Event | None = None

    def __call__(self, path: str, body: bytes, headers: Any) -> tuple[int, dict[str, str], bytes]:
        if self.gate is not None:
            self.gate.wait(10)
        if path == "/down" or self.fail_next:
            self.fail_next = max(0, self.fail_next - 1)
            return 503, {}, b"maintenance window, come back later" + b"." * 400
        try:
            payload = verify_webhook(body, headers, secret=SECRET, seen=self.guard)
        except WebhookVerificationError as exc:
            return 401, {}, str(exc).encode()
        self.accepted.append({"path": path, **payload})
        return 202, {}, b"accepted"


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def url(receiver: Receiver) -> Iterator[str]:
    with serve(receiver) as (base, received):
        receiver.received = received  # type: ignore[attr-defined]
        yield base


def test_posts_signed_json_the_receiver_verifies(url: str, receiver: Receiver) -> None:
    ex = webhook_executor(f"{url}/hooks", secret=SECRET)
    with airlock.scope(executor=ex):
        sent = airlock.enqueue(send_receipt, 7, email="a@b.c", _key="order-7")
    (got,) = receiver.accepted
    assert got["path"] == "/hooks"
    assert (got["id"], got["key"], got["name"]) == (sent.id, "order-7", "send_receipt")
    assert (got["args"], got["kwargs"]) == ([7], {"email": "a@b.c"})
    assert abs(got["timestamp"] - time.time()) < 60
    ((_, _, headers),) = receiver.received.requests  # type: ignore[attr-defined]
    assert headers["X-Airlock-Id"] == sent.id
    assert headers["Content-Type"] == "application/json"


def test_url_dispatch_option_picks_the_endpoint_per_intent(url: str, receiver: Receiver) -> None:
    ex = webhook_executor(f"{url}/default", secret=SECRET)
    with airlock.scope(executor=ex):
        airlock.enqueue(send_receipt, 1, _dispatch_options={"url": f"{url}/tasks/heavy"})
    assert [a["path"] for a in receiver.accepted] == ["/tasks/heavy"]


def replay(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_receiver_rejects_a_replayed_request(url: str, receiver: Receiver) -> None:
    webhook_executor(f"{url}/hooks", secret=SECRET)(airlock.Intent(task=send_receipt, args=(1,)))
    ((_, body, headers),) = receiver.received.requests  # type: ignore[attr-defined]
    status, text = replay(f"{url}/hooks", body, headers)
    assert (status, text) == (
        401,
        "this request for '{}' was already received (replay)".format(json.loads(body)["id"]),
    )
    assert len(receiver.accepted) == 1


def test_receiver_rejects_a_tampered_body(url: str, receiver: Receiver) -> None:
    webhook_executor(f"{url}/hooks", secret=SECRET)(airlock.Intent(task=send_receipt, args=(1,)))
    ((_, body, headers),) = receiver.received.requests  # type: ignore[attr-defined]
    tampered = body.replace(b"[1]", b"[999]")
    assert tampered != body
    assert replay(f"{url}/hooks", tampered, headers) == (
        401,
        "signature mismatch: wrong secret or a tampered body",
    )
    assert [a["args"] for a in receiver.accepted] == [[1]]


def test_old_timestamp_is_rejected_and_the_error_carries_status_and_excerpt(url: str) -> None:
    stale = webhook_executor(f"{url}/hooks", secret=SECRET, clock=lambda: time.time() - 3600)
    with pytest.raises(WebhookError, match=r"answered 401 .*'timestamp is 36\d\ds off") as info:
        stale(airlock.Intent(task=send_receipt, args=(1,)))
    assert info.value.status == 401


def test_wrong_secret_is_rejected(url: str, receiver: Receiver) -> None:
    with pytest.raises(WebhookError, match="signature mismatch"):
        webhook_executor(url, secret="guess")(airlock.Intent(task=send_receipt, args=(1,)))
    assert receiver.accepted == []


def test_non_2xx_raises_with_status_and_a_short_excerpt(url: str) -> None:
    ex = webhook_executor(f"{url}/down", secret=SECRET)
    with raises_dispatch(WebhookError) as info:
        with airlock.scope(executor=ex):
            airlock.enqueue(send_receipt, 1)
    err = info.value.__cause__
    assert isinstance(err, WebhookError)
    assert err.status == 503 and isinstance(err, airlock.DispatchError)
    assert "answered 503 for send_receipt(1): 'maintenance window, come back later..." in str(err)
    assert str(err).endswith("." * 165 + "'") and len(err.body) == 435  # excerpt: 200 chars


def test_timeout_is_a_clear_error(url: str, receiver: Receiver) -> None:
    receiver.gate = threading.Event()  # the server holds the request until released
    try:
        with pytest.raises(WebhookError, match=r"timed out after 0.2s"):
            webhook_executor(url, secret=SECRET, timeout=0.2)(airlock.Intent(task=send_receipt))
    finally:
        receiver.gate.set()


def test_unreachable_endpoint_is_a_clear_error() -> None:
    with serve(lambda *a: (200, {}, b"")) as (base, _):
        pass  # the port is now closed
    with pytest.raises(WebhookError, match="could not be reached"):
        webhook_executor(base, secret=SECRET)(airlock.Intent(task=send_receipt))


def test_retry_rides_out_a_transient_outage(url: str, receiver: Receiver) -> None:
    receiver.fail_next = 2
    ex = with_retry(webhook_executor(url, secret=SECRET), attempts=3, sleep=lambda s: None)
    with airlock.scope(executor=ex):
        airlock.enqueue(send_receipt, 5)
    assert [a["args"] for a in receiver.accepted] == [[5]]
    assert ex.statistics.retries == 2


def test_arguments_json_cannot_encode_fail_at_enqueue(url: str) -> None:
    with airlock.scope(executor=webhook_executor(url, secret=SECRET)) as s:
        with pytest.raises(TypeError, match=r"argument 'when' \(object .*JSON"):
            airlock.enqueue(send_receipt, 1, when=object())
        assert s.intents == []


def test_bad_configuration_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="secret"):
        webhook_executor("http://127.0.0.1:1/", secret="")
    with pytest.raises(ValueError, match="http"):
        webhook_executor("ftp://example.com", secret=SECRET)


def test_eight_threads_post_concurrently_and_every_one_is_accepted_once(
    url: str, receiver: Receiver
) -> None:
    ex = webhook_executor(url, secret=SECRET)

    def produce(n: int) -> None:
        with airlock.scope(executor=ex):
            for k in range(5):
                airlock.enqueue(send_receipt, n * 100 + k)

    assert run_threads(8, produce) == []
    assert sorted(a["args"][0] for a in receiver.accepted) == sorted(
        n * 100 + k for n in range(8) for k in range(5)
    )
    assert len({a["id"] for a in receiver.accepted}) == 40


def test_verify_webhook_reads_headers_case_insensitively_and_names_missing_ones() -> None:
    body = b'{"id":"x","timestamp":100}'
    headers = {"x-airlock-timestamp": "100", "x-airlock-signature": sign(SECRET, 100, body)}
    assert verify_webhook(body, headers, secret=SECRET, now=lambda: 100)["id"] == "x"
    with pytest.raises(WebhookVerificationError, match="missing X-Airlock-Signature"):
        verify_webhook(body, {}, secret=SECRET)
    with pytest.raises(WebhookVerificationError, match="does not match"):
        forged = b'{"id":"x","timestamp":99}'
        verify_webhook(
            forged,
            {**headers, "x-airlock-signature": sign(SECRET, 100, forged)},
            secret=SECRET,
            now=lambda: 100,
        )


# Redirects are never followed.


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failed_send_and_nothing_reaches_its_target(code: int) -> None:
    with serve(lambda *a: (200, {}, b"stolen")) as (elsewhere, stolen):
        moved = (code, {"Location": f"{elsewhere}/steal?token=t0p"}, b"moved")
        with serve(lambda *a: moved) as (url, received):
            ex = webhook_executor(
                f"{url}/hooks", secret=SECRET, headers={"Authorization": "Bearer caller-token"}
            )
            with pytest.raises(WebhookError) as info:
                ex(airlock.Intent(task=send_receipt, args=(1,)))
    assert stolen.requests == []
    assert len(received.requests) == 1
    assert info.value.status == code
    assert str(info.value) == (
        f"webhook {url}/hooks answered {code} for send_receipt(1), redirecting to "
        f"'{elsewhere}/steal?token=***': redirects are never followed"
    )


# timeout bounds the whole send.


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK",  # the status line never ends
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",  # the body never ends
    ],
    ids=["status-line", "body"],
)
def test_timeout_is_a_deadline_for_the_whole_send_against_a_dripping_server(head: bytes) -> None:
    with dripping(head, every=0.2) as url:
        ex = webhook_executor(url, secret=SECRET, timeout=1)
        started = time.monotonic()
        with pytest.raises(WebhookError, match=r"timed out after 1s"):
            ex(airlock.Intent(task=send_receipt, args=(1,)))
        elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 4, f"the send took {elapsed:.1f}s with timeout=1"


# Receivers: replay protection covers the signed request, de-duplication is the handler's.


class ApplyOnce:
    """The receiver recipe of docs/executors.md: verify, then apply once by intent id,
    recording the id only after the handler succeeded."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.guard = ReplayGuard()
        self.done: set[str] = set()
        self.lock = threading.Lock()
        self.lose_next_answer = False

    def __call__(self, path: str, body: bytes, headers: Any) -> tuple[int, dict[str, str], bytes]:
        try:
            payload = verify_webhook(body, headers, secret=SECRET, seen=self.guard)
        except WebhookVerificationError as exc:
            return 401, {}, str(exc).encode()
        with self.lock:  # one delivery of an id at a time (a database: a unique row)
            if payload["id"] not in self.done:
                try:
                    self.handler(*payload["args"], **payload["kwargs"])
                except Exception as exc:
                    return 500, {}, f"handler failed: {exc}".encode()
                self.done.add(payload["id"])
        if self.lose_next_answer:  # the effect is made, but the sender never hears so
            self.lose_next_answer = False
            return 502, {}, b"bad gateway"
        return 200, {}, b"ok"


def test_a_redelivery_after_the_handler_failed_is_applied_exactly_once() -> None:
    applied: list[int] = []
    calls = 0

    def handler(order_id: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database busy")
        applied.append(order_id)

    with serve(ApplyOnce(handler)) as (url, received):
        ex = with_retry(webhook_executor(url, secret=SECRET), attempts=3, sleep=lambda s: None)
        with airlock.scope(executor=ex):
            sent = airlock.enqueue(send_receipt, 7)
    assert applied == [7]
    assert ex.statistics.retries == 1
    ((_, _, first), (_, _, second)) = received.requests
    assert first["X-Airlock-Id"] == second["X-Airlock-Id"] == sent.id
    assert first["X-Airlock-Signature"] != second["X-Airlock-Signature"]


def test_a_redelivery_after_a_lost_answer_is_acknowledged_and_not_applied_again() -> None:
    applied: list[int] = []
    receiver = ApplyOnce(applied.append)
    receiver.lose_next_answer = True
    with serve(receiver) as (url, received):
        ex = with_retry(webhook_executor(url, secret=SECRET), attempts=3, sleep=lambda s: None)
        with airlock.scope(executor=ex) as s:
            airlock.enqueue(send_receipt, 8)
    assert applied == [8]
    assert len(received.requests) == 2 and ex.statistics.retries == 1
    assert [i.args for i in s.dispatched] == [(8,)]


def test_an_identical_replay_is_rejected_even_after_a_redelivery_was_accepted() -> None:
    applied: list[int] = []
    with serve(ApplyOnce(applied.append)) as (url, received):
        now = time.time()  # both sends signed in the same second: still two signed requests
        ex = webhook_executor(url, secret=SECRET, clock=lambda: now)
        intent = airlock.Intent(task=send_receipt, args=(9,))
        ex(intent)
        ex(intent)  # a redelivery: accepted (and not applied again)
        ((_, first, _), (_, second, _)) = received.requests
        assert json.loads(first)["delivery"] != json.loads(second)["delivery"]
        for _, body, headers in list(received.requests):
            assert replay(url, body, headers) == (
                401,
                f"this request for '{intent.id}' was already received (replay)",
            )
    assert applied == [9]


def test_stale_timestamps_are_rejected_either_way() -> None:
    body = b'{"id":"x","timestamp":1000}'
    headers = {"X-Airlock-Timestamp": "1000", "X-Airlock-Signature": sign(SECRET, 1000, body)}
    for now in (1000 - 301, 1000 + 301):
        with pytest.raises(WebhookVerificationError, match=r"timestamp is -?301s off"):
            verify_webhook(body, headers, secret=SECRET, seen=ReplayGuard(), now=lambda: now)


# Credentials in the url are never printed; the url is checked again at send time.


def test_url_credentials_never_appear_in_repr_errors_logs_or_the_intents_options(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with serve(lambda *a: (503, {}, b"down")) as (url, received):
        url_credentials_are_never_printed(url, received, caplog)


def url_credentials_are_never_printed(
    url: str, received: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="airlock")
    secret_url = url.replace("http://", "http://alice:pa55word@") + "/down?token=t0p&x=1"
    ex = webhook_executor(secret_url, secret=SECRET)
    masked = url.replace("http://", "http://***@")
    assert repr(ex) == f"<webhook_executor {masked}/down?token=***&x=***>"
    with pytest.raises(WebhookError) as failed:
        ex(airlock.Intent(task=send_receipt, args=(1,)))
    assert failed.value.status == 503
    ((path, _, headers),) = received.requests  # the user-info went as Basic auth
    assert (path, headers["Authorization"]) == ("/down?token=t0p&x=1", "Basic YWxpY2U6cGE1NXdvcmQ=")
    with pytest.raises(ValueError) as bad:
        with airlock.scope(executor=ex):
            airlock.enqueue(send_receipt, 3, _dispatch_options={"url": "ftp://u:t0p@h/?token=t0p"})
    other = f"{url}/down?token=t0p"
    with pytest.raises(airlock.DispatchError) as flushed:
        with airlock.scope(executor=ex, policy=airlock.LogOnFlush()) as s:
            queued = airlock.enqueue(send_receipt, 4, _dispatch_options={"url": other})
            assert queued.dispatch_options["url"] == other  # the real url is what is sent
    printed = [str(failed.value), str(bad.value), str(flushed.value), caplog.text]
    printed += [repr(queued), repr(s.intents), repr(queued.dispatch_options)]
    printed += [str(error) for _, error in s.failed]
    assert "dispatching <Intent send_receipt(4)" in caplog.text
    assert [p for p in printed if "t0p" in p or "pa55word" in p or "alice" in p] == []


@pytest.mark.parametrize("bad", ["file:///etc/passwd", "ftp://example.com/x?token=t0p"])
def test_a_url_option_that_skipped_prepare_is_refused_at_send_time(url: str, bad: str) -> None:
    ex = webhook_executor(url, secret=SECRET)  # as the outbox relay calls it: no prepare
    intent = airlock.Intent(task=send_receipt, args=(1,), dispatch_options={"url": bad})
    with pytest.raises(ValueError, match="the webhook url must be an http\\(s\\) URL") as info:
        ex(intent)
    assert "t0p" not in str(info.value)
