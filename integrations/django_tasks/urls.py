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

urlpatterns = urls(SUITE)
