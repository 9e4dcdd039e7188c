"""Probable duplicates (reasons, scope, query count) and merging (keeps everything, audited,
scoped: nobody merges a record they may not edit)."""

import datetime

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AuditEntry
from contacts.duplicates import NAME_COMPANY, OTHER_EMAIL, PHONE, probable_duplicates
from contacts.merging import contact_links, merge_contacts
from contacts.models import Contact, ImportedContact, ImportJob
from followups.models import FollowUp, Interaction, Notification
from followups.services import log_interaction, plan_follow_up
from tests.factories import CompanyFactory, ContactFactory, TagFactory

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


def pairs(queryset):
    return {(p.first_id, p.second_id): p.reasons for p in probable_duplicates(queryset)}


def test_finder_reasons(org):
    acme = CompanyFactory(name="ACME Lighting")
    anna = ContactFactory(
        owner=org.alice,
        name="Anna Schmidt",
        company=acme,
        email="anna@acme.example",
        other_emails=["a.schmidt@acme.example", "ANNA.PRIVATE@mail.example"],
        phone="",
    )
    anna_private = ContactFactory(
        owner=org.alice,
        name="A. Schmidt",
        email="anna.private@mail.example",
        phone="",
    )
    anna_again = ContactFactory(
        owner=org.alice,
        name="  anna schmidt ",
        company=acme,
        email="schmidt@acme.example",
        phone="+4915109995916",
    )
    same_phone = ContactFactory(
        owner=org.alice, name="Front Desk", email="desk@other.example", phone="+4915109995916"
    )
    ContactFactory(owner=org.alice, name="Anna Schmidt", email="anna@elsewhere.example", phone="")
    found = pairs(Contact.objects.visible_to(org.alice))
    assert found == {
        (anna.pk, anna_private.pk): {OTHER_EMAIL},
        (anna.pk, anna_again.pk): {NAME_COMPANY},
        (anna_again.pk, same_phone.pk): {PHONE},
    }
    labels = probable_duplicates(Contact.objects.all())[0].reason_labels
    assert labels and all(str(label) for label in labels)


def test_pairs_with_several_reasons_are_one_pair(org):
    acme = CompanyFactory()
    first = ContactFactory(owner=org.alice, name="Li Wei", company=acme, phone="+8613800138000")
    second = ContactFactory(
        owner=org.alice,
        name="li wei",
        company=acme,
        phone="+8613800138000",
        other_emails=[first.email],
    )
    assert pairs(Contact.objects.all()) == {
        (first.pk, second.pk): {OTHER_EMAIL, PHONE, NAME_COMPANY}
    }


def test_a_group_gives_pairs_with_its_oldest_record(org):
    ids = [ContactFactory(owner=org.alice, phone="+8613800138000").pk for _ in range(4)]
    assert set(pairs(Contact.objects.all())) == {(ids[0], other) for other in ids[1:]}


def test_duplicates_are_found_only_within_the_scope(org):
    mine = ContactFactory(owner=org.alice, phone="+8613800138000")
    bobs = ContactFactory(owner=org.bob, phone="+8613800138000")
    carols = ContactFactory(owner=org.carol, phone="+8613800138000", other_emails=[mine.email])
    assert pairs(Contact.objects.visible_to(org.alice)) == {}
    assert set(pairs(Contact.objects.visible_to(org.manager_north))) == {(mine.pk, bobs.pk)}
    assert set(pairs(Contact.objects.visible_to(org.admin))) == {
        (mine.pk, bobs.pk),
        (mine.pk, carols.pk),
    }


def test_blank_values_never_match(org):
    for _ in range(3):
        ContactFactory(owner=org.alice, name="", phone="", company=None, other_emails=[])
    ContactFactory(owner=org.alice, name="   ", phone="")
    ContactFactory(owner=org.alice, name="   ", phone="")
    assert pairs(Contact.objects.all()) == {}


def test_finder_query_count_does_not_grow_with_contacts(org):
    acme = CompanyFactory()
    for n in range(40):
        ContactFactory(
            owner=org.alice,
            name=f"Buyer {n % 10}",
            company=acme,
            phone=f"+86138001380{n % 20:02d}",
            other_emails=[f"old{n}@x.example"],
        )
    with CaptureQueriesContext(connection) as queries:
        found = probable_duplicates(Contact.objects.visible_to(org.alice))
    assert len(found) > 30
    assert len(queries) <= 10


