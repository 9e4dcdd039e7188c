"""What bounces, replies and auto-replies do to contacts and follow-ups (hand-made verdicts)."""

import datetime
import threading
import zoneinfo

import pytest
from django.db import connection
from django.utils import timezone

from contacts.models import Contact, EmailStatus
from followups.models import FollowUp, Interaction
from mailbox import effects
from mailbox.classify import Verdict
from mailbox.models import Bounce, IncomingMessage, Mailbox, MessageKind
from mailbox.outgoing import UnmailableAddressError, mailable, send_crm_email
from tests.factories import ContactFactory, UserFactory

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
_uids = iter(range(1, 10**6))


@pytest.fixture
def mailbox(db):
    return Mailbox.objects.create(name="sales", host="imap.example", username="sales")


@pytest.fixture
def owner(db):
    return UserFactory(username="rep_li", time_zone="Asia/Shanghai", language="en")


@pytest.fixture
def contact(owner):
    return ContactFactory(
        owner=owner, name="Markus Brandt", email="m.brandt@lichtwerk.example", email_status="valid"
    )


def incoming_for(mailbox, *, received_at=None, **fields):
    uid = next(_uids)
    defaults = {
        "folder": "INBOX",
        "uidvalidity": 1,
        "uid": uid,
        "message_id": f"<m{uid}@test>",
        "raw_sha256": f"{uid:064d}",
        "received_at": received_at or timezone.now(),
        "kind": MessageKind.OTHER,
    }
    defaults.update(fields)
    return IncomingMessage.objects.create(mailbox=mailbox, **defaults)


def wrote_to(contact):
    """The CRM sent this contact a message (what makes their bounces ours to act on)."""
    return send_crm_email(
        to_contact=contact,
        to_email=contact.email,
        subject="Quotation",
        body="...",
        purpose="one_off",
    )


def bounce(mailbox, address, *, hard=True, code="5.1.1", delay=False, received_at=None, tokens=()):
    incoming = incoming_for(
        mailbox,
        sender="mailer-daemon@mx.example",
        received_at=received_at,
        outgoing_tokens=list(tokens),
    )
    verdict = Verdict(
        kind="hard_bounce" if hard else "soft_bounce",
        failed_recipient=address,
        status_code=code,
        diagnostic="550 5.1.1 <x>: Recipient address rejected: User unknown",
        is_delay_warning=delay,
    )
    return effects.apply_verdict(incoming, verdict)


def fix_follow_ups(contact):
    return FollowUp.objects.filter(contact=contact, status="open", plan__startswith="Fix")


# --- bounces ------------------------------------------------------------------------------------


def test_hard_bounce_marks_the_address_keeps_the_bounce_and_asks_the_owner_once(
    mailbox, contact, owner
):
    wrote_to(contact)
    incoming = bounce(mailbox, contact.email)

    contact.refresh_from_db()
    assert contact.email_status == EmailStatus.HARD_BOUNCED
    assert incoming.matched and incoming.contact == contact and incoming.processed_at
    kept = contact.bounces.get()
    assert (kept.kind, kept.status_code, kept.email) == ("hard", "5.1.1", contact.email)
    assert "User unknown" in kept.diagnostic and kept.bounced_at == incoming.received_at
    follow_up = fix_follow_ups(contact).get()
    assert follow_up.assignee == owner and contact.email in follow_up.plan

    bounce(mailbox, contact.email)  # the same address bounces again: no second task
    assert contact.bounces.count() == 2
    assert fix_follow_ups(contact).count() == 1
    # Excluded from any mailing, and refused for a one-off e-mail.
    assert not mailable(Contact.objects.filter(pk=contact.pk)).exists()
    with pytest.raises(UnmailableAddressError):
        wrote_to(contact)


def test_a_closed_fix_follow_up_lets_a_new_hard_bounce_ask_again(mailbox, contact):
    wrote_to(contact)
    bounce(mailbox, contact.email)
    fix_follow_ups(contact).update(status="done")
    bounce(mailbox, contact.email)
    assert fix_follow_ups(contact).count() == 1


def test_bounce_matched_through_the_token_of_the_message_we_sent(mailbox, contact):
    sent = wrote_to(contact)
    incoming = bounce(mailbox, None, tokens=[sent.token])
    assert incoming.failed_recipient == contact.email and incoming.contact == contact
    assert contact.bounces.get().outgoing == sent


def test_bounce_for_an_address_we_never_wrote_to_changes_nothing(mailbox, contact):
    incoming = bounce(mailbox, contact.email)  # known contact, but no CRM mail went there

    contact.refresh_from_db()
    assert not incoming.matched and incoming.contact is None
    assert contact.email_status == EmailStatus.VALID
    unmatched = Bounce.objects.get(incoming=incoming)
    assert unmatched.contact is None and unmatched.email == contact.email
    assert not FollowUp.objects.filter(contact=contact).exists()
    stranger = bounce(mailbox, "nobody@unknown.example")
    assert not stranger.matched and Bounce.objects.filter(contact__isnull=True).count() == 2


