"""A small project run as users run it, in child processes: ``manage.py migrate`` with a
``RunPython`` data migration that enqueues, ``manage.py shell -c``, and a command of its own.

The task appends to a file, so what each process sent is read back here. SQLite by default;
with ``AIRLOCK_TEST_DB=postgres`` the project gets a PostgreSQL database of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import ROOT
from tests.services import PG_USER, SERVICES, require_service
from tests.settings import BACKEND

FILES = {
    "manage.py": """
        import sys
        from django.core.management import execute_from_command_line
        execute_from_command_line(sys.argv)
    """,
    "project_settings.py": """
        import json, os
        SECRET_KEY = "project"
        USE_TZ = True
        INSTALLED_APPS = ["airlock.integrations.django", "shipping"]
        DATABASES = {"default": json.loads(os.environ["PROJECT_DATABASE"])}
        AIRLOCK = json.loads(os.environ.get("PROJECT_AIRLOCK", "{}"))
    """,
    "shipping/__init__.py": "",
    "shipping/models.py": """
        from django.db import models

        class Parcel(models.Model):
            label = models.CharField(max_length=20)
    """,
    "shipping/tasks.py": """
        import os
        from pathlib import Path

        EFFECTS = Path(os.environ["PROJECT_EFFECTS"])

        def write_line(text):
            with EFFECTS.open("a") as f:
                f.write(text + "\\n")

        def effects():
            return EFFECTS.read_text().splitlines() if EFFECTS.exists() else []
    """,
    "shipping/migrations/__init__.py": "",
    "shipping/migrations/0001_initial.py": """
        from django.db import migrations, models

        class Migration(migrations.Migration):
            initial = True
            operations = [
                migrations.CreateModel(
                    "Parcel",
                    [("id", models.AutoField(primary_key=True)),
                     ("label", models.CharField(max_length=20))],
                ),
            ]
    """,
    "shipping/migrations/0002_announce.py": """
        import airlock
        from django.db import migrations
        from shipping.tasks import write_line

        def announce(apps, schema_editor):
            Parcel = apps.get_model("shipping", "Parcel")
            for label in ("a", "b"):
                Parcel.objects.create(label=label)
                airlock.enqueue(write_line, f"parcel {label}")  # domain code would do this

        class Migration(migrations.Migration):
            dependencies = [("shipping", "0001_initial")]
            operations = [migrations.RunPython(announce, migrations.RunPython.noop)]
    """,
    "shipping/management/__init__.py": "",
    "shipping/management/commands/__init__.py": "",
    "shipping/management/commands/ship.py": """
        import airlock
        from django.core.management.base import BaseCommand, CommandError
        from django.db import transaction
        from shipping.models import Parcel
        from shipping.tasks import effects, write_line

        class Command(BaseCommand):
            def add_arguments(self, parser):
                parser.add_argument("label")
                parser.add_argument("--fail", action="store_true")

            def handle(self, label, fail, **options):
                with transaction.atomic():
                    Parcel.objects.create(label=label)
                    airlock.enqueue(write_line, f"shipped {label}")
                self.stdout.write(f"sent while handling: {effects()}")
                if fail:
                    raise CommandError("the carrier is down")
    """,
}

SHELL = """
import airlock
from django.db import transaction
from shipping.models import Parcel
from shipping.tasks import effects, write_line

with transaction.atomic():
    Parcel.objects.create(label="s")
    airlock.enqueue(write_line, "in atomic")
    print("inside:", effects())
print("after commit:", effects())
try:
    with transaction.atomic():
        airlock.enqueue(write_line, "rolled back")
        raise ValueError
except ValueError:
    pass
