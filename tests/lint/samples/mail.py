"""Real code that sends things that are not tasks: nothing here may be reported."""

import smtplib
import socket

from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection, send_mail
from django.dispatch import Signal

order_paid = Signal()


def email_receipt(order):
    EmailMessage("Receipt", f"Order {order.id}", to=[order.email]).send()
    message = EmailMultiAlternatives("Receipt", "text", to=[order.email])
    message.attach_alternative("<p>html</p>", "text/html")
    message.send(fail_silently=False)
    send_mail("Paid", "Thanks", None, [order.email])
    with get_connection() as connection:
        connection.send_messages([message])


def notify_listeners(order):
    order_paid.send(sender=type(order), order=order)
    order_paid.send_robust(type(order), order=order)


def ping_warehouse(host, port, payload):
    with socket.create_connection((host, port)) as sock:
        sock.send(payload)
        sock.sendall(payload)


def relay(server, message):
    with smtplib.SMTP(server) as smtp:
        smtp.send_message(message)


def averages():
    total, count, value = 0.0, 0, None
    while True:
        value = yield (total / count if count else None)
        total, count = total + value, count + 1


def running_average(values):
    gen = averages()
    gen.send(None)  # prime the generator
    return [gen.send(v) for v in values]
