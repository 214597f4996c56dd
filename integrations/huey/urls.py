from django.db import transaction
from django.http import HttpRequest, JsonResponse

from integrations.common.models import Note
from integrations.common.queue_scenario import QueueSuite, urls
from integrations.huey import worker_app as app

SUITE = QueueSuite(
    recorder=app.RECORDER,
    record=app.record,
    record_note=app.record_note,
    spawn=app.spawn,
    send_direct=lambda label: app.record(label),
    routed=None,  # huey has no queue names: one huey instance is one queue
    delayed={"delay": 3},
)


def strict_bypass(request: HttpRequest) -> JsonResponse:
    """Strict mode: a direct huey task call inside the request's ``atomic`` (reported)."""
    with transaction.atomic():
        Note.objects.create(text="bypass")
        app.record("bypass")  # STRICT BYPASS
    return JsonResponse({})


urlpatterns = urls(SUITE, strict_bypass)
