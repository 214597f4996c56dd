"""dramatiq actors in each form the lint check knows (importable: a stub broker)."""

import dramatiq
from dramatiq import GenericActor, actor
from dramatiq import actor as dramatiq_actor
from dramatiq.brokers.stub import StubBroker

dramatiq.set_broker(StubBroker())


@dramatiq.actor
def send_receipt(order_id):
    return order_id


@dramatiq.actor(queue_name="mail", max_retries=3)
def notify(order_id):
    return order_id


@actor
def reindex(order_id):
    return order_id


@dramatiq_actor(priority=10)
async def refresh(order_id):
    return order_id


def _archive(order_id):
    return order_id


archive = dramatiq.actor(_archive, actor_name="archive")


class Reconcile(GenericActor):
    def perform(self, order_id):
        return order_id


def not_an_actor(order_id):
    return order_id


class Mailer:
    """Not an actor: has a send() of its own."""

    def send(self, message):
        return message


mailer = Mailer()