def test_soft_bounce_is_counted_and_a_delay_warning_is_not_a_failure(mailbox, contact, owner):
    other = ContactFactory(owner=owner, email="slow@mx.example", email_status="valid")
    wrote_to(contact)
    wrote_to(other)

    bounce(mailbox, contact.email, hard=False, code="4.2.2")
    bounce(mailbox, other.email, hard=False, code="4.4.7", delay=True)

    contact.refresh_from_db()
    other.refresh_from_db()
    assert contact.email_status == EmailStatus.SOFT_BOUNCED
    assert contact.bounces.get().counted
    assert other.email_status == EmailStatus.VALID
    warning = other.bounces.get()
    assert warning.kind == "soft" and not warning.counted
    assert not FollowUp.objects.exists()


def test_three_soft_bounces_within_thirty_days_become_hard_once(mailbox, contact, owner):
    wrote_to(contact)
    now = timezone.now()
    for days in (1, 9, 20):
        bounce(
            mailbox,
            contact.email,
            hard=False,
            code="4.2.2",
            received_at=now - datetime.timedelta(days=days),
        )
    contact.refresh_from_db()
    assert contact.email_status == EmailStatus.SOFT_BOUNCED
    assert effects.soft_bounce_count(contact) == 3

    first = effects.apply_bounce_rules()
    second = effects.apply_bounce_rules()

    contact.refresh_from_db()
    assert contact.email_status == EmailStatus.HARD_BOUNCED
    assert first["treated_as_hard"] == [contact.pk] and second["treated_as_hard"] == []
    assert fix_follow_ups(contact).count() == 1


def test_old_soft_bounces_and_delay_warnings_do_not_add_up(mailbox, contact):
    wrote_to(contact)
    now = timezone.now()
    bounce(mailbox, contact.email, hard=False, received_at=now - datetime.timedelta(days=2))
    bounce(mailbox, contact.email, hard=False, received_at=now - datetime.timedelta(days=45))
    bounce(mailbox, contact.email, hard=False, delay=True)
    bounce(mailbox, contact.email, hard=False, delay=True)

    effects.apply_bounce_rules()

    contact.refresh_from_db()
    assert contact.email_status == EmailStatus.SOFT_BOUNCED
    assert not fix_follow_ups(contact).exists()


def test_the_limits_come_from_settings(mailbox, contact, settings):
    settings.MAILBOX_SOFT_BOUNCE_LIMIT, settings.MAILBOX_SOFT_BOUNCE_DAYS = 2, 7
    wrote_to(contact)
    bounce(mailbox, contact.email, hard=False)
    bounce(mailbox, contact.email, hard=False)
    assert effects.apply_bounce_rules()["treated_as_hard"] == [contact.pk]


def test_the_daily_job_applies_a_bounce_left_unapplied(mailbox, contact):
    Bounce.objects.create(
        contact=contact,
        email=contact.email,
        kind="hard",
        status_code="5.1.1",
        bounced_at=timezone.now(),
        applied=False,
    )
    assert effects.apply_bounce_rules()["applied"] == 1
    assert effects.apply_bounce_rules()["applied"] == 0
    contact.refresh_from_db()
    assert contact.email_status == EmailStatus.HARD_BOUNCED
    assert fix_follow_ups(contact).count() == 1


@pytest.mark.django_db(transaction=True)
def test_bounce_rules_on_two_workers_at_once_change_each_contact_once():
    owner = UserFactory(username="rep_wu")
    mailbox = Mailbox.objects.create(name="sales", host="imap.example", username="sales")
    contacts = [ContactFactory(owner=owner, email=f"c{i}@mx.example") for i in range(6)]
    for contact in contacts:
        wrote_to(contact)
        for _ in range(3):
            bounce(mailbox, contact.email, hard=False)
    results, failures = [], []

    def worker():
        try:
            results.append(effects.apply_bounce_rules())
        except Exception as error:  # noqa: BLE001
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not failures
    changed = [pk for r in results for pk in r["treated_as_hard"]]
    assert sorted(changed) == sorted(c.pk for c in contacts)
    for contact in contacts:
        assert fix_follow_ups(contact).count() == 1


# --- replies and auto-replies -------------------------------------------------------------------


def reply(mailbox, sender, *, subject="RE: Quotation LED panels", received_at=None, **fields):
    incoming = incoming_for(
        mailbox,
        sender=sender,
        sender_name=fields.pop("sender_name", "Markus Brandt"),
        subject=subject,
        body_text=fields.pop("body_text", "Thanks, please send 200 pcs."),
        received_at=received_at,
        **fields,
    )
    return effects.apply_verdict(incoming, Verdict(kind="human_reply"))


