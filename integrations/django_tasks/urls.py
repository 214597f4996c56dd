from django.db import transaction
from django.http import HttpRequest, JsonResponse

from integrations.common.models import Note
from integrations.common.queue_scenario import QueueSuite, urls
from integrations.django_tasks import worker_app as app

SUITE = QueueSuite(
    recorder=app.RECORDER,
    record=app.record,
    record_note=app.record_note,
    spawn=app.spawn,
    send_direct=lambda label: app.record.enqueue(label),
    routed={"queue_name": app.OTHER_QUEUE},
    delayed={"run_after": 3},  # seconds from enqueue
    eta_option="run_after",
    direct_in_thread=True,  # the database backend writes in the request's transaction
)


def strict_bypass(request: HttpRequest) -> JsonResponse:
    """Strict mode: a direct ``task.enqueue`` inside the request's ``atomic`` (reported)."""
    with transaction.atomic():
        Note.objects.create(text="bypass")
        app.record.enqueue("bypass")  # STRICT BYPASS
    return JsonResponse({})


urlpatterns = urls(SUITE, strict_bypass)
