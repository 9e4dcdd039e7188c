"""Read new messages from the configured IMAP mailboxes, classify them and apply their effects.

Read-only by construction: folders are opened with EXAMINE and bodies fetched with BODY.PEEK[],
so nothing is flagged, moved or deleted. New messages are those above the folder's last UID
under its UIDVALIDITY (a new UIDVALIDITY starts the folder over). Each message is stored,
classified, applied and the folder's last UID advanced in one transaction, with the folder's
state row locked: a crash before the commit leaves nothing behind and the next run reads the
message again, and two workers syncing at once take turns and skip what the other did. The
unique keys on IncomingMessage (UID, Message-ID or digest) make a second ingestion impossible.

Connection and login failures are recorded on the mailbox and the run goes on with the next
mailbox; an unreadable message is quarantined with the error and the sync goes on; a failure
while applying an effect leaves that message unread (recorded on the mailbox) for the next run.
"""

import base64
import dataclasses
import datetime
import email
import email.header
import email.parser
import email.policy
import email.utils
import hashlib
import imaplib
import logging
import re
import ssl
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import classify, effects
from .crypto import InvalidToken
from .models import IncomingMessage, Mailbox, MailboxFolderState, MessageKind, Security
from .outgoing import tokens_in

logger = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 2000


class MailboxError(Exception):
    """The server said no (login, folder, fetch): recorded on the mailbox, never retried here."""


@dataclasses.dataclass
class SyncResult:
    mailbox_id: int
    ingested: int = 0
    duplicates: int = 0
    quarantined: int = 0
    errors: list = dataclasses.field(default_factory=list)

    @property
    def ok(self):
        return not self.errors


# --- IMAP plumbing ------------------------------------------------------------------------------


def encode_folder_name(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 5.1.3), quoted: 收件箱 → "&ZTZO9nux-"."""
    out, pending = [], []

    def flush():
        if pending:
            packed = "".join(pending).encode("utf-16-be")
            encoded = base64.b64encode(packed).decode("ascii").rstrip("=").replace("/", ",")
            out.append(f"&{encoded}-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    quoted = "".join(out).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}"'


def connect(mailbox: Mailbox) -> imaplib.IMAP4:
    """A logged-in connection; every socket call times out after MAILBOX_IMAP_TIMEOUT."""
    timeout = settings.MAILBOX_IMAP_TIMEOUT
    password = mailbox.get_password()  # an undecryptable password fails before any connection
    if mailbox.security == Security.SSL:
        conn = imaplib.IMAP4_SSL(
            mailbox.host, mailbox.port, ssl_context=ssl.create_default_context(), timeout=timeout
        )
    else:
        conn = imaplib.IMAP4(mailbox.host, mailbox.port, timeout=timeout)
        if mailbox.security == Security.STARTTLS:
            conn.starttls(ssl_context=ssl.create_default_context())
    try:
        conn.login(mailbox.username, password)
    except BaseException:
        _close(conn)
        raise
    return conn


def _close(conn):
    try:
        conn.logout()
    except Exception:  # noqa: BLE001 - the connection may already be gone
        pass


def _check(typ, data, what):
    if typ != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
        raise MailboxError(f"{what}: {typ} {detail}".strip())
    return data


_META = re.compile(rb"(UID|RFC822\.SIZE)\s+(\d+)", re.IGNORECASE)
_START = re.compile(rb"^\d+\s+\(")


def parse_fetch(data) -> dict[int, dict]:
    """imaplib's FETCH answer as {uid: {"size", "internaldate", "body"}}, in any item order."""
    messages, current = {}, None
    for item in data:
        if isinstance(item, tuple):
            meta, literal = item
        elif isinstance(item, bytes):
            meta, literal = item, None
        else:
            continue
        if _START.match(meta):
            current = {"body": None, "size": None, "internaldate": None, "uid": None}
        if current is None:
            continue
        for key, value in _META.findall(meta):
            current["uid" if key.upper() == b"UID" else "size"] = int(value)
        if b"INTERNALDATE" in meta.upper():
            parsed = imaplib.Internaldate2tuple(meta)
            if parsed:
                current["internaldate"] = datetime.datetime.fromtimestamp(
                    time.mktime(parsed), tz=datetime.UTC
                )
        if literal is not None:
            current["body"] = literal
        if current["uid"] is not None:
            messages[current["uid"]] = current
    return messages


