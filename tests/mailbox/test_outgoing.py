"""Mail the CRM sends (matchable, never injectable) and mailbox passwords at rest."""

import re

import pytest
from cryptography.fernet import Fernet
from django.core import mail
from django.db import connection
from django.utils import timezone

from mailbox import sync
from mailbox.admin import MailboxForm
from mailbox.models import Mailbox, OutgoingMessage
from mailbox.outgoing import (
    HeaderInjectionError,
    UnmailableAddressError,
    send_crm_email,
    tokens_in,
)
from tests.factories import ContactFactory, UserFactory


@pytest.fixture
def crm_mail(settings):
    settings.DEFAULT_FROM_EMAIL = "Trade CRM <crm@crm.example>"
    settings.MAILBOX_RETURN_PATH = "bounces@crm.example"
    settings.MAILBOX_MESSAGE_ID_DOMAIN = "crm.example"
    settings.MAILBOX_VERP = False
    return settings


def test_sent_mail_carries_a_message_id_and_return_path_that_find_it_again(db, crm_mail):
    rep = UserFactory(username="rep_zhang", name_en="Zhang Wei")
    contact = ContactFactory(owner=rep, name="Omar Haddad", email="omar@gulf.example")

    sent = send_crm_email(
        to_contact=contact,
        to_email=contact.email,
        subject="Quotation 2024-051",
        body="Dear Omar, ...",
        purpose="one_off",
        from_user=rep,
    )

    assert re.fullmatch(r"<crm\.one_off\.[0-9a-f]{32}@crm\.example>", sent.message_id)
    assert sent.sent_at and sent.contact == contact and sent.to_email == "omar@gulf.example"
    (message,) = mail.outbox
    assert message.from_email == "bounces@crm.example"  # the envelope sender: bounces come here
    rendered = message.message()
    assert rendered["Message-ID"] == sent.message_id
    assert rendered["From"] == "Zhang Wei <crm@crm.example>"
    assert rendered["To"] == "Omar Haddad <omar@gulf.example>"
    # A reply quoting it, or a bounce returning it, names the token.
    returned = f"In-Reply-To: {sent.message_id}\r\n\r\nok".encode()
    assert tokens_in(returned) == [sent.token]


def test_verp_puts_the_token_in_the_return_path(db, crm_mail):
    crm_mail.MAILBOX_VERP = True
    sent = send_crm_email(to_email="a@b.example", subject="Hi", body="x", purpose="campaign")
    assert mail.outbox[0].from_email == f"bounces+{sent.token}@crm.example"
    assert tokens_in(f"To: bounces+{sent.token}@crm.example\r\n\r\n".encode()) == [sent.token]


@pytest.mark.parametrize(
    "field",
    [
        {"subject": "Quote\r\nBcc: everyone@victim.example"},
        {"subject": "Quote\nX-Injected: 1"},
        {"to_name": "Omar\r\nBcc: x@y.example"},
        {"to_email": "omar@gulf.example\r\nBcc: x@y.example"},
    ],
)
def test_line_breaks_in_headers_are_refused_and_nothing_is_sent(db, crm_mail, field):
    values = {"to_email": "omar@gulf.example", "subject": "Quote", "to_name": "Omar"}
    values.update(field)
    with pytest.raises(HeaderInjectionError, match="line breaks"):
        send_crm_email(body="x", purpose="one_off", **values)
    assert mail.outbox == [] and not OutgoingMessage.objects.exists()


def test_a_sender_name_with_a_line_break_is_refused(db, crm_mail):
    rep = UserFactory(username="rep_evil", name_en="Evil\r\nBcc: all@victim.example")
    with pytest.raises(HeaderInjectionError):
        send_crm_email(
            to_email="a@b.example", subject="x", body="x", purpose="one_off", from_user=rep
        )
    assert mail.outbox == []


@pytest.mark.parametrize(
    "fields",
    [{"email_status": "hard_bounced"}, {"email_status": "invalid"}, {"unsubscribed_at": "now"}],
)
def test_suppressed_addresses_get_nothing(db, crm_mail, fields):
    if fields.get("unsubscribed_at"):
        fields = {"unsubscribed_at": timezone.now()}
    contact = ContactFactory(email="gone@gulf.example", **fields)
    with pytest.raises(UnmailableAddressError):
        send_crm_email(
            to_contact=contact, to_email=contact.email, subject="x", body="x", purpose="campaign"
        )
    with pytest.raises(UnmailableAddressError):  # the address alone is enough
        send_crm_email(to_email="GONE@gulf.example", subject="x", body="x", purpose="campaign")
    assert mail.outbox == [] and not OutgoingMessage.objects.exists()


def test_an_invalid_address_is_refused(db, crm_mail):
    with pytest.raises(ValueError):
        send_crm_email(to_email="not an address", subject="x", body="x", purpose="one_off")


# --- the mailbox password ------------------------------------------------------------------------


@pytest.fixture
def key(settings):
    settings.MAILBOX_ENCRYPTION_KEY = Fernet.generate_key().decode()
    return settings


def test_the_password_is_stored_encrypted(db, key):
    mailbox = Mailbox(name="sales", host="imap.example", username="sales")
    mailbox.set_password("s3cret-imap-pass")
    mailbox.save()

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT password_encrypted FROM crm_mailbox_mailbox WHERE id = %s", [mailbox.pk]
        )
        (stored,) = cursor.fetchone()
    assert "s3cret" not in stored and stored.startswith("gAAAA")
    assert Mailbox.objects.get(pk=mailbox.pk).get_password() == "s3cret-imap-pass"


def test_a_rotated_key_still_opens_old_passwords(db, key):
    mailbox = Mailbox(name="sales", host="imap.example", username="sales")
    mailbox.set_password("old-pass")
    key.MAILBOX_ENCRYPTION_KEY = f"{Fernet.generate_key().decode()},{key.MAILBOX_ENCRYPTION_KEY}"
    assert mailbox.get_password() == "old-pass"


def test_a_password_the_key_cannot_open_is_recorded_on_the_mailbox(db, key):
    mailbox = Mailbox(name="sales", host="127.0.0.1", port=1, username="sales")
    mailbox.set_password("pass")
    mailbox.save()
    key.MAILBOX_ENCRYPTION_KEY = Fernet.generate_key().decode()

    result = sync.sync_mailbox(mailbox.pk)

    mailbox.refresh_from_db()
    assert not result.ok and "cannot be decrypted" in mailbox.last_error


def test_the_admin_form_never_shows_the_password_and_keeps_it_when_left_empty(db, key):
    form = MailboxForm(
        data={
            "name": "sales",
            "host": "imap.example",
            "port": 993,
            "security": "ssl",
            "username": "sales",
            "folders": '["INBOX"]',
            "is_active": "on",
            "password": "first-pass",
        }
    )
    assert form.is_valid(), form.errors
    mailbox = form.save()
    assert "first-pass" not in MailboxForm(instance=mailbox).as_p()

    data = dict(form.data, password="")
    again = MailboxForm(data=data, instance=mailbox)
    assert again.is_valid(), again.errors
    again.save()
    mailbox.refresh_from_db()
    assert mailbox.get_password() == "first-pass"


def test_the_admin_form_needs_a_password_for_a_new_mailbox_and_sane_folders(db, key):
    form = MailboxForm(
        data={
            "name": "x",
            "host": "h",
            "port": 993,
            "security": "ssl",
            "username": "u",
            "folders": '"INBOX"',
        }
    )
    assert not form.is_valid()
    assert "password" in form.errors and "folders" in form.errors
