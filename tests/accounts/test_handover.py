"""Handover of a departing rep and bulk reassignment: one transaction, bounded, audited."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts import handover
from accounts.models import AuditEntry
from contacts.models import Contact
from followups import services
from followups.models import FollowUp, Notification
from tests.factories import CompanyFactory, ContactFactory, UserFactory

pytestmark = pytest.mark.django_db


def plan(contact, **kwargs):
    return services.plan_follow_up(
        contact=contact,
        plan=kwargs.pop("plan", "call back"),
        due_at=kwargs.pop("due_at", timezone.now() + datetime.timedelta(days=1)),
        created_by=contact.owner,
        **kwargs,
    )


def test_handover_to_one_member_moves_contacts_and_open_follow_ups(org, client):
    extra = ContactFactory(owner=org.alice)
    open_one = plan(org.alice_contact)
    done = plan(extra)
    services.complete_follow_up(follow_up=done, user=org.alice)
    interaction = services.log_interaction(
        contact=extra, author=org.alice, kind="call", summary="talked"
    )
    client.force_login(org.alice)
    preview = handover.plan_handover(
        actor=org.manager_north, departing=org.alice, targets=[org.bob]
    )
    assert preview.rows() == [
        {"target": org.bob, "contacts": 2, "open_follow_ups": 1, "pending_reminders": 1}
    ]
    result = handover.run_handover(
        actor=org.manager_north, departing=org.alice, targets=[org.bob], deactivate=True
    )
    assert set(Contact.objects.filter(owner=org.bob).values_list("pk", flat=True)) == {
        org.bob_contact.pk,
        org.alice_contact.pk,
        extra.pk,
    }
    assert FollowUp.objects.get(pk=open_one.pk).assignee == org.bob
    assert FollowUp.objects.get(pk=done.pk).assignee == org.alice  # history keeps its author
    interaction.refresh_from_db()
    assert interaction.author == org.alice
    assert Contact.objects.visible_to(org.bob).filter(pk=extra.pk).exists()
    org.alice.refresh_from_db()
    assert not org.alice.is_active
    # The departing rep's session ends at once.
    assert client.get("/contacts/").status_code == 302
    entry = AuditEntry.objects.get(action="handover")
    assert entry.actor == org.manager_north and entry.count == 2
    assert sorted(entry.object_ids) == sorted([org.alice_contact.pk, extra.pk])
    assert entry.detail["from"] == org.alice.pk
    note = Notification.objects.get(user=org.bob, handover=result)
    assert "2" in note.text


def test_spread_evenly_keeps_companies_together(org):
    acme, globex = CompanyFactory(), CompanyFactory()
    carl = UserFactory(username="carl", team=org.north)
    for _ in range(3):
        ContactFactory(owner=org.alice, company=acme)
    for _ in range(2):
        ContactFactory(owner=org.alice, company=globex)
    preview = handover.plan_handover(
        actor=org.manager_north, departing=org.alice, targets=[org.bob, carl]
    )
    sizes = sorted(len(ids) for ids in preview.assignments.values())
    assert sizes == [3, 3]  # acme (3) | globex (2) + alice_contact's own company (1)
    for ids in preview.assignments.values():
        companies = set(Contact.objects.filter(pk__in=ids).values_list("company_id", flat=True))
        for company in companies:
            all_of_company = Contact.objects.filter(company_id=company, owner=org.alice)
            assert set(all_of_company.values_list("pk", flat=True)) <= set(ids)


def test_release_to_pool_removes_owner_and_cancels_follow_ups(org):
    follow_up = plan(org.alice_contact)
    handover.run_handover(actor=org.admin, departing=org.alice, release_to_pool=True)
    contact = Contact.objects.get(pk=org.alice_contact.pk)
    assert contact.owner is None and contact.pool_state == "public"
    assert FollowUp.objects.get(pk=follow_up.pk).status == "cancelled"


@pytest.mark.parametrize(
    "actor, departing, target",
    [
        ("manager_europe", "alice", "bob"),  # not their team
        ("manager_north", "alice", "carol"),  # target outside their teams
        ("alice", "bob", "alice"),  # reps cannot hand over
    ],
)
def test_handover_outside_bounds_is_rejected_and_moves_nothing(org, actor, departing, target):
    before = list(Contact.objects.values_list("pk", "owner_id").order_by("pk"))
    with pytest.raises(PermissionDenied):
        handover.run_handover(
            actor=getattr(org, actor),
            departing=getattr(org, departing),
            targets=[getattr(org, target)],
        )
    assert list(Contact.objects.values_list("pk", "owner_id").order_by("pk")) == before
    assert not AuditEntry.objects.exists()


def test_handover_needs_a_target_or_the_pool(org):
    with pytest.raises(ValidationError):
        handover.plan_handover(actor=org.admin, departing=org.alice)
    with pytest.raises(ValidationError):
        handover.plan_handover(actor=org.admin, departing=org.alice, targets=[org.alice])


def test_bulk_reassign_within_team_is_audited(org):
    result = handover.reassign_contacts(
        actor=org.manager_north, contact_ids=[org.alice_contact.pk], target=org.bob
    )
    assert (result.moved, result.skipped) == ([org.alice_contact.pk], [])
    assert Contact.objects.get(pk=org.alice_contact.pk).owner == org.bob
    assert AuditEntry.objects.get(action="reassign").object_ids == [org.alice_contact.pk]


def test_bulk_reassign_into_another_team_moves_nothing(org):
    before = list(Contact.objects.values_list("pk", "owner_id").order_by("pk"))
    with pytest.raises(PermissionDenied):
        handover.reassign_contacts(
            actor=org.manager_north, contact_ids=[org.alice_contact.pk], target=org.carol
        )
    assert list(Contact.objects.values_list("pk", "owner_id").order_by("pk")) == before
    assert not AuditEntry.objects.exists()


def test_forged_ids_are_skipped_and_reported(org):
    """Out-of-scope ids (another team's, the pool's, made up) are untouched; the rest move."""
    forged = [org.carol_contact.pk, org.pool_contact.pk, 999_999]
    result = handover.reassign_contacts(
        actor=org.manager_north, contact_ids=[org.alice_contact.pk, *forged], target=org.bob
    )
    assert result.moved == [org.alice_contact.pk]
    assert sorted(result.skipped) == sorted(forged)
    assert Contact.objects.get(pk=org.carol_contact.pk).owner == org.carol
    assert Contact.objects.get(pk=org.pool_contact.pk).owner is None
    assert AuditEntry.objects.get(action="reassign").detail["skipped"] == 3


def test_moves_show_on_the_contacts_history(client, org):
    handover.reassign_contacts(
        actor=org.manager_north, contact_ids=[org.alice_contact.pk], target=org.bob
    )
    client.force_login(org.bob)
    page = client.get(org.alice_contact.get_absolute_url()).content.decode()
    assert 'id="history"' in page and "Reassigned" in page
    client.force_login(org.carol)
    assert client.get(org.alice_contact.get_absolute_url()).status_code == 404
