"""log_interaction and follow-up services: one source of truth for the contact's story."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from contacts.models import Contact
from followups import services
from followups.models import FollowUp, Interaction
from tests.factories import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db
UTC = datetime.UTC


def test_log_interaction_updates_last_contacted_and_summary_only_when_newest():
    contact = ContactFactory(summary="imported summary")
    rep = contact.owner
    newer = datetime.datetime(2026, 5, 2, 10, tzinfo=UTC)
    services.log_interaction(
        contact=contact, author=rep, kind="call", summary="Discussed MOQ", occurred_at=newer
    )
    services.log_interaction(
        contact=contact,
        author=rep,
        kind="note",
        summary="Older note",
        occurred_at=newer - datetime.timedelta(days=3),
    )
    contact = Contact.objects.get(pk=contact.pk)
    assert contact.last_contacted_at == newer
    assert contact.summary == "Discussed MOQ"
    assert Interaction.objects.filter(contact=contact).count() == 2


def test_log_interaction_rejects_empty_summary_and_writes_nothing():
    contact = ContactFactory()
    with pytest.raises(ValidationError):
        services.log_interaction(contact=contact, author=contact.owner, kind="call", summary="  ")
    with pytest.raises(ValidationError):
        services.log_interaction(contact=contact, author=contact.owner, kind="fax", summary="x")
    assert not Interaction.objects.exists()
    assert Contact.objects.get(pk=contact.pk).last_contacted_at is None


def test_edit_interaction_keeps_the_previous_values_and_the_editor():
    contact = ContactFactory()
    interaction = services.log_interaction(
        contact=contact, author=contact.owner, kind="call", summary="First"
    )
    manager = UserFactory()
    services.edit_interaction(interaction=interaction, editor=manager, summary="Corrected")
    interaction.refresh_from_db()
    assert interaction.summary == "Corrected" and interaction.edited_by == manager
    assert interaction.author == contact.owner
    revision = interaction.revisions.get()
    assert (revision.summary, revision.edited_by) == ("First", manager)
    # An edit that changes nothing leaves no revision.
    services.edit_interaction(interaction=interaction, editor=manager, summary="Corrected")
    assert interaction.revisions.count() == 1


def test_next_follow_up_is_the_earliest_open_one():
    contact = ContactFactory()
    later = services.plan_follow_up(
        contact=contact,
        plan="later",
        due_at=datetime.datetime(2026, 6, 9, tzinfo=UTC),
        created_by=contact.owner,
    )
    sooner = services.plan_follow_up(
        contact=contact,
        plan="sooner",
        due_at=datetime.datetime(2026, 6, 2, tzinfo=UTC),
        created_by=contact.owner,
    )
    annotated = Contact.objects.with_next_follow_up().get(pk=contact.pk)
    assert annotated.next_follow_up_at == sooner.due_at
    services.complete_follow_up(follow_up=sooner, user=contact.owner)
    annotated = Contact.objects.with_next_follow_up().get(pk=contact.pk)
    assert annotated.next_follow_up_at == later.due_at
    assert sooner.assignee == contact.owner  # default assignee: the owner


def test_complete_can_log_and_plan_the_next_in_one_step():
    contact = ContactFactory()
    follow_up = services.plan_follow_up(
        contact=contact,
        plan="Call about sample",
        due_at=timezone.now(),
        created_by=contact.owner,
    )
    next_due = timezone.now() + datetime.timedelta(days=3)
    done, interaction, nxt = services.complete_follow_up(
        follow_up=follow_up,
        user=contact.owner,
        note="Sample arrived, they like it",
        log_kind="call",
        next_plan="Send PI",
        next_due_at=next_due,
    )
    assert done.status == "done" and done.completion_note == "Sample arrived, they like it"
    assert interaction.kind == "call" and interaction.summary == "Sample arrived, they like it"
    assert nxt.plan == "Send PI" and nxt.due_at == next_due and nxt.assignee == contact.owner
    with pytest.raises(ValidationError):
        services.complete_follow_up(follow_up=follow_up, user=contact.owner)


def test_complete_rolls_back_when_the_next_step_is_invalid():
    contact = ContactFactory()
    follow_up = services.plan_follow_up(
        contact=contact, plan="x", due_at=timezone.now(), created_by=contact.owner
    )
    with pytest.raises(ValidationError):
        services.complete_follow_up(
            follow_up=follow_up,
            user=contact.owner,
            log_kind="call",
            next_plan="y" * 600,  # too long
            next_due_at=timezone.now(),
        )
    assert FollowUp.objects.get(pk=follow_up.pk).status == "open"
    assert not Interaction.objects.exists()


@pytest.mark.parametrize(
    "option, expected_local",
    [
        ("1h", datetime.datetime(2026, 6, 3, 16, 20)),
        ("tomorrow", datetime.datetime(2026, 6, 4, 9, 0)),
        ("next_week", datetime.datetime(2026, 6, 8, 9, 0)),  # the Monday after Wednesday
    ],
)
def test_snooze_options_in_the_assignees_zone(option, expected_local):
    owner = UserFactory(time_zone="Europe/Berlin")
    contact = ContactFactory(owner=owner)
    follow_up = services.plan_follow_up(
        contact=contact, plan="x", due_at=timezone.now(), created_by=owner
    )
    now = datetime.datetime(2026, 6, 3, 13, 20, tzinfo=UTC)  # 15:20 in Berlin (CEST)
    services.snooze_follow_up(follow_up=follow_up, option=option, now=now)
    follow_up.refresh_from_db()
    local = follow_up.due_at.astimezone(services.user_zone(owner)).replace(tzinfo=None)
    assert local == expected_local


def test_the_list_shows_the_next_follow_up(client):
    contact = ContactFactory()
    due = datetime.datetime(2026, 6, 2, 1, 0, tzinfo=UTC)
    services.plan_follow_up(contact=contact, plan="x", due_at=due, created_by=contact.owner)
    client.force_login(contact.owner)
    page = client.get("/contacts/").content.decode()
    local = timezone.localtime(due, services.user_zone(contact.owner))
    assert f'<td class="next-follow-up">{local:%Y-%m-%d %H:%M}</td>' in page
