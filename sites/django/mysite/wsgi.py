"""The WSGI entry point: Django's own WSGI handler, with the database brought up to date on
the first request each instance serves.

At build time (wsgi-wasm imports this module before it snapshots the interpreter) Django is
set up, every migration module is imported and the `warmup` URLs are rendered, but nothing
touches the database: the data folder is mounted only when the site runs. The first request
an instance serves applies any migration the database lacks (all of them on a fresh data
folder) and, when the database was just created, the superuser named in the site's
environment. The host runs the requests of a site with writable data one at a time
(`data_lock`), so two instances never migrate at once; an instance that finds the database
up to date changes nothing.
"""

import logging
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

django_application = get_wsgi_application()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.management.commands import migrate  # noqa: E402, F401  (call_command's)
from django.db import DEFAULT_DB_ALIAS, connections  # noqa: E402
from django.db.migrations.executor import MigrationExecutor  # noqa: E402
from django.db.migrations.loader import MigrationLoader  # noqa: E402

log = logging.getLogger("mysite")

# Import every migration module now, into the snapshot (no database needed).
MigrationLoader(None, ignore_no_migrations=True)

_database_ready = False


def ensure_database():
    """Applies missing migrations; creates the demo superuser on a fresh database."""
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if not plan:
            return
        fresh = not executor.loader.applied_migrations
        log.info("applying %d migration(s) to %s", len(plan), connection.settings_dict["NAME"])
        call_command("migrate", interactive=False, verbosity=1)
        if fresh:
            create_superuser()
    finally:
        connection.close()


def create_superuser():
    """The superuser from DJANGO_SUPERUSER_USERNAME / _PASSWORD / _EMAIL, when both are set."""
    username = os.environ.get("DJANGO_SUPERUSER_USERNAME")
    password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
    if not (username and password):
        return
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        return
    email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
    User.objects.create_superuser(username=username, email=email, password=password)
    log.info("created the superuser %r", username)


def application(environ, start_response):
    global _database_ready
    # Warmup requests run at build time, without the data folder (and must leave no
    # "ready" flag in the snapshot).
    if not _database_ready and not environ.get("wsgi_wasm.warmup"):
        ensure_database()
        _database_ready = True
    return django_application(environ, start_response)
