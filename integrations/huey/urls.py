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

urlpatterns = urls(SUITE)
