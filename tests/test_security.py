"""Account security and production settings: login throttling, sessions, the audit of failed
logins and role changes, CSP, CSRF on every mutation, no mutation over GET, `check --deploy`."""

import ast
import datetime
import json
import os
import re
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.sessions.models import Session
from django.db import connection
from django.db.models import F
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone, translation

from accounts.models import AuditedObject, AuditEntry, Handover, Role, User
from accounts.services import record_audit, upsert_user
from contacts.models import Contact, PoolPolicy
from followups import services as followup_services
from followups.models import CalendarFeed, Notification
from tests.factories import PASSWORD, UserFactory

ROOT = Path(__file__).resolve().parents[1]
LOGIN = "/login/"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}


def production_env(**extra):
    """The environment of a production process: DEBUG off, a real key, PostgreSQL and Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="crm.settings",
        DJANGO_DEBUG="False",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS="crm.example.com",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://crm.example.com",
        DATABASE_URL="postgres://crm:secret@127.0.0.1:5432/crm",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    env.update(extra)
    return env


def run_python(*args, env):
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


# --- production settings ---


def test_check_deploy_reports_nothing_in_production():
    result = run_python(
        "manage.py", "check", "--deploy", "--fail-level", "WARNING", env=production_env()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_would_notice_a_weak_setting():
    """The check above is not vacuous: a short secret key fails it."""
    env = production_env(DJANGO_SECRET_KEY="too-short")
    result = run_python("manage.py", "check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


PRODUCTION_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
names = [
    "DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
    "CSRF_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE", "CSRF_COOKIE_SAMESITE",
    "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_SSL_REDIRECT",
    "SECURE_CONTENT_TYPE_NOSNIFF", "X_FRAME_OPTIONS", "SECURE_REFERRER_POLICY",
    "AUTHENTICATION_BACKENDS", "MIDDLEWARE", "AXES_FAILURE_LIMIT", "CONTENT_SECURITY_POLICY",
]
values = {name: getattr(s, name) for name in names}
values["AXES_COOLOFF_MINUTES"] = s.AXES_COOLOFF_TIME.total_seconds() / 60
print(json.dumps(values))
"""


