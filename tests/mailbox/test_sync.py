"""The IMAP sync against a real Dovecot holding the fixture messages.

Most tests take their verdicts from manifest.csv (`manifest_classifier`): they test reading,
idempotency and failure handling, not the classifier. The end-to-end test with the real
classifier has "classify" in its name.
"""

import imaplib
import socket
import threading

import pytest
from django.db import connection

from contacts.models import Contact
from mailbox import effects, sync
from mailbox.models import Bounce, IncomingMessage, Mailbox, MailboxFolderState, MessageKind
from mailbox.sync import read_envelope
from tests.factories import ContactFactory, UserFactory

pytestmark = pytest.mark.mail


def crlf(raw):
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def stored(incoming_rows, raw):
    """The IncomingMessage for a fixture: by Message-ID, else by the digest of what IMAP sent."""
    import hashlib

    message_id = read_envelope(raw).message_id
    if message_id:
        return incoming_rows.get(message_id=message_id)
    return incoming_rows.get(message_id="", raw_sha256=hashlib.sha256(crlf(raw)).hexdigest())


def imap_flags(dovecot, user, password):
    conn = imaplib.IMAP4(dovecot.host, dovecot.port, timeout=5)
    try:
        conn.login(user, password)
        conn.select("INBOX", readonly=True)
        _typ, data = conn.uid("SEARCH", "ALL")
        uids = data[0].split()
        _typ, unseen = conn.uid("SEARCH", "UNSEEN")
        return len(uids), len(unseen[0].split())
    finally:
        conn.logout()


@pytest.fixture
def loaded(dovecot, make_mailbox, manifest):
    """A mailbox whose INBOX holds all 37 fixture messages."""
    user, password = dovecot.add_user([row["raw"] for row in manifest])
    return make_mailbox(user, password), user, password


def test_sync_reads_every_fixture_once_and_changes_nothing_on_the_server(
    loaded, manifest, manifest_classifier, dovecot
):
    mailbox, user, password = loaded
    result = sync.sync_mailbox(mailbox.pk)

    assert result.ok, result.errors
    assert result.ingested == len(manifest) == 37
    rows = IncomingMessage.objects.filter(mailbox=mailbox)
    assert rows.count() == 37
    for row in manifest:
        incoming = stored(rows, row["raw"])
        assert incoming.kind == row["kind"], row["file"]
        assert incoming.processed_at is not None
        assert incoming.failed_recipient == row["failed_recipient"]
    state = MailboxFolderState.objects.get(mailbox=mailbox, folder="INBOX")
    assert state.last_uid == max(rows.values_list("uid", flat=True))
    mailbox.refresh_from_db()
    assert mailbox.last_error == "" and mailbox.last_synced_at is not None
    # EXAMINE and BODY.PEEK[]: every message still there, still unread.
    assert imap_flags(dovecot, user, password) == (37, 37)


def test_resync_ingests_nothing_twice_and_reads_only_new_mail(
    loaded, manifest, manifest_classifier, dovecot
):
    mailbox, user, _password = loaded
    sync.sync_mailbox(mailbox.pk)
    bounces = Bounce.objects.count()

    again = sync.sync_mailbox(mailbox.pk)
    assert (again.ingested, again.duplicates, again.quarantined) == (0, 0, 0)

    # A new message, and a second copy of one already read (same Message-ID, new UID).
    new = b"From: Some One <one@new.example>\r\nSubject: new\r\nMessage-ID: <n1@new>\r\n\r\nhi\r\n"
    dovecot.deliver(user, [new, manifest[4]["raw"]])
    third = sync.sync_mailbox(mailbox.pk)

    assert (third.ingested, third.duplicates) == (1, 1)
    assert IncomingMessage.objects.filter(mailbox=mailbox).count() == 38
    assert Bounce.objects.count() == bounces