def _fetch(conn, uids, items):
    if not uids:
        return {}
    typ, data = conn.uid("FETCH", ",".join(str(u) for u in uids), f"(UID {items})")
    return parse_fetch(_check(typ, data, "FETCH"))


# --- what the sync needs to know about a message before classifying it --------------------------


@dataclasses.dataclass
class Envelope:
    message_id: str = ""
    date: datetime.datetime | None = None
    sender: str = ""
    sender_name: str = ""
    subject: str = ""


def _header_text(value):
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except Exception:  # noqa: BLE001 - broken encoded words: keep the raw text
        return str(value)


def read_envelope(raw: bytes) -> Envelope:
    """Message-ID, date, sender and subject from the headers alone; never raises."""
    envelope = Envelope()
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    except Exception:  # noqa: BLE001 - unreadable headers: an empty envelope
        return envelope
    message_id = str(headers.get("Message-ID", "") or "").strip()
    envelope.message_id = " ".join(message_id.split())[:998]
    try:
        date = email.utils.parsedate_to_datetime(str(headers.get("Date", "")))
        envelope.date = date if date.tzinfo else date.replace(tzinfo=datetime.UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        envelope.date = None
    name, address = email.utils.parseaddr(_header_text(headers.get("From", "") or ""))
    envelope.sender, envelope.sender_name = address.strip().lower()[:254], name[:255]
    envelope.subject = " ".join(_header_text(headers.get("Subject", "") or "").split())[:500]
    return envelope


def received_moment(envelope, internaldate, now):
    """When the message was written (its Date), unless that is missing or in the future."""
    for moment in (envelope.date, internaldate):
        if moment is not None and moment <= now + datetime.timedelta(hours=1):
            return min(moment, now)
    return now


# --- one message --------------------------------------------------------------------------------


def _duplicate_exists(mailbox, envelope, digest):
    same = IncomingMessage.objects.filter(mailbox=mailbox)
    if envelope.message_id:
        return same.filter(message_id=envelope.message_id).exists()
    return same.filter(message_id="", raw_sha256=digest).exists()


def _store(mailbox, folder, uidvalidity, uid, raw, internaldate):
    """Insert the message once (ON CONFLICT DO NOTHING semantics); None when already there."""
    envelope = read_envelope(raw)
    digest = hashlib.sha256(raw).hexdigest()
    if _duplicate_exists(mailbox, envelope, digest):
        return None, envelope
    try:
        with transaction.atomic():  # a savepoint: a lost race rolls back only the insert
            incoming = IncomingMessage.objects.create(
                mailbox=mailbox,
                folder=folder,
                uidvalidity=uidvalidity,
                uid=uid,
                message_id=envelope.message_id,
                raw_sha256=digest,
                size=len(raw),
                received_at=received_moment(envelope, internaldate, timezone.now()),
                sender=envelope.sender,
                sender_name=envelope.sender_name,
                subject=envelope.subject,
                outgoing_tokens=tokens_in(raw),
                kind=MessageKind.OTHER,
            )
    except IntegrityError:
        return None, envelope
    return incoming, envelope


def _quarantine(incoming, error):
    incoming.kind = MessageKind.QUARANTINED
    incoming.quarantined = True
    incoming.error = error[:MAX_ERROR_LENGTH]
    incoming.processed_at = timezone.now()
    incoming.save()


def _describe(message, incoming):
    """Sender, subject and reply text through the classifier's helpers (one parser for all)."""
    sender = classify.sender_address(message)
    if sender:
        incoming.sender = str(sender).strip().lower()[:254]
    subject = classify.message_subject(message)
    if subject:
        incoming.subject = " ".join(str(subject).split())[:500]
    incoming.body_text = (classify.reply_text(message) or "")[: effects.REPLY_TEXT_LIMIT]


def ingest_message(mailbox, folder, uidvalidity, uid, raw, *, internaldate=None, problem=""):
    """Store, classify and apply one message; the caller holds the transaction.

    Returns "ingested", "duplicate" or "quarantined". Bad input is quarantined; an error while
    applying an effect propagates, so the caller's transaction leaves the message unread.
    """
    incoming, _envelope = _store(mailbox, folder, uidvalidity, uid, raw, internaldate)
    if incoming is None:
        return "duplicate"
    if problem:
        _quarantine(incoming, problem)
        return "quarantined"
    try:
        with transaction.atomic():
            message = classify.parse_message(raw)
            _describe(message, incoming)
            verdict = classify.classify_message(raw)
    except NotImplementedError:
        raise  # the classifier is missing: our fault, not the message's; retry next run
    except Exception as error:  # noqa: BLE001 - any failure to read it is bad input
        logger.warning("mailbox %s: quarantined %s/%s: %r", mailbox.pk, folder, uid, error)
        _quarantine(incoming, f"{type(error).__name__}: {error}")
        return "quarantined"
    if verdict.kind == MessageKind.OTHER and verdict.diagnostic.startswith("quarantined"):
        _quarantine(incoming, verdict.diagnostic)  # the classifier's word for "unreadable"
        return "quarantined"
    effects.apply_verdict(incoming, verdict)
    return "ingested"


def _advance_and_ingest(mailbox, folder, uidvalidity, uid, raw, internaldate, problem):
    """One transaction per message: lock the folder state, ingest, advance the last UID."""
    with transaction.atomic():
        state = MailboxFolderState.objects.select_for_update().get(mailbox=mailbox, folder=folder)
        if state.uidvalidity != uidvalidity or state.last_uid >= uid:
            return "skipped"  # another worker got here first
        outcome = ingest_message(
            mailbox, folder, uidvalidity, uid, raw, internaldate=internaldate, problem=problem
        )
        state.last_uid = uid
        state.save(update_fields=["last_uid", "updated_at"])
    return outcome


# --- one folder, one mailbox, all of them -------------------------------------------------------


def _folder_state(mailbox, folder, uidvalidity):
    """The folder's state under this UIDVALIDITY; a new UIDVALIDITY starts the folder over."""
    with transaction.atomic():
        state, _created = MailboxFolderState.objects.select_for_update().get_or_create(
            mailbox=mailbox, folder=folder, defaults={"uidvalidity": uidvalidity}
        )
        if state.uidvalidity != uidvalidity:
            logger.info(
                "mailbox %s folder %s: UIDVALIDITY %s -> %s, reading it again",
                mailbox.pk,
                folder,
                state.uidvalidity,
                uidvalidity,
            )
            state.uidvalidity, state.last_uid = uidvalidity, 0
            state.save(update_fields=["uidvalidity", "last_uid", "updated_at"])
    return state


def sync_folder(conn, mailbox, folder, result, *, batch_size, max_messages):
    typ, data = conn.select(encode_folder_name(folder), readonly=True)  # EXAMINE
    _check(typ, data, f"EXAMINE {folder}")
    _typ, validity = conn.response("UIDVALIDITY")
    if not validity or not validity[0]:
        raise MailboxError(f"{folder}: the server sent no UIDVALIDITY")
    uidvalidity = int(validity[0])
    state = _folder_state(mailbox, folder, uidvalidity)
    typ, data = conn.uid("SEARCH", f"UID {state.last_uid + 1}:*")
    found = _check(typ, data, "SEARCH")
    # "n:*" also matches the highest UID when it is below n: keep only the new ones.
    listed = b" ".join(part for part in found if isinstance(part, bytes)).split()
    uids = sorted(int(u) for u in listed if int(u) > state.last_uid)
    uids = uids[:max_messages]
    limit = settings.MAILBOX_MAX_MESSAGE_BYTES
    for start in range(0, len(uids), batch_size):
        batch = uids[start : start + batch_size]
        sizes = _fetch(conn, batch, "RFC822.SIZE")
        wanted = [u for u in batch if (sizes.get(u, {}).get("size") or 0) <= limit]
        too_large = [u for u in batch if u in sizes and u not in wanted]
        fetched = _fetch(conn, wanted, "INTERNALDATE BODY.PEEK[]")
        fetched.update(_fetch(conn, too_large, "INTERNALDATE BODY.PEEK[HEADER]"))
        for uid in batch:
            item = fetched.get(uid)
            if item is None or item["body"] is None:
                continue  # expunged meanwhile: nothing to read
            problem = ""
            if uid in too_large:
                problem = f"message too large ({sizes[uid]['size']} bytes): not read"
            outcome = _advance_and_ingest(
                mailbox, folder, uidvalidity, uid, item["body"], item["internaldate"], problem
            )
            if outcome == "ingested":
                result.ingested += 1
            elif outcome == "duplicate":
                result.duplicates += 1
            elif outcome == "quarantined":
                result.quarantined += 1


def _record(mailbox, errors):
    now = timezone.now()
    if errors:
        text = "\n".join(errors)[:MAX_ERROR_LENGTH]
        Mailbox.objects.filter(pk=mailbox.pk).update(last_error=text, last_error_at=now)
    else:
        Mailbox.objects.filter(pk=mailbox.pk).update(last_synced_at=now, last_error="")


def _describe_error(error):
    if isinstance(error, InvalidToken):
        return "the stored password cannot be decrypted (was MAILBOX_ENCRYPTION_KEY changed?)"
    if isinstance(error, TimeoutError):
        return f"timed out ({settings.MAILBOX_IMAP_TIMEOUT} s)"
    if isinstance(error, OSError) and error.strerror:
        return f"{type(error).__name__}: {error.strerror}"
    text = error.args[0] if error.args else error
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return f"{type(error).__name__}: {text}"


CLASSIFIER_INTERFACE = (
    "classify_message",
    "parse_message",
    "sender_address",
    "message_subject",
    "reply_text",
)


def missing_classifier_parts():
    """What mailbox.classify lacks: without it every message would look unreadable."""
    return [name for name in CLASSIFIER_INTERFACE if not hasattr(classify, name)]


def sync_mailbox(mailbox_id, *, batch_size=None, max_messages=None) -> SyncResult:
    """Read one mailbox's new messages; problems are recorded on the mailbox, never raised."""
    result = SyncResult(mailbox_id)
    mailbox = Mailbox.objects.filter(pk=mailbox_id, is_active=True).first()
    if mailbox is None:
        return result
    missing = missing_classifier_parts()
    if missing:  # read nothing rather than quarantine good mail
        result.errors.append(f"the classifier is incomplete (missing {', '.join(missing)})")
        _record(mailbox, result.errors)
        return result
    batch_size = batch_size or settings.MAILBOX_SYNC_BATCH
    max_messages = max_messages or settings.MAILBOX_SYNC_MAX_PER_RUN
    try:
        conn = connect(mailbox)
    except (OSError, imaplib.IMAP4.error, InvalidToken, MailboxError, UnicodeError) as error:
        result.errors.append(f"connect {mailbox.host}:{mailbox.port}: {_describe_error(error)}")
        logger.warning("mailbox %s: %s", mailbox.pk, result.errors[-1])
        _record(mailbox, result.errors)
        return result
    try:
        for folder in mailbox.folders or ["INBOX"]:
            try:
                sync_folder(
                    conn, mailbox, folder, result, batch_size=batch_size, max_messages=max_messages
                )
            except (OSError, imaplib.IMAP4.abort) as error:
                # The connection is gone: the other folders cannot be read either.
                result.errors.append(f"{folder}: {_describe_error(error)}")
                break
            except (imaplib.IMAP4.error, MailboxError, UnicodeError) as error:
                result.errors.append(f"{folder}: {_describe_error(error)}")
            except Exception as error:  # noqa: BLE001 - an effect failed: this folder waits
                logger.exception("mailbox %s folder %s: sync stopped", mailbox.pk, folder)
                result.errors.append(f"{folder}: {_describe_error(error)}")
    finally:
        _close(conn)
    if result.errors:
        logger.warning("mailbox %s: %s", mailbox.pk, "; ".join(result.errors))
    _record(mailbox, result.errors)
    return result


def sync_all_mailboxes() -> list[SyncResult]:
    """Every active mailbox in turn; one mailbox's failure never stops the next."""
    results = []
    for mailbox_id in (
        Mailbox.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True)
    ):
        try:
            results.append(sync_mailbox(mailbox_id))
        except Exception:  # noqa: BLE001 - e.g. the database went away for a moment
            logger.exception("mailbox %s: sync failed", mailbox_id)
    return results
