from django.apps import AppConfig


class DjangoTestsConfig(AppConfig):
    name = "tests.django"
    label = "tests_django"