# --- merge ----------------------------------------------------------------------------------


@pytest.fixture
def twins(org):
    """Two records of one buyer, both alice's, with everything that hangs off a contact."""
    red, blue, shared = TagFactory(name="red"), TagFactory(name="blue"), TagFactory(name="shared")
    acme = CompanyFactory(name="ACME Lighting", country="DE")
    keep = ContactFactory(
        owner=org.alice,
        name="Anna Schmidt",
        company=acme,
        email="anna@acme.example",
        other_emails=["a.s@acme.example"],
        country="DE",
        phone="",
        stage="inquiry",
        job_title="",
        notes="Met at Canton Fair",
        tags=[red, shared],
    )
    merge = ContactFactory(
        owner=org.alice,
        name="Anna S.",
        company=None,
        email="anna.private@mail.example",
        other_emails=["A.S@ACME.EXAMPLE", "anna.old@mail.example"],
        country="",
        phone="+491511234567",
        stage="sample",
        job_title="Head of purchasing",
        notes="Prefers WeChat",
        consent_basis="consent",
        tags=[blue, shared],
    )
    referral = ContactFactory(owner=org.bob, referred_by=merge)
    keep_log = log_interaction(contact=keep, author=org.alice, kind="call", summary="call")
    merge_log = log_interaction(
        contact=merge,
        author=org.alice,
        kind="email_in",
        summary="Latest reply",
        occurred_at=timezone.now(),
    )
    follow_up = plan_follow_up(
        contact=merge, plan="Send samples", due_at=timezone.now() + DAY, created_by=org.alice
    )
    note = Notification.objects.create(user=org.alice, contact=merge, text="bell")
    bounce = apps.get_model("crm_mailbox", "Bounce").objects.create(
        contact=merge, email=merge.email, kind="soft", bounced_at=timezone.now()
    )
    job = ImportJob.objects.create(file_name="leads.xlsx", status="done")
    other_job = ImportJob.objects.create(file_name="fair.xlsx", status="done")
    ImportedContact.objects.create(job=job, contact=keep, created=False, filled_fields=["phone"])
    ImportedContact.objects.create(
        job=job, contact=merge, created=True, sheet="Leads", row=7, tags_added=["blue"]
    )
    provenance = ImportedContact.objects.create(
        job=other_job, contact=merge, created=True, sheet="Fair", row=3
    )
    return {
        "keep": keep,
        "merge": merge,
        "referral": referral,
        "keep_log": keep_log,
        "merge_log": merge_log,
        "follow_up": follow_up,
        "note": note,
        "job": job,
        "provenance": provenance,
        "bounce": bounce,
        "tags": {red.pk, blue.pk, shared.pk},
    }


def test_merge_keeps_everything_and_is_audited(org, twins):
    keep, merge = twins["keep"], twins["merge"]
    merged_id = merge.pk
    kept = merge_contacts(actor=org.alice, keep=keep, merge=merge)

    assert not Contact.objects.filter(pk=merged_id).exists()
    assert kept.pk == keep.pk
    assert set(Interaction.objects.filter(contact=kept).values_list("pk", flat=True)) == {
        twins["keep_log"].pk,
        twins["merge_log"].pk,
    }
    assert FollowUp.objects.get(pk=twins["follow_up"].pk).contact_id == kept.pk
    assert Notification.objects.get(pk=twins["note"].pk).contact_id == kept.pk
    twins["bounce"].refresh_from_db()
    assert twins["bounce"].contact_id == kept.pk  # the mailbox's records move too
    assert set(kept.tags.values_list("pk", flat=True)) == twins["tags"]
    assert Contact.objects.get(pk=twins["referral"].pk).referred_by_id == kept.pk
    # Every address is kept, once, lower-case; the primary stays the kept one's.
    assert kept.email == "anna@acme.example"
    assert kept.other_emails == [
        "a.s@acme.example",
        "anna.private@mail.example",
        "anna.old@mail.example",
    ]
    # Empty fields filled from the merged record; filled ones stay.
    assert (kept.phone, kept.job_title, kept.consent_basis) == (
        "+491511234567",
        "Head of purchasing",
        "consent",
    )
    assert (kept.name, kept.company.name, kept.country, kept.stage) == (
        "Anna Schmidt",
        "ACME Lighting",
        "DE",
        "inquiry",
    )
    assert "Met at Canton Fair" in kept.notes and "Prefers WeChat" in kept.notes
    assert kept.summary == "Latest reply"  # the newer story
    # Import provenance: moved, and combined where one job touched both records.
    records = {r.job_id: r for r in ImportedContact.objects.filter(contact=kept)}
    assert set(records) == {twins["job"].pk, twins["provenance"].job_id}
    combined = records[twins["job"].pk]
    assert (combined.created, combined.sheet, combined.row) == (True, "Leads", 7)
    assert combined.filled_fields == ["phone"] and combined.tags_added == ["blue"]
    assert records[twins["provenance"].job_id].pk == twins["provenance"].pk
    # Nothing anywhere still points at the merged record.
    for model, field in contact_links():
        assert not model._default_manager.filter(**{field.attname: merged_id}).exists(), model
    entry = AuditEntry.objects.get(action="merge")
    assert entry.actor == org.alice
    assert entry.object_ids == [kept.pk, merged_id]
    assert entry.detail["kept"] == kept.pk and entry.detail["merged"] == merged_id
    assert kept.health_score is not None