def test_crash_mid_batch_leaves_no_duplicate_and_the_next_run_finishes(
    loaded, manifest, manifest_classifier, monkeypatch
):
    mailbox, _user, _password = loaded
    real_apply = effects.apply_verdict
    calls = {"n": 0}

    def crash_on_the_15th(incoming, verdict, **kwargs):
        calls["n"] += 1
        if calls["n"] == 15:  # the 5th message of the 2nd batch of 10
            raise RuntimeError("worker lost in the middle of a batch")
        return real_apply(incoming, verdict, **kwargs)

    monkeypatch.setattr(effects, "apply_verdict", crash_on_the_15th)
    first = sync.sync_mailbox(mailbox.pk)

    assert not first.ok and first.ingested == 14
    mailbox.refresh_from_db()
    assert "worker lost" in mailbox.last_error and mailbox.last_error_at is not None
    rows = IncomingMessage.objects.filter(mailbox=mailbox)
    assert rows.count() == 14  # the 15th rolled back with its effects
    state = MailboxFolderState.objects.get(mailbox=mailbox)
    assert state.last_uid == max(rows.values_list("uid", flat=True))

    monkeypatch.setattr(effects, "apply_verdict", real_apply)
    second = sync.sync_mailbox(mailbox.pk)

    assert second.ok and second.ingested == 23
    assert rows.count() == 37
    assert not rows.filter(processed_at__isnull=True).exists()
    bounce_rows = [r for r in manifest if r["kind"].endswith("bounce")]
    assert Bounce.objects.filter(incoming__mailbox=mailbox).count() == len(bounce_rows) == 24
    mailbox.refresh_from_db()
    assert mailbox.last_error == ""


def test_bad_password_is_recorded_and_the_next_mailbox_still_syncs(
    dovecot, make_mailbox, manifest, manifest_classifier
):
    user, password = dovecot.add_user([manifest[0]["raw"], manifest[1]["raw"]])
    wrong = make_mailbox(user, "not-the-password", name="a wrong password")
    refused = make_mailbox(user, password, name="b refused")
    Mailbox.objects.filter(pk=refused.pk).update(port=_closed_port())
    good = make_mailbox(user, password, name="c good")

    results = sync.sync_all_mailboxes()

    assert [r.mailbox_id for r in results] == [wrong.pk, refused.pk, good.pk]
    wrong.refresh_from_db()
    refused.refresh_from_db()
    good.refresh_from_db()
    assert "authenticat" in wrong.last_error.lower() and wrong.last_synced_at is None
    assert "refused" in refused.last_error.lower()
    assert good.last_error == "" and good.last_synced_at is not None
    assert IncomingMessage.objects.filter(mailbox=good).count() == 2
    assert not IncomingMessage.objects.filter(mailbox__in=[wrong, refused]).exists()


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_server_that_never_answers_times_out_and_is_recorded(make_mailbox, mail_settings):
    mail_settings.MAILBOX_IMAP_TIMEOUT = 1
    with socket.socket() as silent:  # accepts connections (backlog) but never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        mailbox = make_mailbox("nobody", "x", name="silent")
        Mailbox.objects.filter(pk=mailbox.pk).update(port=silent.getsockname()[1])
        result = sync.sync_mailbox(mailbox.pk)
    mailbox.refresh_from_db()
    assert not result.ok
    assert "timed out" in mailbox.last_error


def test_uidvalidity_change_reads_the_folder_again_without_duplicates(loaded, manifest_classifier):
    mailbox, _user, _password = loaded
    sync.sync_mailbox(mailbox.pk)
    state = MailboxFolderState.objects.get(mailbox=mailbox)
    server_validity, last_uid = state.uidvalidity, state.last_uid
    # What the CRM knows no longer matches the server: as after a restore or a rebuilt index.
    MailboxFolderState.objects.filter(pk=state.pk).update(uidvalidity=server_validity - 7)

    result = sync.sync_mailbox(mailbox.pk)

    assert result.ok and result.ingested == 0 and result.duplicates == 37
    state.refresh_from_db()
    assert (state.uidvalidity, state.last_uid) == (server_validity, last_uid)
    assert IncomingMessage.objects.filter(mailbox=mailbox).count() == 37