airlock.enqueue(write_line, "autocommit")
print("end:", effects())
"""


@pytest.fixture
def database() -> Iterator[dict[str, object]]:
    """The project's database: a SQLite file, or a fresh PostgreSQL database."""
    if BACKEND != "postgres":
        yield {"ENGINE": "django.db.backends.sqlite3", "NAME": "project.sqlite3"}
        return
    require_service("postgres")
    import psycopg

    host, port = SERVICES["postgres"]
    name = f"airlock_project_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=host, port=port, user=PG_USER, dbname="postgres",
                         autocommit=True) as admin:  # fmt: skip
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"ENGINE": "django.db.backends.postgresql", "NAME": name, "USER": PG_USER,
               "HOST": host, "PORT": port}  # fmt: skip
    finally:
        with psycopg.connect(host=host, port=port, user=PG_USER, dbname="postgres",
                             autocommit=True) as admin:  # fmt: skip
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Project:
    def __init__(self, path: Path, database: dict[str, object]) -> None:
        self.path = path
        for name, code in FILES.items():
            file = path / name
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(textwrap.dedent(code).lstrip())
        self.effects = path / "effects.txt"
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(path), str(ROOT)]),
            "DJANGO_SETTINGS_MODULE": "project_settings",
            "PROJECT_DATABASE": json.dumps(database),
            "PROJECT_EFFECTS": str(self.effects),
        }

    def manage(self, *args: str, airlock: dict[str, object] | None = None, stdin: str = ""):
        env = {**self.env, "PROJECT_AIRLOCK": json.dumps(airlock or {})}
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=self.path, env=env, input=stdin,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def sent(self) -> list[str]:
        return self.effects.read_text().splitlines() if self.effects.exists() else []


@pytest.fixture
def project(tmp_path: Path, database: dict[str, object]) -> Project:
    return Project(tmp_path, database)


def test_migrate_drops_what_a_data_migration_enqueues_and_says_so(project):
    done = project.manage("migrate", "--no-input")
    assert done.returncode == 0, done.stderr
    assert project.sent() == []
    assert (
        "airlock: `migrate` dropped 2 intent(s) enqueued while it ran: write_line('parcel a'), "
        "write_line('parcel b')."
    ) in done.stderr
    assert "AIRLOCK['COMMANDS'] = {'migrate': 'scope'}" in done.stderr


def test_migrate_in_scope_mode_sends_after_the_migration_committed(project):
    done = project.manage("migrate", "--no-input", airlock={"COMMANDS": {"migrate": "scope"}})
    assert done.returncode == 0, done.stderr
    assert project.sent() == ["parcel a", "parcel b"]
    assert "dropped" not in done.stderr


def test_a_command_of_the_project_runs_in_a_scope(project):
    assert project.manage("migrate", "--no-input").returncode == 0
    done = project.manage("ship", "p1")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "sent while handling: []\n"  # sent once the command returned
    assert project.sent() == ["shipped p1"]
    failed = project.manage("ship", "p2", "--fail")
    assert failed.returncode == 1 and "CommandError: the carrier is down" in failed.stderr
    assert project.sent() == ["shipped p1"]  # the failed command's intent was discarded


@pytest.mark.parametrize("how", ["-c", "stdin"])
def test_shell_sends_each_intent_as_its_transaction_commits(project, how):
    assert project.manage("migrate", "--no-input").returncode == 0
    if how == "-c":
        done = project.manage("shell", "-c", SHELL)
    else:
        done = project.manage("shell", stdin=SHELL)  # a script piped in
    assert done.returncode == 0, done.stderr
    printed = [line for line in done.stdout.splitlines() if ": " in line]  # not Django's banner
    assert printed == [
        "inside: []",
        "after commit: ['in atomic']",
        "end: ['in atomic', 'autocommit']",
    ]


def test_shell_without_airlock_raises_no_scope_error_naming_the_setting(project):
    assert project.manage("migrate", "--no-input").returncode == 0
    done = project.manage("shell", "-c", SHELL, airlock={"COMMANDS": {"shell": False}})
    assert done.returncode == 1
    assert "NoScopeError" in done.stderr and "AIRLOCK['OUTSIDE_SCOPE'] = 'on_commit'" in done.stderr
    assert project.sent() == []
