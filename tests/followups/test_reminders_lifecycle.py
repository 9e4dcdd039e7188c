"""A follow-up's reminders over its life: rescheduling earns a fresh one, closing stops them.

Service level, in process: `issue_due_reminders(now=...)` as the beat would run it, e-mails through
the locmem backend.
"""

import datetime

import pytest
from django.conf import settings
from django.core import mail

from followups import reminders, services
from followups.models import FollowUp, Notification, Reminder
from tests.factories import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
NINE = datetime.datetime(2026, 3, 2, 9, tzinfo=UTC)
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)


@pytest.fixture
def contact():
    owner = UserFactory(email="rep@crm.example", language="en", time_zone="UTC")
    return ContactFactory(owner=owner, name="Ada Buyer")


@pytest.fixture
def sweep(django_capture_on_commit_callbacks):
    """One beat tick at `now`: reminders issued, their e-mails sent after each batch commits."""

    def run(now):
        with django_capture_on_commit_callbacks(execute=True):
            return reminders.issue_due_reminders(now=now, on_batch=reminders.email_reminders)

    return run


def plan(contact, due_at):
    return services.plan_follow_up(
        contact=contact, plan="Send the quotation", due_at=due_at, created_by=contact.owner
    )


def test_rescheduling_earns_a_fresh_reminder_notification_and_email_at_the_new_time(contact, sweep):
    follow_up = plan(contact, NINE)
    assert len(sweep(NINE)) == 1
    services.reschedule_follow_up(follow_up=follow_up, due_at=NINE + DAY)

    assert sweep(NINE + HOUR) == []  # the old time is done with; the new one has not come
    assert sweep(NINE + DAY - datetime.timedelta(seconds=1)) == []
    assert len(sweep(NINE + DAY)) == 1
    assert sweep(NINE + DAY + HOUR) == []

    assert list(Reminder.objects.order_by("due_at").values_list("due_at", flat=True)) == [
        NINE,
        NINE + DAY,
    ]
    assert Notification.objects.filter(follow_up=follow_up).count() == 2
    assert len(mail.outbox) == 2
    assert len({m.extra_headers["Message-ID"] for m in mail.outbox}) == 2
    assert FollowUp.objects.get(pk=follow_up.pk).reminded_for == NINE + DAY


def test_moving_the_time_before_it_comes_gives_only_the_new_reminder(contact, sweep):
    follow_up = plan(contact, NINE)
    services.reschedule_follow_up(follow_up=follow_up, due_at=NINE + 2 * HOUR)
    assert sweep(NINE + HOUR) == []
    assert len(sweep(NINE + 2 * HOUR)) == 1
    assert Reminder.objects.get().due_at == NINE + 2 * HOUR
    assert len(mail.outbox) == 1


def test_snoozing_an_hour_reminds_again_an_hour_later(contact, sweep):
    follow_up = plan(contact, NINE)
    sweep(NINE)
    five_past = NINE + datetime.timedelta(minutes=5)
    services.snooze_follow_up(follow_up=follow_up, option="1h", now=five_past)
    snoozed_to = FollowUp.objects.get(pk=follow_up.pk).due_at
    assert snoozed_to == five_past + HOUR
    assert sweep(NINE + HOUR) == []
    assert len(sweep(snoozed_to)) == 1
    assert Reminder.objects.count() == 2 and len(mail.outbox) == 2


def test_a_due_time_is_reminded_once_even_when_the_follow_up_returns_to_it(contact, sweep):
    follow_up = plan(contact, NINE)
    sweep(NINE)
    services.reschedule_follow_up(follow_up=follow_up, due_at=NINE + HOUR)
    sweep(NINE + HOUR)
    services.reschedule_follow_up(follow_up=follow_up, due_at=NINE)  # back to the first time
    assert sweep(NINE + 2 * HOUR) == []  # the delivery key (follow-up, 09:00) is taken
    assert Reminder.objects.count() == 2 and len(mail.outbox) == 2
    assert FollowUp.objects.get(pk=follow_up.pk).reminded_for == NINE  # and it is settled


@pytest.mark.parametrize("close", ["complete", "cancel"])
def test_closing_before_the_due_time_means_no_reminder(contact, sweep, close):
    follow_up = plan(contact, NINE)
    close_follow_up(follow_up, close)
    assert sweep(NINE + DAY) == []
    assert not Reminder.objects.exists() and not Notification.objects.exists()
    assert mail.outbox == []


@pytest.mark.parametrize("close", ["complete", "cancel"])
def test_closing_after_the_reminder_stops_any_further_one(contact, sweep, close):
    follow_up = plan(contact, NINE)
    sweep(NINE)
    close_follow_up(follow_up, close)
    assert sweep(NINE + DAY) == []
    assert Reminder.objects.count() == 1 and len(mail.outbox) == 1


@pytest.mark.parametrize("close", ["complete", "cancel"])
def test_closing_between_the_reminder_and_its_email_stops_the_email(contact, close):
    """The in-app reminder stays; the e-mail, still queued, is dropped and never re-queued."""
    follow_up = plan(contact, NINE)
    ids = reminders.issue_due_reminders(now=NINE)  # e-mail not sent yet (queued)
    close_follow_up(follow_up, close)
    assert reminders.email_reminders(ids) == 0
    assert mail.outbox == []
    assert Notification.objects.filter(follow_up=follow_up).count() == 1
    assert reminders.pending_reminder_email_ids() == []


def test_rescheduling_between_the_reminder_and_its_email_sends_only_the_new_one(contact):
    follow_up = plan(contact, NINE)
    old = reminders.issue_due_reminders(now=NINE)
    services.reschedule_follow_up(follow_up=follow_up, due_at=NINE + DAY)
    assert reminders.email_reminders(old) == 0  # "due now" would be wrong: it is due tomorrow
    new = reminders.issue_due_reminders(now=NINE + DAY)
    assert reminders.email_reminders(new) == 1
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["rep@crm.example"]
    assert "2026-03-03 09:00" in mail.outbox[0].body


def test_email_task_run_twice_or_for_the_same_ids_sends_once(contact):
    plan(contact, NINE)
    ids = reminders.issue_due_reminders(now=NINE)
    assert reminders.email_reminders(ids + ids) == 1
    assert reminders.email_reminders(ids) == 0
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "Follow-up due: Ada Buyer"
    domain = settings.DEFAULT_FROM_EMAIL.rstrip(">").rpartition("@")[2]
    assert message.extra_headers["Message-ID"] == f"<trade-crm.reminder.{ids[0]}@{domain}>"


def test_inactive_or_addressless_assignee_gets_the_in_app_reminder_only(sweep):
    inactive = UserFactory(email="gone@crm.example", is_active=False)
    no_address = UserFactory(email="")
    for owner in (inactive, no_address):
        plan(ContactFactory(owner=owner), NINE)
    assert len(sweep(NINE)) == 2
    assert Notification.objects.count() == 2
    assert mail.outbox == []
    assert reminders.pending_reminder_email_ids() == []


def close_follow_up(follow_up, how):
    if how == "complete":
        services.complete_follow_up(follow_up=follow_up, user=follow_up.assignee, note="done")
    else:
        services.cancel_follow_up(follow_up=follow_up, user=follow_up.assignee)
