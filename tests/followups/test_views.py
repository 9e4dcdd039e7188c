"""The contact page's quick log, follow-up actions, My day, notifications and the ICS feed."""

import datetime
import socket

import icalendar
import pytest
from aiosmtpd.controller import Controller
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from contacts.models import Contact
from followups import reminders, services
from followups.models import CalendarFeed, FollowUp, Interaction, Notification
from tests.factories import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_quick_log_with_next_follow_up_in_one_submit(client, org):
    client.force_login(org.alice)
    contact = org.alice_contact
    response = client.post(
        reverse("followups:quick_log", args=[contact.pk]),
        {
            "kind": "call",
            "summary": "Discussed price for 5,000 pcs",
            "next_plan": "Send revised quotation",
            "next_due_date": "2026-12-03",
            "next_due_time": "10:30",
        },
    )
    assert response.status_code == 302
    interaction = Interaction.objects.get(contact=contact)
    assert (interaction.kind, interaction.author) == ("call", org.alice)
    follow_up = FollowUp.objects.get(contact=contact)
    assert follow_up.plan == "Send revised quotation" and follow_up.assignee == org.alice
    assert follow_up.due_at.astimezone(services.user_zone(org.alice)).strftime("%H:%M") == "10:30"
    contact.refresh_from_db()
    assert contact.summary == "Discussed price for 5,000 pcs"
    assert contact.last_contacted_at is not None
    page = client.get(contact.get_absolute_url())
    assert b"Send revised quotation" in page.content
    assert b"Discussed price for 5,000 pcs" in page.content


