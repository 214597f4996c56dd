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

urlpatterns = urls(SUITE)
