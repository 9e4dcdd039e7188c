"""The cleaning worklist: its sections, its scope per role, and its one-click fixes (404 outside
the user's scope, nothing changed)."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from contacts.cleaning import bounced_or_invalid, cleaning_scope, incomplete, silent_for
from contacts.models import Contact
from followups.models import Interaction
from followups.services import log_interaction
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

URL = reverse("contacts:cleaning")
DAY = datetime.timedelta(days=1)


def silent(owner, days=200, **fields):
    contact = ContactFactory(owner=owner, **fields)
    Contact.objects.filter(pk=contact.pk).update(
        last_contacted_at=timezone.now() - days * DAY, created_at=timezone.now() - 400 * DAY
    )
    return contact


@pytest.fixture
def worklists(org):
    """One item of each kind for alice, bob (same team) and carol (the other team)."""
    items = {}
    for user in (org.alice, org.bob, org.carol):
        name = user.username
        items[name] = {
            "bounced": ContactFactory(
                owner=user,
                name=f"{name} bounced",
                email=f"{name}.b@old.example",
                email_status="hard_bounced",
            ),
            "silent": silent(user, name=f"{name} silent", email=f"{name}.s@x.example"),
            "incomplete": ContactFactory(
                owner=user, name=f"{name} incomplete", country="", email=f"{name}.i@x.example"
            ),
            "dup_a": ContactFactory(owner=user, name=f"{name} twin", phone="+8613800138000"),
            "dup_b": ContactFactory(owner=user, name=f"{name} twin", phone="+8613800138000"),
        }
    return items


def shown(client, user, **params):
    client.force_login(user)
    response = client.get(URL, params)
    assert response.status_code == 200
    return response.content.decode()


def test_sections_select_the_right_records(org, worklists):
    scope = cleaning_scope(org.alice)
    mine = worklists["alice"]
    recent = ContactFactory(owner=org.alice, email_status="valid")
    log_interaction(contact=recent, author=org.alice, kind="call", summary="today")
    assert set(bounced_or_invalid(scope)) == {mine["bounced"]}
    assert set(silent_for(scope, days=180)) == {mine["silent"]}
    assert mine["incomplete"] in set(incomplete(scope))
    assert recent not in set(incomplete(scope)) | set(silent_for(scope))


def test_silent_days_come_from_settings(org, settings):
    contact = silent(org.alice, days=100)
    assert contact not in set(silent_for(cleaning_scope(org.alice)))
    settings.CLEANING_SILENT_DAYS = 90
    assert contact in set(silent_for(cleaning_scope(org.alice)))


def test_a_rep_sees_only_their_own_worklist(client, org, worklists):
    page = shown(client, org.alice)
    for kind in ("bounced", "silent", "incomplete"):
        assert f"alice {kind}" in page
        assert f"bob {kind}" not in page and f"carol {kind}" not in page
    assert "alice twin" in page and "bob twin" not in page
    assert 'id="cleaning-member"' not in page  # nobody else's list to choose
    # Asking for someone else's list gives one's own.
    assert "bob bounced" not in shown(client, org.alice, member=org.bob.pk)


def test_a_manager_sees_the_team_and_can_choose_a_member(client, org, worklists):
    page = shown(client, org.manager_north)
    for name in ("alice", "bob"):
        assert f"{name} bounced" in page and f"{name} silent" in page and f"{name} twin" in page
    assert "carol" not in page
    only_bob = shown(client, org.manager_north, member=org.bob.pk)
    assert "bob bounced" in only_bob and "alice bounced" not in only_bob
    # Another team's member cannot be chosen: the whole (own) scope shows, never carol's.
    other_team = shown(client, org.manager_north, member=org.carol.pk)
    assert "carol bounced" not in other_team


def test_an_admin_sees_everyone(client, org, worklists):
    page = shown(client, org.admin)
    for name in ("alice", "bob", "carol"):
        assert f"{name} bounced" in page
    assert "pool.buyer" not in page  # the public pool is nobody's to clean


def test_move_to_dormant_from_the_worklist(client, org, worklists):
    contact = worklists["alice"]["silent"]
    client.force_login(org.alice)
    response = client.post(reverse("contacts:cleaning_dormant", args=[contact.pk]))
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.pool_state == "dormant" and contact.dormant_since is not None
    assert contact.owner == org.alice
    entry = AuditEntry.objects.get(action="dormant")
    assert entry.actor == org.alice and entry.object_ids == [contact.pk]
    assert "alice silent" not in shown(client, org.alice).split('id="cleaning-silent"')[1]


def test_fix_email_keeps_the_old_address_and_resets_the_status(client, org, worklists):
    contact = worklists["alice"]["bounced"]
    client.force_login(org.alice)
    response = client.post(
        reverse("contacts:cleaning_fix_email", args=[contact.pk]),
        {"email": "  Alice.New@Fixed.Example "},
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.email == "alice.new@fixed.example"
    assert "alice.b@old.example" in contact.other_emails
    assert contact.email_status == "unknown"
    assert AuditEntry.objects.filter(action="fix_email", object_ids=[contact.pk]).exists()


@pytest.mark.parametrize("bad", ["not an address", "", "bob.b@old.example"])
def test_fix_email_refuses_bad_or_taken_addresses(client, org, worklists, bad):
    contact = worklists["alice"]["bounced"]
    client.force_login(org.alice)
    response = client.post(
        reverse("contacts:cleaning_fix_email", args=[contact.pk]), {"email": bad}, follow=True
    )
    assert response.status_code == 200
    assert response.context["messages"]
    contact.refresh_from_db()
    assert (contact.email, contact.email_status) == ("alice.b@old.example", "hard_bounced")


def test_one_click_merge(client, org, worklists):
    a, b = worklists["alice"]["dup_a"], worklists["alice"]["dup_b"]
    log_interaction(contact=b, author=org.alice, kind="call", summary="kept")
    client.force_login(org.alice)
    response = client.post(reverse("contacts:cleaning_merge"), {"keep": a.pk, "merge": b.pk})
    assert response.status_code == 302
    assert not Contact.objects.filter(pk=b.pk).exists()
    assert Interaction.objects.get(summary="kept").contact_id == a.pk
    assert AuditEntry.objects.filter(action="merge").count() == 1


@pytest.mark.parametrize("actor", ["alice", "manager_europe"])
def test_posts_on_records_outside_the_scope_answer_404_and_change_nothing(
    client, org, worklists, actor
):
    bobs = worklists["bob"]
    client.force_login(getattr(org, actor))
    before = list(Contact.objects.order_by("pk").values())
    for url, data in [
        (reverse("contacts:cleaning_dormant", args=[bobs["silent"].pk]), {}),
        (reverse("contacts:cleaning_fix_email", args=[bobs["bounced"].pk]), {"email": "n@x.de"}),
        (reverse("contacts:cleaning_merge"), {"keep": bobs["dup_a"].pk, "merge": bobs["dup_b"].pk}),
        (reverse("contacts:cleaning_dormant", args=[org.pool_contact.pk]), {}),
    ]:
        assert client.post(url, data).status_code == 404, url
    # A rep merging a colleague's record into their own: 404 as well.
    mine = worklists["alice"]["dup_a"] if actor == "alice" else None
    if mine is not None:
        response = client.post(
            reverse("contacts:cleaning_merge"), {"keep": mine.pk, "merge": bobs["dup_a"].pk}
        )
        assert response.status_code == 404
    assert list(Contact.objects.order_by("pk").values()) == before
    assert not AuditEntry.objects.exists()


def test_the_worklist_needs_a_login_and_gets_are_not_fixes(client, org, worklists):
    assert client.get(URL).status_code == 302
    client.force_login(org.alice)
    contact = worklists["alice"]["silent"]
    assert client.get(reverse("contacts:cleaning_dormant", args=[contact.pk])).status_code == 405


def test_nav_link(client, org):
    client.force_login(org.alice)
    page = client.get(reverse("contacts:contact_list")).content.decode()
    assert 'id="nav-cleaning"' in page and URL in page
