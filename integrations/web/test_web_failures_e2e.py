"""Web end to end, failure paths: the broker is down when a committed request dispatches.

Each framework's server process sends to a Redis URL where nothing listens (a free port, so the
connection is refused for real; no mock). A committed request still answers 200 with its row
written; its intents get the fate ``failed`` (Celery gave up publishing), which is logged, and
the server goes on serving. Nothing raises into the committed request.
"""

from __future__ import annotations

import pytest

from integrations.web.servers import fates, free_port, order_rows, serving


@pytest.mark.parametrize("framework", ["fastapi", "flask"])
def test_with_the_broker_down_a_committed_request_answers_and_its_intents_fail(framework, database):
    nowhere = f"redis://127.0.0.1:{free_port()}/1"
    with serving(framework, database, broker=nowhere) as server:
        tag = f"{framework}-nobroker"
        response = server.post(f"/orders/{tag}")
        assert response.status_code == 200, response.text
        assert fates(f"{tag}:order", f"{tag}:mail") == {
            f"{tag}:order": "failed",
            f"{tag}:mail": "failed",
        }
        assert order_rows(server, tag) == 1
        assert "airlock: dispatching" in server.process.output()  # logged, with the intent
        assert server.post(f"/orders/{tag}-again", outcome="rollback").status_code == 200
        assert fates(f"{tag}-again:order") == {f"{tag}-again:order": "rolled_back"}
