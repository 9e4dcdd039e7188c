"""Shared test setup: fail fast when PostgreSQL or Redis is down, and the people of a sales org."""

import os

import pytest


def pytest_configure(config):
    """Stop at once with a clear message when the real services are not reachable."""
    import psycopg
    import redis

    database_url = os.environ["DATABASE_URL"]
    try:
        conninfo = psycopg.conninfo.conninfo_to_dict(
            database_url.replace("postgres://", "postgresql://", 1)
        )
        conninfo["dbname"] = "postgres"
        psycopg.connect(**conninfo, connect_timeout=3).close()
    except Exception as error:  # noqa: BLE001 - any failure means "not reachable"
        pytest.exit(
            f"PostgreSQL is not reachable at {database_url} ({error}). "
            "Start it, or set DATABASE_URL.",
            returncode=3,
        )
    redis_url = os.environ["REDIS_URL"]
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except Exception as error:  # noqa: BLE001
        pytest.exit(
            f"Redis is not reachable at {redis_url} ({error}). Start it, or set REDIS_URL.",
            returncode=3,
        )
    _compile_translations()


def _compile_translations():
    """Build the .mo files (git-ignored) from the .po catalogues, so every test, browser tests
    included, sees the current translations; then drop any catalogue Django already loaded."""
    import io

    import django
    from django.apps import apps
    from django.core.management import call_command
    from django.test.signals import language_changed

    if not apps.ready:
        django.setup()
    call_command("compile_translations", stdout=io.StringIO())
    # Django's own reset for a changed LOCALE_PATHS: forget loaded catalogues and languages.
    language_changed(setting="LOCALE_PATHS")


@pytest.fixture
def org(db):
    """Two teams, each with a manager and two reps, plus an admin (the scope matrix's cast)."""
    from tests.factories import OrgFactory

    return OrgFactory.create()


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the test settings' language (English): a request in an earlier test
    leaves its user's language active in this thread, and messages compared in English would
    then fail or pass depending on the order the tests ran in."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()
