"""Reminder sweep and daily digest at the service level: exactly once, time zones, DST."""

import datetime
import zoneinfo

import pytest
from django.core import mail

from followups import reminders, services
from followups.models import DigestDelivery, FollowUp, Notification, Reminder
from tests.factories import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


def plan(contact, due_at, **kwargs):
    return services.plan_follow_up(
        contact=contact, plan="Send quotation", due_at=due_at, created_by=contact.owner, **kwargs
    )


def at(zone, *args, fold=0):
    return datetime.datetime(*args, tzinfo=zoneinfo.ZoneInfo(zone), fold=fold)


def test_due_follow_up_yields_one_reminder_notification_and_email(
    django_capture_on_commit_callbacks,
):
    contact = ContactFactory(owner=UserFactory(email="rep@crm.example"))
    follow_up = plan(contact, datetime.datetime(2026, 3, 2, 9, tzinfo=UTC))
    not_yet = plan(contact, datetime.datetime(2026, 3, 2, 11, tzinfo=UTC))
    now = datetime.datetime(2026, 3, 2, 10, tzinfo=UTC)
    with django_capture_on_commit_callbacks(execute=True):
        ids = reminders.issue_due_reminders(now=now, on_batch=reminders.email_reminders)
    assert len(ids) == 1
    reminder = Reminder.objects.get()
    assert (reminder.follow_up, reminder.due_at) == (follow_up, follow_up.due_at)
    assert Notification.objects.get().user == contact.owner
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["rep@crm.example"]
    # Running again, or for the same moment, changes nothing.
    assert reminders.issue_due_reminders(now=now, on_batch=reminders.email_reminders) == []
    assert reminders.email_reminders(ids) == 0
    assert Reminder.objects.count() == 1 and len(mail.outbox) == 1
    assert FollowUp.objects.get(pk=not_yet.pk).reminded_for is None


def test_reminder_email_is_in_the_assignees_language(django_capture_on_commit_callbacks):
    owner = UserFactory(email="zh@crm.example", language="zh-hans")
    contact = ContactFactory(owner=owner, name="Hans Müller")
    plan(contact, datetime.datetime(2026, 3, 2, 9, tzinfo=UTC))
    with django_capture_on_commit_callbacks(execute=True):
        reminders.issue_due_reminders(
            now=datetime.datetime(2026, 3, 2, 9, tzinfo=UTC), on_batch=reminders.email_reminders
        )
    message = mail.outbox[0]
    assert "Hans Müller" in message.subject
    assert "Follow-up due" not in message.subject  # translated


def test_rescheduling_gives_a_fresh_reminder_and_closing_stops_it():
    contact = ContactFactory()
    follow_up = plan(contact, datetime.datetime(2026, 3, 2, 9, tzinfo=UTC))
    reminders.issue_due_reminders(now=datetime.datetime(2026, 3, 2, 9, 1, tzinfo=UTC))
    services.reschedule_follow_up(
        follow_up=follow_up, due_at=datetime.datetime(2026, 3, 3, 9, tzinfo=UTC)
    )
    assert reminders.issue_due_reminders(now=datetime.datetime(2026, 3, 2, 12, tzinfo=UTC)) == []
    assert len(reminders.issue_due_reminders(now=datetime.datetime(2026, 3, 3, 9, tzinfo=UTC))) == 1
    assert Reminder.objects.count() == 2
    services.reschedule_follow_up(
        follow_up=follow_up, due_at=datetime.datetime(2026, 3, 4, 9, tzinfo=UTC)
    )
    services.complete_follow_up(follow_up=follow_up, user=contact.owner)
    assert reminders.issue_due_reminders(now=datetime.datetime(2026, 3, 5, tzinfo=UTC)) == []
    other = plan(contact, datetime.datetime(2026, 3, 4, 9, tzinfo=UTC))
    services.cancel_follow_up(follow_up=other, user=contact.owner)
    assert reminders.issue_due_reminders(now=datetime.datetime(2026, 3, 5, tzinfo=UTC)) == []


@pytest.mark.parametrize(
    "zone, day",
    [
        ("Europe/Berlin", datetime.date(2026, 3, 29)),  # spring forward at 02:00
        ("Europe/Berlin", datetime.date(2026, 10, 25)),  # fall back at 03:00
        ("America/New_York", datetime.date(2026, 3, 8)),  # spring forward at 02:00
        ("America/New_York", datetime.date(2026, 11, 1)),  # 01:30 happens twice
    ],
)
def test_reminder_at_0130_local_on_dst_change_days_fires_once(zone, day):
    owner = UserFactory(time_zone=zone)
    contact = ContactFactory(owner=owner)
    due = services.due_moment(day=day, at=datetime.time(1, 30), user=owner)
    assert due.astimezone(zoneinfo.ZoneInfo(zone)).strftime("%H:%M") == "01:30"
    plan(contact, due)
    fired = []
    # Sweep every 15 minutes across the whole local day, as beat would (more often, even).
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=zoneinfo.ZoneInfo(zone))
    for quarter in range(0, 26 * 4):
        now = start.astimezone(UTC) + datetime.timedelta(minutes=15 * quarter)
        issued = reminders.issue_due_reminders(now=now)
        fired.extend((now, r) for r in issued)
    assert len(fired) == 1
    first_now = fired[0][0]
    assert due <= first_now < due + datetime.timedelta(minutes=15)


def test_due_time_skipped_by_dst_moves_forward():
    owner = UserFactory(time_zone="Europe/Berlin")
    due = services.due_moment(day=datetime.date(2026, 3, 29), at=datetime.time(2, 30), user=owner)
    assert due.astimezone(zoneinfo.ZoneInfo("Europe/Berlin")).strftime("%H:%M") == "03:30"


@pytest.mark.parametrize(
    "zone, utc_hour_of_8am",
    [("Asia/Shanghai", 0), ("Europe/Berlin", 7)],  # Berlin in winter: UTC+1
)
def test_digest_goes_out_at_0800_local_once(zone, utc_hour_of_8am):
    owner = UserFactory(time_zone=zone, email=f"{zone.split('/')[1].lower()}@crm.example")
    contact = ContactFactory(owner=owner)
    plan(contact, datetime.datetime(2026, 1, 14, 10, tzinfo=UTC))  # overdue
    plan(contact, at(zone, 2026, 1, 15, 15, 0))  # today
    plan(contact, at(zone, 2026, 1, 17, 15, 0))  # later: not in the digest
    day = datetime.datetime(2026, 1, 15, tzinfo=UTC)
    before = day + datetime.timedelta(hours=utc_hour_of_8am, minutes=-15)
    assert reminders.send_daily_digests(now=before) == 0
    assert mail.outbox == []
    eight = day + datetime.timedelta(hours=utc_hour_of_8am)
    assert reminders.send_daily_digests(now=eight) == 1
    assert reminders.send_daily_digests(now=eight + datetime.timedelta(minutes=15)) == 0
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert body.count("Send quotation") == 2
    assert DigestDelivery.objects.get(user=owner).item_count == 2


def test_no_digest_when_nothing_is_due():
    UserFactory(time_zone="Asia/Shanghai", email="idle@crm.example")
    assert reminders.send_daily_digests(now=datetime.datetime(2026, 1, 15, 0, 5, tzinfo=UTC)) == 0
    assert mail.outbox == []