def test_human_reply_logs_the_email_and_plans_a_reply_by_the_next_working_day(
    mailbox, contact, owner
):
    friday = datetime.datetime(2024, 5, 10, 15, 0, tzinfo=SHANGHAI)
    incoming = reply(mailbox, contact.email, received_at=friday)

    assert incoming.matched and incoming.contact == contact
    interaction = Interaction.objects.get(contact=contact)
    assert interaction.kind == "email_in" and interaction.author is None
    assert interaction.summary == "RE: Quotation LED panels"
    assert "m.brandt@lichtwerk.example" in interaction.body
    assert "200 pcs" in interaction.body
    assert interaction.occurred_at == friday
    contact.refresh_from_db()
    assert contact.last_contacted_at == friday
    follow_up = FollowUp.objects.get(contact=contact)
    assert follow_up.assignee == owner and follow_up.plan.startswith("Reply to Markus Brandt")
    assert follow_up.due_at == datetime.datetime(2024, 5, 13, 15, 0, tzinfo=SHANGHAI)  # Monday


def test_a_reply_from_another_address_of_the_contact_is_theirs(mailbox, contact):
    Contact.objects.filter(pk=contact.pk).update(other_emails=["markus@private.example"])
    incoming = reply(mailbox, "markus@private.example")
    assert incoming.contact == contact


def test_no_second_follow_up_while_one_is_open(mailbox, contact):
    reply(mailbox, contact.email)
    reply(mailbox, contact.email, subject="RE: RE: Quotation")

    assert Interaction.objects.filter(contact=contact, kind="email_in").count() == 2
    assert FollowUp.objects.filter(contact=contact).count() == 1


def test_auto_reply_notes_the_return_date_and_nothing_else(mailbox, contact):
    incoming = incoming_for(mailbox, sender=contact.email, subject="Automatic reply: Quotation")
    effects.apply_verdict(
        incoming, Verdict(kind="auto_reply", return_date=datetime.date(2099, 5, 6))
    )
    contact.refresh_from_db()
    assert incoming.contact == contact
    assert contact.away_until == datetime.date(2099, 5, 6)
    assert not Interaction.objects.filter(contact=contact).exists()
    assert not FollowUp.objects.filter(contact=contact).exists()
    assert contact.last_contacted_at is None

    undated = incoming_for(mailbox, sender=contact.email, subject="Out of office")
    effects.apply_verdict(undated, Verdict(kind="auto_reply"))
    contact.refresh_from_db()
    assert contact.away_until == datetime.date(2099, 5, 6)


def test_a_reply_from_an_unknown_sender_waits_on_the_unmatched_list(mailbox, contact):
    incoming = reply(mailbox, "new.buyer@somewhere.example")
    assert not incoming.matched and incoming.contact is None
    assert list(effects.unmatched_replies()) == [incoming]
    assert not Interaction.objects.exists() and not FollowUp.objects.exists()


def test_other_mail_changes_nothing(mailbox, contact):
    incoming = incoming_for(mailbox, sender=contact.email, subject="Newsletter")
    effects.apply_verdict(incoming, Verdict(kind="other"))
    assert incoming.processed_at and not Interaction.objects.exists()
    assert not effects.unmatched_replies().exists()


@pytest.mark.parametrize(
    ("local", "due"),
    [
        ((2024, 5, 10, 15, 0), (2024, 5, 13, 15, 0)),  # Friday afternoon → Monday
        ((2024, 5, 10, 20, 0), (2024, 5, 13, 18, 0)),  # Friday evening → end of Monday
        ((2024, 5, 11, 10, 0), (2024, 5, 13, 18, 0)),  # Saturday → end of Monday
        ((2024, 5, 14, 7, 0), (2024, 5, 14, 18, 0)),  # Tuesday early → end of Tuesday
        ((2024, 5, 14, 12, 30), (2024, 5, 15, 12, 30)),  # Tuesday noon → Wednesday noon
        ((2024, 5, 14, 9, 0), (2024, 5, 14, 18, 0)),  # start of the day → its end
    ],
)
def test_one_working_day_after(local, due):
    moment = datetime.datetime(*local, tzinfo=SHANGHAI)
    expected = datetime.datetime(*due, tzinfo=SHANGHAI)
    assert effects.one_working_day_after(moment, SHANGHAI) == expected


def test_the_working_day_is_the_owners(mailbox, contact, owner):
    owner.time_zone = "Europe/Berlin"
    owner.save()
    friday_evening_in_china = datetime.datetime(2024, 5, 10, 22, 0, tzinfo=SHANGHAI)  # 16:00 CEST
    reply(mailbox, contact.email, received_at=friday_evening_in_china)
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    due = FollowUp.objects.get(contact=contact).due_at.astimezone(berlin)
    assert due == datetime.datetime(2024, 5, 13, 16, 0, tzinfo=berlin)
