from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django_q.tasks import async_task

from integrations.common.models import Note
from integrations.common.queue_scenario import QueueSuite, urls
from integrations.django_q import worker_app as app

SUITE = QueueSuite(
    recorder=app.RECORDER,
    record=app.record,
    record_note=app.record_note,
    spawn=app.spawn,
    send_direct=lambda label: async_task(app.record, label),
    routed={"cluster": app.OTHER_CLUSTER},
    delayed=None,  # async_task has no delay: django-q2 delays through its scheduler
    direct_in_thread=True,  # the ORM broker writes to the database
)


def strict_bypass(request: HttpRequest) -> JsonResponse:
    """Strict mode: a direct ``async_task`` inside the request's ``atomic`` (reported)."""
    with transaction.atomic():
        Note.objects.create(text="bypass")
        async_task(app.record, "bypass")  # STRICT BYPASS
    return JsonResponse({})


urlpatterns = urls(SUITE, strict_bypass)
