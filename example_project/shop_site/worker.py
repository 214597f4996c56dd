"""The Celery app for ``SHOP_EXECUTOR=celery``.

Start a worker from example_project/:
``SHOP_EXECUTOR=celery celery -A shop_site.worker worker --loglevel=info``
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop_site.settings")
os.environ.setdefault("SHOP_EXECUTOR", "celery")

app = Celery("airlock_example_shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["shop"])
