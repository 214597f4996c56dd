"""The web side shared by the dramatiq, huey, django-q2 and Django tasks suites.

Each suite describes its queue with a ``QueueSuite`` (its tasks, how to reach the worker without
airlock, the dispatch options that route and delay) and mounts ``urls(suite)``. The views run
inside ``AirlockMiddleware``'s scope and enqueue in ``atomic``, like application code.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from typing import Any

from django.db import connections, transaction
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, path

import airlock
from integrations.common.models import Note
from integrations.common.recorder import Recorder

View = Callable[[HttpRequest], JsonResponse]


@dataclasses.dataclass
class QueueSuite:
    recorder: Recorder
    record: Any  # task(label, *args, **kwargs): records that it ran
    record_note: Any  # task(label, note_id): records the Note's text as the worker sees it
    spawn: Any  # task(tag, fail[, via]): records "spawn", enqueues a follow-up, may fail
    send_direct: Callable[[str], object]  # send record(label) straight to the broker
    routed: Mapping[str, Any] | None  # options for the queue only the "other" worker reads
    delayed: Mapping[str, Any] | None  # options delaying by a few seconds (relative)
    eta_option: str = "eta"  # where prepare() put the absolute time
    direct_in_thread: bool = False  # the broker lives in the database: send outside the atomic

    def worker_ran_so_far(self, tag: str) -> list[str]:
        """Send a sentinel straight to the broker and wait until the worker ran it.

        The worker takes messages in order, one at a time: anything airlock had already sent
        would have run before the sentinel, so the labels so far are everything that left.
        """
        if self.direct_in_thread:  # a new thread has its own connection, outside the atomic

            def send() -> None:
                try:
                    self.send_direct(tag)
                finally:
                    connections.close_all()

            thread = threading.Thread(target=send)
            thread.start()
            thread.join()
        else:
            self.send_direct(tag)
        self.recorder.wait_for(tag)
        return self.recorder.labels()


def urls(suite: QueueSuite, strict_bypass: View | None = None) -> list[URLPattern]:
    """The suite's views; ``strict_bypass``: the suite's view that publishes directly inside
    ``atomic`` (strict mode reports its line, so it lives in the suite's own ``urls.py``)."""

    def order(request: HttpRequest) -> JsonResponse:
        """Write a Note and enqueue two tasks in atomic; ?outcome=commit|rollback|error."""
        outcome = request.GET.get("outcome", "commit")
        with transaction.atomic():
            note = Note.objects.create(text="order 7")
            airlock.enqueue(suite.record_note, "note", note.pk)
            mail = airlock.enqueue(
                suite.record, "mail", 7, to="ann@example.com", _key=f"mail-{note.pk}"
            )
            ran_inside = suite.worker_ran_so_far("sentinel-inside-atomic")
            if outcome == "rollback":
                transaction.set_rollback(True)
            elif outcome == "error":
                raise RuntimeError("the view fails: the request's intents are discarded")
        return JsonResponse({"note": note.pk, "key": mail.key, "ran_inside": ran_inside})

    def options(request: HttpRequest) -> JsonResponse:
        """One task for the other worker's queue, one for the default queue, one delayed."""
        with transaction.atomic():
            if suite.routed is not None:
                airlock.enqueue(suite.record, "routed", _dispatch_options=suite.routed)
            airlock.enqueue(suite.record, "default")
            if suite.delayed is None:
                return JsonResponse({"eta": None})
            later = airlock.enqueue(suite.record, "later", _dispatch_options=suite.delayed)
        return JsonResponse({"eta": later.dispatch_options[suite.eta_option].timestamp()})

    def spawns(request: HttpRequest) -> JsonResponse:
        """Two tasks that enqueue follow-ups: the first fails, the second succeeds.

        ``?via=<name>``: the worker's named executor for the follow-ups (a ``via`` argument).
        """
        via = {"via": request.GET["via"]} if "via" in request.GET else {}
        with transaction.atomic():
            airlock.enqueue(suite.spawn, "bad", True, **via)
            airlock.enqueue(suite.spawn, "good", False, **via)
        return JsonResponse({})

    def strict_enqueue(request: HttpRequest) -> JsonResponse:
        """Strict mode: the same call as the suite's bypass, through ``airlock.enqueue``."""
        with transaction.atomic():
            Note.objects.create(text="enqueue")
            airlock.enqueue(suite.record, "through-airlock")
        return JsonResponse({})

    patterns = [path("order/", order), path("options/", options), path("spawns/", spawns)]
    if strict_bypass is not None:
        patterns += [path("strict/bypass/", strict_bypass), path("strict/enqueue/", strict_enqueue)]
    return patterns


# -- the checks each suite runs against its real worker(s) -------------------------------------


def check_commit_runs_exactly_the_tasks(client: Any, suite: QueueSuite, prefix: str) -> dict:
    """(a) nothing left before the commit, (b) after it the worker ran exactly the two tasks.

    Returns the entries by label, so a suite can check what its backend recorded (message id).
    """
    response = client.get(f"/{prefix}/order/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ran_inside"] == ["sentinel-inside-atomic"], "a task left before the commit"
    suite.recorder.wait_for("mail")
    assert suite.worker_ran_so_far("sentinel-after") == [
        "sentinel-inside-atomic",
        "note",
        "mail",
        "sentinel-after",
    ]
    by_label = {entry["label"]: entry for entry in suite.recorder.entries()}
    assert by_label["note"]["args"] == [body["note"]]
    assert by_label["note"]["text"] == "order 7", "the task must see the committed row"
    assert by_label["mail"]["args"] == [7]
    assert by_label["mail"]["kwargs"] == {"to": "ann@example.com"}
    by_label["mail"]["key"] = body["key"]
    return by_label


def check_rolled_back_requests_run_nothing(client: Any, suite: QueueSuite, prefix: str) -> None:
    """(c) a request whose transaction rolls back, or that fails, sends nothing."""
    assert client.get(f"/{prefix}/order/?outcome=rollback").status_code == 200
    assert client.get(f"/{prefix}/order/?outcome=error").status_code == 500
    assert suite.worker_ran_so_far("sentinel-after") == [
        "sentinel-inside-atomic",
        "sentinel-inside-atomic",
        "sentinel-after",
    ]
    assert not Note.objects.exists()


def check_dispatch_options(client: Any, suite: QueueSuite, prefix: str) -> None:
    """(d) the routed task runs only on the worker of its queue; the delayed one not early."""
    response = client.get(f"/{prefix}/options/")
    assert response.status_code == 200, response.content
    eta = response.json()["eta"]
    if suite.routed is not None:
        suite.recorder.wait_for("routed")
    suite.recorder.wait_for("default")
    by_label = {entry["label"]: entry for entry in suite.recorder.entries()}
    if suite.routed is not None:
        assert by_label["routed"]["worker"] == "other"
    assert by_label["default"]["worker"] == "main"
    if suite.delayed is not None:
        later = [e for e in suite.recorder.wait_for("later") if e["label"] == "later"]
        assert len(later) == 1 and later[0]["at"] >= eta, f"ran at {later[0]['at']}, eta {eta}"


def check_follow_up_only_after_success(
    client: Any, suite: QueueSuite, prefix: str, via: str | None = None
) -> None:
    """(e) a task that enqueues a follow-up and fails sends nothing; one that succeeds does.

    ``via``: the worker's named executor the follow-ups go through (default: its executor).
    """
    query = f"?via={via}" if via else ""
    assert client.get(f"/{prefix}/spawns/{query}").status_code == 200
    suite.recorder.wait_for("follow-up")
    suite.worker_ran_so_far("sentinel-after")
    ran = [(e["label"], e["args"]) for e in suite.recorder.entries()]
    assert ran == [
        ("spawn", ["bad"]),
        ("spawn", ["good"]),
        ("follow-up", ["good"]),
        ("sentinel-after", []),
    ]