def test_merge_moves_open_follow_ups_to_the_kept_owner(org):
    keep = ContactFactory(owner=org.alice)
    merge = ContactFactory(owner=org.bob)
    follow_up = plan_follow_up(
        contact=merge, plan="call", due_at=timezone.now() + DAY, created_by=org.bob
    )
    merge_contacts(actor=org.manager_north, keep=keep, merge=merge)
    follow_up.refresh_from_db()
    assert (follow_up.contact_id, follow_up.assignee) == (keep.pk, org.alice)


def test_a_record_referred_by_its_twin_does_not_refer_to_itself(org):
    merge = ContactFactory(owner=org.alice)
    keep = ContactFactory(owner=org.alice, referred_by=merge)
    kept = merge_contacts(actor=org.alice, keep=keep, merge=merge)
    assert kept.referred_by_id is None


@pytest.mark.parametrize(
    "actor, keep_owner, merge_owner",
    [
        ("alice", "alice", "bob"),  # a rep and a colleague's record
        ("alice", "bob", "alice"),
        ("manager_north", "alice", "carol"),  # a manager and another team's record
        ("carol", "alice", "bob"),
    ],
)
def test_merge_refuses_records_the_actor_may_not_edit(org, actor, keep_owner, merge_owner):
    keep = ContactFactory(owner=getattr(org, keep_owner))
    merge = ContactFactory(owner=getattr(org, merge_owner))
    log_interaction(contact=merge, author=merge.owner, kind="call", summary="x")
    before = (Contact.objects.count(), Interaction.objects.filter(contact=merge).count())
    with pytest.raises(PermissionDenied):
        merge_contacts(actor=getattr(org, actor), keep=keep, merge=merge)
    assert (Contact.objects.count(), Interaction.objects.filter(contact=merge).count()) == before
    assert not AuditEntry.objects.filter(action="merge").exists()


def test_pool_contacts_cannot_be_merged_by_reps(org):
    with pytest.raises(PermissionDenied):
        merge_contacts(actor=org.alice, keep=org.alice_contact, merge=org.pool_contact)
    assert Contact.objects.filter(pk=org.pool_contact.pk).exists()


def test_merging_a_record_with_itself_is_refused(org):
    with pytest.raises(ValidationError):
        merge_contacts(actor=org.alice, keep=org.alice_contact, merge=org.alice_contact)


def test_the_portable_other_email_finder_agrees_with_the_sql_one(org):
    from contacts.duplicates import _other_email_pairs_python, _other_email_pairs_sql

    a = ContactFactory(owner=org.alice, other_emails=["B@x.example", " c@x.example ", 7, ""])
    b = ContactFactory(owner=org.alice, email="b@x.example", other_emails=[a.email.upper()])
    c = ContactFactory(owner=org.bob, email="c@x.example")
    ContactFactory(owner=org.alice, other_emails={"not": "a list"})
    for scope in (Contact.objects.all(), Contact.objects.visible_to(org.alice)):
        assert sorted(_other_email_pairs_sql(scope)) == _other_email_pairs_python(scope)
    assert _other_email_pairs_python(Contact.objects.all()) == [(a.pk, b.pk), (a.pk, c.pk)]
