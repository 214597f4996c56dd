"""End to end: Celery on Redis and RabbitMQ with real worker processes."""