def test_quick_log_errors_save_nothing(client, org):
    client.force_login(org.alice)
    url = reverse("followups:quick_log", args=[org.alice_contact.pk])
    for data in (
        {"kind": "call", "summary": ""},
        {"kind": "telegram", "summary": "x"},
        {"kind": "call", "summary": "x", "next_plan": "y"},  # plan without a date
        {"kind": "call", "summary": "x", "next_due_date": "2026-02-30", "next_plan": "y"},
    ):
        response = client.post(url, data)
        assert response.status_code == 200
        assert b"Nothing was saved" in response.content
    response = client.post(url, {"kind": "call", "summary": ""}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b"<html" not in response.content
    assert not Interaction.objects.exists() and not FollowUp.objects.exists()


def test_htmx_quick_log_returns_the_story_partial(client, org):
    client.force_login(org.alice)
    response = client.post(
        reverse("followups:quick_log", args=[org.alice_contact.pk]),
        {"kind": "note", "summary": "Prefers WhatsApp"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert b'id="story"' in response.content and b"Prefers WhatsApp" in response.content


def test_timeline_is_newest_first_paginated_and_filtered_by_kind(client, org):
    contact = org.alice_contact
    base = timezone.now() - datetime.timedelta(days=30)
    for i in range(25):
        services.log_interaction(
            contact=contact,
            author=org.alice,
            kind="call" if i % 5 == 0 else "email_out",
            summary=f"entry {i:02d}",
            occurred_at=base + datetime.timedelta(hours=i),
        )
    client.force_login(org.alice)
    url = reverse("followups:timeline", args=[contact.pk])
    first = client.get(url).content.decode()
    assert first.index("entry 24") < first.index("entry 23")
    assert "entry 04" not in first  # 20 a page
    assert "entry 04" in client.get(url, {"page": 2}).content.decode()
    calls = client.get(url, {"kind": "call"}).content.decode()
    assert "entry 20" in calls and "entry 21" not in calls


def make_follow_up(contact, **kwargs):
    return services.plan_follow_up(
        contact=contact,
        plan=kwargs.pop("plan", "Check sample feedback"),
        due_at=kwargs.pop("due_at", timezone.now() - datetime.timedelta(hours=1)),
        created_by=contact.owner,
        **kwargs,
    )


def test_my_day_sections_and_inline_actions(client, org):
    contact = org.alice_contact
    overdue = make_follow_up(
        contact, plan="overdue one", due_at=timezone.now() - datetime.timedelta(days=2)
    )
    upcoming = make_follow_up(
        contact, plan="upcoming one", due_at=timezone.now() + datetime.timedelta(days=3)
    )
    later = make_follow_up(
        contact, plan="far away", due_at=timezone.now() + datetime.timedelta(days=20)
    )
    client.force_login(org.alice)
    page = client.get(reverse("followups:my_day")).content.decode()
    assert "overdue one" in page and "upcoming one" in page and "far away" not in page
    assert "Customer&#x27;s time" in page or "Customer's time" in page
    response = client.post(
        reverse("followups:complete", args=[overdue.pk]),
        {"note": "Done by phone", "log_kind": "call"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and b"<html" not in response.content
    assert FollowUp.objects.get(pk=overdue.pk).status == "done"
    assert Interaction.objects.get().summary == "Done by phone"
    client.post(reverse("followups:snooze", args=[upcoming.pk]), {"until": "next_week"})
    snoozed = FollowUp.objects.get(pk=upcoming.pk).due_at.astimezone(services.user_zone(org.alice))
    assert (snoozed.weekday(), snoozed.hour, snoozed.minute) == (0, 9, 0)  # next Monday 09:00
    assert snoozed > timezone.now()
    client.post(
        reverse("followups:reschedule", args=[later.pk]), {"due_date": "2027-01-04", "due_time": ""}
    )
    later.refresh_from_db()
    assert later.all_day and later.due_at.astimezone(services.user_zone(org.alice)).hour == 9


def test_follow_up_actions_bad_input_changes_nothing(client, org):
    follow_up = make_follow_up(org.alice_contact)
    client.force_login(org.alice)
    response = client.post(reverse("followups:snooze", args=[follow_up.pk]), {"until": "forever"})
    assert response.status_code == 302
    response = client.post(
        reverse("followups:reschedule", args=[follow_up.pk]), {"due_date": "not a date"}
    )
    assert response.status_code == 302
    assert FollowUp.objects.get(pk=follow_up.pk).due_at == follow_up.due_at
    assert client.get(reverse("followups:snooze", args=[follow_up.pk])).status_code == 405


def section(page, section_id):
    """The HTML of one My day section (overdue, today, upcoming)."""
    start = page.index(f'<section class="card" id="{section_id}">')
    return page[start : page.index("</section>", start)]


def test_my_day_done_with_next_step_logs_and_plans_the_next_follow_up(client, org):
    contact = org.alice_contact
    current = make_follow_up(contact, plan="Call about the sample")
    zone = services.user_zone(org.alice)
    tomorrow = timezone.now().astimezone(zone).date() + datetime.timedelta(days=1)
    client.force_login(org.alice)
    response = client.post(
        reverse("followups:complete", args=[current.pk]),
        {
            "note": "Sample approved",
            "log_kind": "call",
            "next_plan": "Send the proforma invoice",
            "next_due_date": tomorrow.isoformat(),
            "next_due_time": "10:30",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and b"<html" not in response.content
    row = response.content.decode()
    assert f'id="follow-up-{current.pk}"' in row and "status-done" in row
    assert f"Next step planned: Send the proforma invoice, due {tomorrow:%Y-%m-%d} 10:30" in row

    current.refresh_from_db()
    assert (current.status, current.completion_note) == ("done", "Sample approved")
    interaction = Interaction.objects.get(contact=contact)
    assert (interaction.kind, interaction.summary) == ("call", "Sample approved")
    following = FollowUp.objects.get(contact=contact, status="open")
    assert (following.plan, following.assignee, following.all_day) == (
        "Send the proforma invoice",
        org.alice,
        False,
    )
    local_due = following.due_at.astimezone(zone)
    assert (local_due.date(), local_due.strftime("%H:%M")) == (tomorrow, "10:30")

    page = client.get(reverse("followups:my_day")).content.decode()
    upcoming = section(page, "upcoming")
    assert f'id="follow-up-{following.pk}"' in upcoming
    assert "Send the proforma invoice" in upcoming and f"{tomorrow:%Y-%m-%d} 10:30" in upcoming
    assert "Call about the sample" not in page


def test_my_day_done_by_a_manager_plans_the_next_step_for_the_same_rep(client, org):
    current = make_follow_up(org.alice_contact)
    client.force_login(org.manager_north)
    response = client.post(
        reverse("followups:complete", args=[current.pk]),
        {"next_plan": "Visit at the Canton Fair", "next_due_date": "2027-04-15", "next": "/"},
    )
    assert response.status_code == 302 and response["Location"] == "/"
    following = FollowUp.objects.get(status="open")
    assert (following.contact, following.assignee) == (org.alice_contact, org.alice)
    assert following.created_by == org.manager_north and following.all_day
    client.force_login(org.alice)
    assert (
        "Visit at the Canton Fair" not in client.get(reverse("followups:my_day")).content.decode()
    )


@pytest.mark.parametrize(
    "next_step, error",
    [
        ({"next_plan": "Send samples", "next_due_date": "2026-02-30"}, "Enter a valid date."),
        ({"next_plan": "Send samples", "next_due_date": "2026-13-01"}, "Enter a valid date."),
        ({"next_plan": "Send samples"}, "Choose when to follow up."),
        ({"next_due_date": "2026-12-01"}, "Say what the next step is."),
        (
            {"next_plan": "Send samples", "next_due_date": "2026-12-01", "next_due_time": "25:00"},
            "Enter a valid time.",
        ),
        # A zone behind UTC would overflow at 9999-12-31 23:59: a field error, not a 500.
        (
            {"next_plan": "Send samples", "next_due_date": "9999-12-31", "next_due_time": "23:59"},
            "Enter a date no later than 9998-12-31.",
        ),
    ],
)
def test_my_day_done_with_a_bad_next_step_shows_the_error_inline_and_changes_nothing(
    client, org, next_step, error
):
    org.alice.time_zone = "America/New_York"
    org.alice.save()
    current = make_follow_up(org.alice_contact, plan="Call about the sample")
    client.force_login(org.alice)
    url = reverse("followups:complete", args=[current.pk])
    data = {"note": "Sample approved", "log_kind": "call", "show_contact": "1", **next_step}

    response = client.post(url, data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b"<html" not in response.content
    row = response.content.decode()
    # The row is still there, open, with what was typed, the error beside it, the step unfolded.
    assert f'id="follow-up-{current.pk}"' in row and "status-open" in row
    assert "Nothing was changed." in row and error in row
    assert org.alice_contact.name in row  # My day's row still names the customer
    assert '<details class="next-step" open>' in row
    assert 'value="Sample approved"' in row and 'value="call" selected' in row
    if "next_plan" in next_step:
        assert 'value="Send samples"' in row

    response = client.post(url, {**data, "next": reverse("followups:my_day")})  # without htmx
    assert response.status_code == 302 and response["Location"] == reverse("followups:my_day")
    page = client.get(response["Location"]).content.decode()
    assert error in page and f'id="follow-up-{current.pk}"' in page

    assert FollowUp.objects.get().status == "open"  # still the one, no next one
    assert not Interaction.objects.exists()
    current.refresh_from_db()
    assert current.completion_note == ""


def test_moving_a_follow_up_to_a_date_the_zone_cannot_convert_changes_nothing(client, org):
    org.alice.time_zone = "America/New_York"
    org.alice.save()
    follow_up = make_follow_up(org.alice_contact)
    client.force_login(org.alice)
    response = client.post(
        reverse("followups:reschedule", args=[follow_up.pk]),
        {"due_date": "9999-12-31", "due_time": "23:59"},
    )
    assert response.status_code == 302
    assert FollowUp.objects.get(pk=follow_up.pk).due_at == follow_up.due_at


@pytest.mark.parametrize(
    "actor, allowed",
    [
        ("alice", True),
        ("bob", False),
        ("carol", False),
        ("manager_north", True),
        ("manager_europe", False),
        ("admin", True),
    ],
)
def test_follow_up_actions_are_scoped(client, org, actor, allowed):
    follow_up = make_follow_up(org.alice_contact)
    client.force_login(getattr(org, actor))
    response = client.post(reverse("followups:complete", args=[follow_up.pk]), {})
    assert response.status_code == (302 if allowed else 404)
    assert FollowUp.objects.get(pk=follow_up.pk).status == ("done" if allowed else "open")


def test_team_view_counts_per_rep_for_managers_only(client, org):
    make_follow_up(org.alice_contact)
    make_follow_up(org.bob_contact, due_at=timezone.now() + datetime.timedelta(days=1))
    make_follow_up(org.carol_contact)
    client.force_login(org.manager_north)
    page = client.get(reverse("followups:team_day")).content.decode()
    assert "alice" in page or org.alice.display_name in page
    assert org.carol.display_name not in page
    client.force_login(org.alice)
    assert client.get(reverse("followups:team_day")).status_code == 404


def test_bell_counts_unread_and_mark_read(client, org):
    make_follow_up(org.alice_contact)
    reminders.issue_due_reminders()
    client.force_login(org.alice)
    page = client.get(reverse("followups:my_day")).content.decode()
    assert 'id="unread-count">1<' in page
    notification = Notification.objects.get(user=org.alice)
    client.post(reverse("followups:mark_read", args=[notification.pk]))
    assert Notification.objects.get(pk=notification.pk).read_at is not None
    client.force_login(org.bob)  # someone else's notification cannot be touched
    assert Notification.objects.filter(user=org.bob).count() == 0


def test_calendar_feed_lists_open_follow_ups_behind_a_resettable_secret(client, org):
    open_one = make_follow_up(org.alice_contact, plan="Visit at trade fair")
    done = make_follow_up(org.alice_contact, plan="old thing")
    services.complete_follow_up(follow_up=done, user=org.alice)
    make_follow_up(org.bob_contact, plan="bob's plan")
    client.force_login(org.alice)
    client.get(reverse("followups:calendar_settings"))
    assert not CalendarFeed.objects.filter(user=org.alice).exists()  # looking makes nothing
    client.post(reverse("followups:calendar_reset"))
    token = CalendarFeed.objects.get(user=org.alice).token
    assert token in client.get(reverse("followups:calendar_settings")).content.decode()
    client.logout()
    response = client.get(reverse("followups:calendar_feed", args=[token]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(response.content)
    events = [c for c in calendar.walk("VEVENT")]
    assert [str(e["summary"]).split(" — ")[0] for e in events] == ["Visit at trade fair"]
    assert str(events[0]["uid"]) == f"follow-up-{open_one.pk}@trade-crm"
    client.force_login(org.alice)
    client.post(reverse("followups:calendar_reset"))
    client.logout()
    assert client.get(reverse("followups:calendar_feed", args=[token])).status_code == 404
    assert client.get("/calendar/not-a-token.ics").status_code == 404


def test_calendar_feed_of_deactivated_user_is_gone(client, org):
    feed = CalendarFeed.objects.create(user=org.alice)
    org.alice.is_active = False
    org.alice.save()
    assert client.get(reverse("followups:calendar_feed", args=[feed.token])).status_code == 404


class Sink:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_reminder_and_digest_go_through_a_real_smtp_server(django_capture_on_commit_callbacks):
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=port,
        ):
            owner = UserFactory(email="rep@crm.example", time_zone="Asia/Shanghai")
            contact = ContactFactory(owner=owner, name="Ana Costa")
            make_follow_up(contact, due_at=timezone.now() - datetime.timedelta(minutes=1))
            with django_capture_on_commit_callbacks(execute=True):
                reminders.issue_due_reminders(on_batch=reminders.email_reminders)
            eight = datetime.datetime.combine(
                timezone.now().date(), datetime.time(0, 5), tzinfo=datetime.UTC
            )  # 08:05 in Shanghai
            reminders.send_daily_digests(now=eight)
    finally:
        controller.stop()
    assert [m.rcpt_tos for m in sink.messages] == [["rep@crm.example"], ["rep@crm.example"]]
    assert b"Ana Costa" in sink.messages[0].content


def test_scope_of_new_urls(client, org):
    """Out-of-scope contact → 404 on every new URL; anonymous → login."""
    contact = org.alice_contact
    urls = [
        ("get", reverse("followups:timeline", args=[contact.pk])),
        ("post", reverse("followups:quick_log", args=[contact.pk])),
        ("post", reverse("followups:plan", args=[contact.pk])),
    ]
    for method, url in urls:
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/login/" in response["Location"]
    client.force_login(org.carol)
    for method, url in urls:
        assert getattr(client, method)(url).status_code == 404
    client.force_login(org.bob)
    for method, url in urls:
        assert getattr(client, method)(url).status_code == 404
    assert Contact.objects.get(pk=contact.pk).last_contacted_at is None
    for name in ("my_day", "notifications", "calendar_settings"):
        client.logout()
        assert client.get(reverse(f"followups:{name}")).status_code == 302


def test_my_day_shows_the_customers_own_clock(client, org):
    """The customer's time is their wall clock, not converted back to the user's zone."""
    import zoneinfo

    org.alice.time_zone = "Asia/Shanghai"
    org.alice.save()
    contact = org.alice_contact  # country US → America/New_York
    make_follow_up(contact)
    client.force_login(org.alice)
    before = timezone.now()
    page = client.get(reverse("followups:my_day")).content.decode()
    after = timezone.now()
    new_york = zoneinfo.ZoneInfo("America/New_York")
    shown = {t.astimezone(new_york).strftime("%H:%M") for t in (before, after)}
    assert any(
        f"Customer&#x27;s time: {hhmm}" in page or f"Customer's time: {hhmm}" in page
        for hhmm in shown
    )
    detail = client.get(contact.get_absolute_url()).content.decode()
    assert any(t.astimezone(new_york).strftime("%Y-%m-%d %H:%M") in detail for t in (before, after))


def test_notifications_hide_customers_handed_over_since(client, org):
    from accounts.handover import reassign_contacts

    make_follow_up(org.alice_contact, plan="Chase the deposit")
    reminders.issue_due_reminders()
    client.force_login(org.alice)
    assert "Chase the deposit" in client.get(reverse("followups:notifications")).content.decode()
    reassign_contacts(actor=org.manager_north, contact_ids=[org.alice_contact.pk], target=org.bob)
    page = client.get(reverse("followups:notifications")).content.decode()
    assert "Chase the deposit" not in page
    assert org.alice_contact.get_absolute_url() not in page