def test_unreadable_and_oversized_messages_are_quarantined_and_the_sync_goes_on(
    dovecot, make_mailbox, manifest, manifest_classifier, monkeypatch, mail_settings
):
    from mailbox import classify

    broken = b"From: x@y.example\r\nSubject: BROKEN\r\nMessage-ID: <broken@y>\r\n\r\n\xff\xfe\r\n"
    huge = (
        b"From: big@y.example\r\nSubject: big\r\nMessage-ID: <big@y>\r\n\r\n"
        + b"x" * 5000
        + b"\r\n"
    )
    user, password = dovecot.add_user([broken, manifest[2]["raw"], huge, manifest[3]["raw"]])
    mailbox = make_mailbox(user, password)
    mail_settings.MAILBOX_MAX_MESSAGE_BYTES = 4096
    stub = classify.classify_message

    def classify_or_choke(raw):
        if b"BROKEN" in raw:
            raise ValueError("cannot make sense of this message")
        return stub(raw)

    monkeypatch.setattr(classify, "classify_message", classify_or_choke)
    result = sync.sync_mailbox(mailbox.pk)

    assert result.ok and (result.ingested, result.quarantined) == (2, 2)
    bad = IncomingMessage.objects.get(message_id="<broken@y>")
    assert bad.quarantined and bad.kind == MessageKind.QUARANTINED
    assert "cannot make sense" in bad.error and bad.processed_at is not None
    big = IncomingMessage.objects.get(message_id="<big@y>")
    assert big.quarantined and "too large" in big.error
    assert sync.sync_mailbox(mailbox.pk).ingested == 0  # quarantined is final, never re-read


def test_several_folders_unicode_names_and_a_missing_one(
    dovecot, make_mailbox, manifest, manifest_classifier
):
    user, password = dovecot.add_user([manifest[0]["raw"]])
    folder = "客户回复"
    dovecot.deliver(user, [manifest[1]["raw"]], folder=sync.encode_folder_name(folder)[1:-1])
    mailbox = make_mailbox(user, password, folders=["INBOX", "Missing", folder])

    result = sync.sync_mailbox(mailbox.pk)

    assert result.ingested == 2
    assert len(result.errors) == 1 and "Missing" in result.errors[0]
    assert set(IncomingMessage.objects.values_list("folder", flat=True)) == {"INBOX", folder}
    mailbox.refresh_from_db()
    assert "Missing" in mailbox.last_error


def test_encode_folder_name():
    assert sync.encode_folder_name("INBOX") == '"INBOX"'
    assert sync.encode_folder_name("收件箱") == '"&ZTZO9nux-"'
    assert sync.encode_folder_name('A&B "x"') == '"A&-B \\"x\\""'


@pytest.mark.django_db(transaction=True)
def test_two_workers_syncing_at_once_ingest_each_message_once(
    dovecot, manifest, manifest_classifier, mail_settings
):
    from mailbox.models import Security

    user, password = dovecot.add_user([row["raw"] for row in manifest])
    mailbox = Mailbox(
        name="shared", host=dovecot.host, port=dovecot.port, security=Security.NONE, username=user
    )
    mailbox.set_password(password)
    mailbox.save()
    results, failures = [], []

    def worker():
        try:
            results.append(sync.sync_mailbox(mailbox.pk))
        except Exception as error:  # noqa: BLE001
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not failures and all(r.ok for r in results), (failures, [r.errors for r in results])
    assert sum(r.ingested for r in results) == 37
    assert IncomingMessage.objects.filter(mailbox=mailbox).count() == 37
    assert Bounce.objects.count() == 24