def test_production_settings_harden_cookies_and_headers():
    env = production_env(LOGIN_FAILURE_LIMIT="7", LOGIN_LOCKOUT_MINUTES="30")
    result = run_python("-c", PRODUCTION_SETTINGS, env=env)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"]
    assert values["SESSION_COOKIE_HTTPONLY"] and values["CSRF_COOKIE_HTTPONLY"]
    assert values["SESSION_COOKIE_SAMESITE"] == values["CSRF_COOKIE_SAMESITE"] == "Lax"
    assert values["SECURE_HSTS_SECONDS"] >= 31536000 and values["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert values["SECURE_SSL_REDIRECT"] and values["SECURE_CONTENT_TYPE_NOSNIFF"]
    assert values["X_FRAME_OPTIONS"] == "DENY"
    assert values["SECURE_REFERRER_POLICY"] == "same-origin"
    assert values["AUTHENTICATION_BACKENDS"][0].startswith("axes.backends.")
    assert values["MIDDLEWARE"][-1] == "axes.middleware.AxesMiddleware"
    assert "csp.middleware.CSPMiddleware" in values["MIDDLEWARE"]
    assert values["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]["script-src"] == ["'self'"]
    # the lockout's limits come from the environment
    assert values["AXES_FAILURE_LIMIT"] == 7 and values["AXES_COOLOFF_MINUTES"] == 30


def csp_directives(response):
    header = response["Content-Security-Policy"]
    return {
        part.split()[0]: part.split()[1:] for part in (p.strip() for p in header.split(";")) if part
    }


@pytest.mark.django_db
def test_every_response_carries_the_csp_and_the_framing_and_sniffing_headers(client, org):
    client.force_login(org.alice)
    for url in ("/", LOGIN, "/no-such-page/", reverse("contacts:contact_list")):
        response = client.get(url)
        directives = csp_directives(response)
        assert directives["default-src"] == ["'self'"]
        assert directives["script-src"] == ["'self'"]
        assert directives["style-src"] == ["'self'"]
        assert directives["img-src"] == ["'self'", "data:"]
        assert directives["object-src"] == ["'none'"]
        assert directives["base-uri"] == ["'self'"]
        assert directives["form-action"] == ["'self'"]
        assert directives["frame-ancestors"] == ["'none'"]
        assert "'unsafe-inline'" not in response["Content-Security-Policy"]
        assert "'unsafe-eval'" not in response["Content-Security-Policy"]
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"


class InlineCode(HTMLParser):
    """Everything a strict CSP would block in a page: inline scripts, styles, handlers."""

    def __init__(self):
        super().__init__()
        self.found = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and not attrs.get("src") and attrs.get("type") != "application/json":
            self._in_script = True
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs.items():
            if name.startswith("on") or name == "style":
                self.found.append(f"{tag} {name}={value!r}")
            if name in {"href", "src", "action"} and (value or "").strip().startswith(
                "javascript:"
            ):
                self.found.append(f"{tag} {name}={value!r}")

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.found.append(f"<script>{data.strip()[:60]}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False


def inline_code(html):
    parser = InlineCode()
    parser.feed(html)
    return parser.found


def test_inline_code_finder_finds_inline_code():
    assert inline_code('<script src="/a.js"></script><p class="x">ok</p>') == []
    assert inline_code("<script>alert(1)</script>")
    assert inline_code('<div style="color:red">')
    assert inline_code('<button onclick="x()">')
    assert inline_code("<style>p{}</style>")


# --- login throttling ---


def log_in(client, username, password, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def fail(client, username, times, **extra):
    """`times` failed logins; all but the one reaching the limit show the login form again."""
    statuses = [
        log_in(client, username, "wrong password", **extra).status_code for _ in range(times)
    ]
    expected = [200 if n < settings.AXES_FAILURE_LIMIT else 429 for n in range(1, times + 1)]
    assert statuses == expected


def test_axes_refuses_first_and_force_login_sessions_use_the_model_backend(client, org):
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert "django.contrib.auth.backends.ModelBackend" in settings.AUTHENTICATION_BACKENDS
    client.force_login(org.alice)
    assert client.session["_auth_user_backend"] == "django.contrib.auth.backends.ModelBackend"
    assert client.get("/").status_code == 200


def test_unknown_user_wrong_password_and_inactive_user_get_the_same_message(client, org):
    inactive = UserFactory(is_active=False)
    errors = []
    for username, password in [
        ("nobody-by-that-name", "whatever"),
        (org.alice.username, "wrong password"),
        (inactive.username, PASSWORD),
    ]:
        response = log_in(client, username, password)
        assert response.status_code == 200
        errors.append(response.context["form"].non_field_errors())
    assert errors[0] == errors[1] == errors[2] and len(errors[0]) == 1
    assert "_auth_user_id" not in client.session


def test_lockout_after_the_limit_even_with_the_right_password_then_it_expires(client, org):
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 5 and settings.AXES_COOLOFF_TIME == datetime.timedelta(minutes=15)
    fail(client, org.alice.username, limit - 1)
    response = log_in(client, org.alice.username, "wrong password")  # the limit-th failure
    assert response.status_code == 429
    response = log_in(client, org.alice.username, PASSWORD)
    assert response.status_code == 429
    assert b'id="locked-out"' in response.content
    assert "_auth_user_id" not in client.session
    # Attempts while locked out do not extend the lockout; 15 minutes after the last counted
    # failure it has expired.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - datetime.timedelta(minutes=16))
    response = log_in(client, org.alice.username, PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(org.alice.pk)


def test_lockout_is_per_username_and_address(client, org):
    fail(client, org.alice.username, settings.AXES_FAILURE_LIMIT, REMOTE_ADDR="203.0.113.9")
    assert (
        log_in(client, org.alice.username, PASSWORD, REMOTE_ADDR="203.0.113.9").status_code == 429
    )
    # Alice from her own address, and Bob from the attacker's, are not locked out.
    assert (
        log_in(Client(), org.alice.username, PASSWORD, REMOTE_ADDR="198.51.100.7").status_code
        == 302
    )
    assert (
        log_in(Client(), org.bob.username, PASSWORD, REMOTE_ADDR="203.0.113.9").status_code == 302
    )


def test_unknown_usernames_lock_out_the_same_way(client, db):
    fail(client, "nobody-by-that-name", settings.AXES_FAILURE_LIMIT - 1)
    assert log_in(client, "nobody-by-that-name", "x").status_code == 429


def test_a_successful_login_resets_the_count(client, org):
    fail(client, org.alice.username, settings.AXES_FAILURE_LIMIT - 1)
    assert log_in(client, org.alice.username, PASSWORD).status_code == 302
    client.logout()
    fail(client, org.alice.username, settings.AXES_FAILURE_LIMIT - 1)
    assert log_in(client, org.alice.username, PASSWORD).status_code == 302


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_lockout_page_speaks_the_users_language(client, db, language):
    headers = ZH if language == "zh-hans" else {"HTTP_ACCEPT_LANGUAGE": "en"}
    fail(client, "someone", settings.AXES_FAILURE_LIMIT - 1, **headers)
    response = log_in(client, "someone", "x", **headers)
    assert response.status_code == 429
    html = response.content.decode()
    assert f'<html lang="{language}">' in html
    with translation.override(language):
        title = translation.gettext("Too many failed logins")
        text = translation.ngettext(
            "Logging in with this username from your address is paused. "
            "Try again in %(minutes)s minute.",
            "Logging in with this username from your address is paused. "
            "Try again in %(minutes)s minutes.",
            15,
        ) % {"minutes": 15}
    assert f"<h1>{title}</h1>" in html
    assert text in html
    assert "someone" not in html  # the page does not repeat the username
    assert inline_code(html) == []


def test_admin_login_is_throttled_too(client, org):
    admin_login = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(admin_login, {"username": org.admin.username, "password": "nope"})
    response = client.post(admin_login, {"username": org.admin.username, "password": PASSWORD})
    assert response.status_code == 429


# --- audit of failed logins ---


def test_failed_logins_are_audited_with_ids_and_address_never_the_username(client, org):
    log_in(client, org.alice.username, "wrong password", REMOTE_ADDR="203.0.113.5")
    log_in(client, "nobody-by-that-name", "wrong password", REMOTE_ADDR="203.0.113.6")
    known, unknown = AuditEntry.objects.filter(action="login_failed").order_by("id")
    assert (known.actor, known.object_type, known.object_ids, known.count) == (
        None,
        "user",
        [org.alice.pk],
        1,
    )
    assert known.ip_address == "203.0.113.5" and known.created_at is not None
    assert (unknown.object_ids, unknown.count, unknown.ip_address) == ([], 0, "203.0.113.6")
    for entry in (known, unknown):
        text = json.dumps([entry.detail, str(entry)])
        assert "alice" not in text and "nobody" not in text and "wrong" not in text
        assert entry.detail == {"locked_out": False}


def test_attempts_while_locked_out_are_audited_as_such(client, org):
    fail(client, org.alice.username, settings.AXES_FAILURE_LIMIT)
    log_in(client, org.alice.username, PASSWORD)
    entries = list(AuditEntry.objects.filter(action="login_failed").order_by("id"))
    assert len(entries) == settings.AXES_FAILURE_LIMIT + 1
    assert [e.detail["locked_out"] for e in entries] == [False] * (
        settings.AXES_FAILURE_LIMIT - 1
    ) + [True, True]


# --- sessions ---


def test_the_session_key_changes_at_login(client, org):
    session = client.session
    session["seen_before_login"] = True
    session.save()
    before = session.session_key
    assert client.cookies[settings.SESSION_COOKIE_NAME].value == before
    assert log_in(client, org.alice.username, PASSWORD).status_code == 302
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()
    assert client.session["seen_before_login"] is True  # the data moves, the key does not


def test_changing_ones_own_password_ends_the_other_sessions_only(org):
    here, elsewhere = Client(), Client()
    for client in (here, elsewhere):
        client.force_login(org.admin)
    url = reverse("admin:auth_user_password_change", args=[org.admin.pk])
    new_password = "a-New-pass-9831"
    response = here.post(
        url, {"password1": new_password, "password2": new_password, "usable_password": "true"}
    )
    assert response.status_code == 302, response.context["form"].errors
    org.admin.refresh_from_db()
    assert org.admin.check_password(new_password)
    assert here.get("/").status_code == 200  # update_session_auth_hash kept this one
    assert elsewhere.get("/").status_code == 302  # the old hash no longer matches


def test_a_password_set_by_someone_else_ends_all_sessions(org):
    alice = Client()
    alice.force_login(org.alice)
    assert alice.get("/").status_code == 200
    org.alice.set_password("another-pass-4411")
    org.alice.save()
    assert alice.get("/").status_code == 302


def sessions_of(user):
    return [
        s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(user.pk)
    ]


def test_deactivating_a_user_anywhere_ends_their_sessions_at_once(org):
    for user in (org.alice, org.bob):
        Client().force_login(user)
        Client().force_login(user)
    assert len(sessions_of(org.alice)) == 2
    user = User.objects.get(pk=org.alice.pk)  # a plain save, as any code path would do it
    user.is_active = False
    user.save()
    assert sessions_of(org.alice) == []
    assert len(sessions_of(org.bob)) == 2  # nobody else is touched


def test_an_inactive_user_with_a_surviving_session_is_anonymous(org):
    """Even if a session escaped (a bulk update sends no signal), ModelBackend refuses it."""
    alice = Client()
    alice.force_login(org.alice)
    User.objects.filter(pk=org.alice.pk).update(is_active=False)
    assert len(sessions_of(org.alice)) == 1
    response = alice.get("/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_a_login_does_not_read_the_user_twice(org, django_assert_max_num_queries):
    """Saving last_login skips the role and active-flag comparison."""
    user = User.objects.get(pk=org.alice.pk)
    user.last_login = timezone.now()
    with django_assert_max_num_queries(1):
        user.save(update_fields=["last_login"])


# --- role changes ---


class FormValues(HTMLParser):
    """What a browser would submit from the form with the given id."""

    def __init__(self, form_id):
        super().__init__()
        self.form_id, self.inside = form_id, False
        self.data = {}
        self._select = self._textarea = None
        self._first_option = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        if not self.inside:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in {"submit", "button", "image", "file", "reset"}:
                return
            if kind in {"checkbox", "radio"} and "checked" not in attrs:
                return
            default = "on" if kind in {"checkbox", "radio"} else ""
            self.data.setdefault(name, []).append(attrs.get("value", default))
        elif tag == "select" and name:
            self._select = (name, "multiple" in attrs)
            self.data.setdefault(name, [])
        elif tag == "option" and self._select:
            name, _multiple = self._select
            self._first_option.setdefault(name, attrs.get("value", ""))
            if "selected" in attrs:
                self.data[name].append(attrs.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = [""]

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea][0] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select:
            name, multiple = self._select
            if not multiple and not self.data[name]:
                self.data[name] = [self._first_option.get(name, "")]
            self._select = None
        elif tag == "textarea":
            if self._textarea:
                self.data[self._textarea][0] = self.data[self._textarea][0].lstrip("\n")
            self._textarea = None


def form_values(html, form_id):
    parser = FormValues(form_id)
    parser.feed(html)
    return parser.data


def admin_save_user(client, user, **changes):
    url = reverse("admin:accounts_user_change", args=[user.pk])
    data = form_values(client.get(url).content.decode(), "user_form")
    assert data["username"] == [user.username]
    for name, value in changes.items():
        if value is False:
            data.pop(name, None)
        else:
            data[name] = [value]
    response = client.post(url, data, REMOTE_ADDR="192.0.2.10")
    assert response.status_code == 302, response.context["adminform"].form.errors
    return response


def test_a_role_change_in_the_admin_is_audited_with_the_actor(client, org):
    client.force_login(org.admin)
    admin_save_user(client, org.alice, name_en="Alice Z")  # no role change: no entry
    assert not AuditEntry.objects.filter(action="role_change").exists()
    admin_save_user(client, org.alice, role=Role.MANAGER)
    entry = AuditEntry.objects.get(action="role_change")
    assert entry.actor == org.admin
    assert (entry.object_type, entry.object_ids, entry.count) == ("user", [org.alice.pk], 1)
    assert entry.detail == {"from": "rep", "to": "manager"}
    assert entry.ip_address == "192.0.2.10"
    assert "alice" not in json.dumps(entry.detail).lower()


def test_deactivating_in_the_admin_ends_sessions(client, org):
    alice = Client()
    alice.force_login(org.alice)
    client.force_login(org.admin)
    admin_save_user(client, org.alice, is_active=False)
    assert sessions_of(org.alice) == []
    assert alice.get("/").status_code == 302


def test_a_role_change_outside_the_admin_is_audited_without_an_actor(org):
    upsert_user(username=org.bob.username, role="admin")
    entry = AuditEntry.objects.get(action="role_change")
    assert entry.actor is None and entry.object_ids == [org.bob.pk]
    assert entry.detail == {"from": "rep", "to": "admin"}
    # A save of named fields compares only those: the unsaved flag below ends no session.
    Client().force_login(org.bob)
    bob = User.objects.get(pk=org.bob.pk)
    bob.role, bob.is_active = Role.MANAGER, False
    bob.save(update_fields=["role"])
    latest = AuditEntry.objects.filter(action="role_change").latest("id")
    assert latest.detail == {"from": "admin", "to": "manager"}
    assert len(sessions_of(org.bob)) == 1


# --- CSRF on every mutation; no mutation over GET ---

# Views that change data answer 405 to GET (the rest render pages or forms).
POST_ONLY = {
    "logout",
    "switch_language",
    "contacts:bulk_reassign",
    "contacts:claim",
    "contacts:pool_assign",
    "followups:quick_log",
    "followups:plan",
    "followups:complete",
    "followups:cancel",
    "followups:snooze",
    "followups:reschedule",
    "followups:mark_read",
    "followups:mark_all_read",
    "followups:calendar_reset",
}
# Views for one permission (the admin role's): 403 for everyone else, whatever the method.
PERMISSION_REQUIRED = {
    "contacts:import_upload",
    "contacts:import_preview",
    "contacts:import_confirm",
    "contacts:import_discard",
    "contacts:import_progress",
    "contacts:import_result",
    "contacts:import_report",
    "contacts:import_undo",
    "contacts:import_run_again",
}
# Rows a GET may legitimately add: the audit log records reads such as exports.
READ_RECORDS = {AuditEntry, AuditedObject, Session}


def app_url_patterns(resolver=None, namespace="", converters=None):
    """(full name, kwarg names) of every named pattern in crm.urls outside the admin."""
    resolver = resolver or get_resolver("crm.urls")
    for entry in resolver.url_patterns:
        found = {**(converters or {}), **getattr(entry.pattern, "converters", {})}
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue
            space = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from app_url_patterns(entry, space, found)
        elif isinstance(entry, URLPattern) and entry.name:
            kwargs = set(entry.pattern.regex.groupindex)
            yield f"{namespace}{entry.name}", kwargs


@pytest.fixture
def world(org):
    """One of every object a URL can point at, visible to the admin."""
    contact = org.alice_contact
    follow_up = followup_services.plan_follow_up(
        contact=contact,
        plan="Send the catalogue",
        due_at=timezone.now() + datetime.timedelta(days=1),
        created_by=org.alice,
    )
    notification = Notification.objects.create(user=org.admin, contact=contact, text="hello")
    handover = Handover.objects.create(actor=org.admin, departing=org.carol, assignments={})
    feed = CalendarFeed.objects.create(user=org.admin)
    # The pool rules are a singleton made with its defaults on first read (an idempotent
    # lazy default, not a change anyone asked for); made here, so that a GET changing it shows.
    PoolPolicy.current()
    by_name = {
        "contacts:claim": org.pool_contact.pk,
        "contacts:company_detail": contact.company_id,
        "followups:mark_read": notification.pk,
        "handover_detail": handover.pk,
    }
    for name in ("complete", "cancel", "snooze", "reschedule"):
        by_name[f"followups:{name}"] = follow_up.pk

    def url(name, kwarg_names):
        kwargs = {}
        for kwarg in kwarg_names:
            if kwarg == "token":
                kwargs[kwarg] = feed.token
            else:  # pk, contact_pk and any new int argument: the matching object, else a contact
                kwargs[kwarg] = by_name.get(name, contact.pk)
        return reverse(name, kwargs=kwargs)

    return [(name, url(name, kwargs)) for name, kwargs in app_url_patterns()]


def snapshot():
    """Every row of every table a GET must not change."""
    tables = set(connection.introspection.table_names())
    state = {}
    for model in apps.get_models():
        if model in READ_RECORDS or model._meta.proxy or not model._meta.managed:
            continue
        if model._meta.db_table not in tables:  # an app whose migration is still to come
            continue
        state[model._meta.label] = list(model._base_manager.order_by("pk").values_list())
    return state


def test_the_url_walk_covers_the_app(world):
    names = {name for name, _url in world}
    assert POST_ONLY <= names and PERMISSION_REQUIRED <= names
    assert {"login", "dashboard", "contacts:contact_list", "followups:calendar_feed"} <= names


@pytest.mark.parametrize("who", ["admin", "alice"])
def test_get_changes_nothing_and_post_only_views_refuse_it(client, org, world, who):
    client.force_login(getattr(org, who))
    before = snapshot()
    for name, url in world:
        response = client.get(url)
        if name in POST_ONLY:
            assert response.status_code == 405, (name, response.status_code)
        else:
            # 405: a view added since, refusing GET, is as safe as one listed above.
            allowed = {200, 302, 404, 405}
            if name in PERMISSION_REQUIRED and who != "admin":
                allowed = {403}  # a page saying so, before the view runs
            assert response.status_code in allowed, (name, response.status_code)
            if response.get("Content-Type", "").startswith("text/html") and not getattr(
                response, "streaming", False
            ):
                assert inline_code(response.content.decode()) == [], name
        after = snapshot()
        changed = [label for label in before if before[label] != after[label]]
        assert changed == [], f"GET {name} changed {changed}"


def admin_urls(org):
    """The admin's own mutating URLs: login, logout, password change, add/change/delete."""
    urls = [reverse("admin:login"), reverse("admin:logout"), reverse("admin:password_change")]
    for model in admin.site._registry:
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        urls.append(reverse(f"{prefix}_add"))
        obj = model._base_manager.first()
        if obj is not None:
            urls.append(reverse(f"{prefix}_change", args=[obj.pk]))
            urls.append(reverse(f"{prefix}_delete", args=[obj.pk]))
    return urls


def test_every_post_without_a_csrf_token_is_refused(org, world):
    record_audit(actor=org.admin, action="test", object_type="user", ids=[org.admin.pk])
    client = Client(enforce_csrf_checks=True)
    client.force_login(org.admin)
    before = snapshot()
    urls = [url for _name, url in world] + admin_urls(org)
    for url in urls:
        assert client.post(url, {"next": "/"}).status_code == 403, url
    assert snapshot() == before
    assert Client(enforce_csrf_checks=True).post(LOGIN, {"username": "x"}).status_code == 403


def test_forms_and_htmx_send_the_token_from_the_page_not_the_cookie(org):
    """CSRF_COOKIE_HTTPONLY holds: htmx reads the token from hx-headers on <body>."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(org.alice)
    page = client.get(reverse("followups:my_day"))
    assert page.cookies[settings.CSRF_COOKIE_NAME]["httponly"]
    assert page.cookies[settings.CSRF_COOKIE_NAME]["samesite"] == "Lax"
    token = json.loads(re.search(r"<body hx-headers='([^']+)'", page.content.decode())[1])
    response = client.post(
        reverse("followups:mark_all_read"),
        HTTP_X_CSRFTOKEN=token["X-CSRFToken"],
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 302
    form_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    response = client.post(
        reverse("switch_language"), {"csrfmiddlewaretoken": form_token, "language": "en"}
    )
    assert response.status_code == 302


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@override_settings(DEBUG=False)
def test_csrf_failure_page_is_plain_and_in_the_users_language(db, language):
    client = Client(enforce_csrf_checks=True)
    headers = ZH if language == "zh-hans" else {"HTTP_ACCEPT_LANGUAGE": "en"}
    response = client.post(LOGIN, {"username": "x", "password": "y"}, **headers)
    assert response.status_code == 403
    html = response.content.decode()
    assert f'<html lang="{language}">' in html
    for leak in ("Traceback", "CSRF_COOKIE", "DEBUG", "Referer", "csrfmiddlewaretoken", "reason"):
        assert leak not in html
    with translation.override(language):
        assert translation.gettext("Forbidden") in html
        assert (
            translation.gettext(
                "This form has expired, or it was sent from another page. "
                "Go back, reload the page and try again."
            )
            in html
        )
    if language == "zh-hans":
        assert "禁止访问" in html  # Django's own Chinese for "Forbidden", in place already
    assert inline_code(html) == []


# --- request parameters never reach filter(**…) ---

SOURCE_DIRS = ("accounts", "contacts", "followups", "crm", "mailbox")
QUERY_METHODS = {
    "filter",
    "exclude",
    "get",
    "get_or_create",
    "update_or_create",
    "update",
    "create",
}
REQUEST_NAMES = {"request", "GET", "POST", "params", "query_params", "QueryDict", "cleaned_data"}


def unpacked_request_lookups(path):
    """Queryset calls that unpack (`**`) something built from the request."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in QUERY_METHODS:
            continue
        for keyword in node.keywords:
            if keyword.arg is not None:
                continue
            names = {n.id for n in ast.walk(keyword.value) if isinstance(n, ast.Name)}
            names |= {n.attr for n in ast.walk(keyword.value) if isinstance(n, ast.Attribute)}
            if names & REQUEST_NAMES:
                yield f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)[:100]}"


def test_no_query_unpacks_request_parameters():
    """filter(**request.GET…) is how keys like `_connector` would reach the ORM: none does."""
    found = []
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" not in path.parts:
                found.extend(unpacked_request_lookups(path))
    assert found == []


def test_the_source_check_would_catch_one(tmp_path, monkeypatch):
    bad = tmp_path / "views.py"
    bad.write_text("def v(request):\n    return Contact.objects.filter(**request.GET.dict())\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert len(list(unpacked_request_lookups(bad))) == 1


def listed_ids(response):
    return [obj.pk for obj in response.context["page"].object_list]


HOSTILE_PARAMS = {
    "_connector": "OR",
    "_negated": "True",
    "connector": "OR",
    "owner__username__startswith": "z",
    "id__gt": "0",
    "pk__in": "1,2",
    "__class__": "x",
}


@pytest.mark.parametrize("name", ["contacts:contact_list", "contacts:company_list"])
def test_underscore_and_lookup_parameters_are_ignored_by_the_lists(client, org, name):
    client.force_login(org.alice)
    url = reverse(name)
    plain = client.get(url)
    hostile = client.get(url, HOSTILE_PARAMS)
    assert plain.status_code == hostile.status_code == 200
    assert listed_ids(hostile) == listed_ids(plain)
    with_search = client.get(url, {"q": "alice", **HOSTILE_PARAMS})
    assert listed_ids(with_search) == listed_ids(client.get(url, {"q": "alice"}))
    # Alice's list never grows to other reps' customers through the parameters.
    if name == "contacts:contact_list":
        visible = Contact.objects.visible_to(org.alice).values_list("pk", flat=True)
        assert sorted(listed_ids(hostile)) == sorted(visible)
        assert org.bob_contact.pk not in listed_ids(hostile)


def test_pool_ignores_lookup_parameters(client, org):
    client.force_login(org.alice)
    plain = client.get(reverse("contacts:pool"))
    hostile = client.get(reverse("contacts:pool"), HOSTILE_PARAMS)
    assert hostile.status_code == 200
    assert listed_ids(hostile) == listed_ids(plain)


# --- the audit log in the admin ---


def test_nobody_edits_the_audit_log_in_the_admin_superusers_included(client, org):
    superuser = User.objects.create_superuser("root", "root@crm.example", PASSWORD)
    entry = record_audit(
        actor=org.admin,
        action="reassign",
        object_type="contact",
        ids=[1, 2],
        ip_address="192.0.2.1",
    )
    record_audit(actor=org.manager_north, action="handover", object_type="contact", ids=[3])
    for user in (superuser, org.admin):
        client.force_login(user)
        changelist = reverse("admin:accounts_auditentry_changelist")
        assert client.get(changelist).status_code == 200
        by_actor = client.get(changelist, {"actor__id__exact": org.admin.pk})
        assert [e.pk for e in by_actor.context["cl"].result_list] == [entry.pk]
        today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        by_date = client.get(
            changelist,
            {
                "created_at__gte": str(today),
                "created_at__lt": str(today + datetime.timedelta(days=1)),
            },
        )
        assert by_date.status_code == 200 and len(by_date.context["cl"].result_list) == 2
        actor_choices = [
            c["display"]
            for c in by_actor.context["cl"].filter_specs[2].choices(by_actor.context["cl"])
        ]
        assert str(org.manager_north) in actor_choices and str(org.alice) not in actor_choices
        assert b'name="action"' not in by_actor.content  # no bulk delete
        assert client.get(reverse("admin:accounts_auditentry_add")).status_code == 403
        change = reverse("admin:accounts_auditentry_change", args=[entry.pk])
        assert client.get(change).status_code == 200  # view only
        assert b'name="_save"' not in client.get(change).content
        assert client.post(change, {"action": "forged", "count": 0}).status_code == 403
        delete = reverse("admin:accounts_auditentry_delete", args=[entry.pk])
        assert client.get(delete).status_code == 403
        assert client.post(delete, {"post": "yes"}).status_code == 403
    entry.refresh_from_db()
    assert (entry.action, entry.count) == ("reassign", 2)
    request = type("Request", (), {"user": superuser})()
    model_admin = admin.site._registry[AuditEntry]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, entry)
    assert not model_admin.has_delete_permission(request, entry)


def test_the_audit_log_is_not_for_reps_or_managers(client, org):
    for user in (org.alice, org.manager_north):
        client.force_login(user)
        response = client.get(reverse("admin:accounts_auditentry_changelist"))
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
