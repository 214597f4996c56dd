from django.db import transaction
from django.http import HttpRequest, JsonResponse

from integrations.common.models import Note
from integrations.common.queue_scenario import QueueSuite, urls
from integrations.dramatiq import worker_app as app

SUITE = QueueSuite(
    recorder=app.RECORDER,
    record=app.record,
    record_note=app.record_note,
    spawn=app.spawn,
    send_direct=lambda label: app.record.send(label),
    routed={"queue_name": app.OTHER_QUEUE},
    delayed={"delay": 3000},
)


def strict_bypass(request: HttpRequest) -> JsonResponse:
    """Strict mode: a direct ``actor.send`` inside the request's ``atomic`` (reported)."""
    with transaction.atomic():
        Note.objects.create(text="bypass")
        app.record.send("bypass")  # STRICT BYPASS
    return JsonResponse({})


urlpatterns = urls(SUITE, strict_bypass)