@pytest.mark.usefixtures("real_classifier")
def test_end_to_end_with_the_real_classify(dovecot, make_mailbox, manifest):
    """The real classifier's verdict for every fixture, and what each kind does to contacts."""
    from followups.models import FollowUp, Interaction
    from mailbox.effects import unmatched_replies
    from mailbox.outgoing import send_crm_email

    owner = UserFactory()
    hard = {r["failed_recipient"] for r in manifest if r["kind"] == "hard_bounce"}
    soft_only = {r["failed_recipient"] for r in manifest if r["kind"] == "soft_bounce"} - hard
    never_written = sorted(soft_only)[0]  # a contact, but the CRM never wrote to it
    for address in sorted(hard | soft_only):
        contact = ContactFactory(email=address, owner=owner, email_status="valid")
        if address != never_written:
            send_crm_email(
                to_contact=contact, to_email=address, subject="Quote", body="Hi", purpose="one_off"
            )
    by_file = {row["file"]: row for row in manifest}
    senders = {name: read_envelope(by_file[name]["raw"]).sender for name in by_file}
    replied = ["s03.eml", "s05.eml", "s11.eml", "s21.eml"]  # s19's sender stays unknown
    for name in [*replied, "s20.eml"]:
        ContactFactory(email=senders[name], owner=owner)
    user, password = dovecot.add_user([row["raw"] for row in manifest])
    mailbox = make_mailbox(user, password)

    result = sync.sync_mailbox(mailbox.pk)

    assert result.ok and result.ingested == 37
    rows = IncomingMessage.objects.filter(mailbox=mailbox)
    wrong = {
        row["file"]: (stored(rows, row["raw"]).kind, row["kind"])
        for row in manifest
        if stored(rows, row["raw"]).kind != row["kind"]
    }
    assert not wrong
    for address in hard:
        assert Contact.objects.get(email=address).email_status == "hard_bounced"
        assert FollowUp.objects.filter(contact__email=address, plan__startswith="Fix").count() == 1
    for address in soft_only - {never_written}:
        # A "still trying" delay warning is no failure: the address stays valid.
        failures = rows.filter(failed_recipient=address, is_delay_warning=False)
        expected = "soft_bounced" if failures.exists() else "valid"
        assert Contact.objects.get(email=address).email_status == expected, address
    assert rows.filter(kind="soft_bounce", is_delay_warning=True).exists()
    assert Contact.objects.get(email=never_written).email_status == "valid"
    for name in replied:
        contact = Contact.objects.get(email=senders[name])
        interaction = Interaction.objects.get(contact=contact, kind="email_in")
        assert contact.last_contacted_at == interaction.occurred_at
        assert FollowUp.objects.filter(contact=contact, plan__startswith="Reply to").count() == 1
        assert ">" not in interaction.body.splitlines()[-1]  # no quoted history
    assert [m.sender for m in unmatched_replies()] == [senders["s19.eml"]]
    away = Contact.objects.get(email=senders["s20.eml"])
    assert not Interaction.objects.filter(contact=away).exists()
    assert not FollowUp.objects.filter(contact=away).exists()
    # Nothing twice on the next run.
    assert sync.sync_mailbox(mailbox.pk).ingested == 0


def test_the_classifiers_quarantine_verdict_quarantines(db, monkeypatch):
    from mailbox import classify

    mailbox = Mailbox.objects.create(name="q", host="h", username="u")
    monkeypatch.setattr(
        classify,
        "classify_message",
        lambda raw: classify.Verdict(kind="other", diagnostic="quarantined: could not be read"),
    )
    raw = b"From: a@b.example\r\nMessage-ID: <q1@b>\r\nSubject: ?\r\n\r\n\x00\x01\r\n"

    assert sync.ingest_message(mailbox, "INBOX", 1, 1, raw) == "quarantined"
    incoming = IncomingMessage.objects.get()
    assert incoming.quarantined and "could not be read" in incoming.error
    assert sync.ingest_message(mailbox, "INBOX", 1, 1, raw) == "duplicate"


def test_an_incomplete_classifier_reads_nothing(db, monkeypatch, make_mailbox):
    from mailbox import classify

    monkeypatch.delattr(classify, "reply_text")
    mailbox = make_mailbox("someone", "pw")
    result = sync.sync_mailbox(mailbox.pk)
    mailbox.refresh_from_db()
    assert "reply_text" in mailbox.last_error and not result.ok
    assert not IncomingMessage.objects.exists()
