"""What an incoming message is: hard bounce, soft bounce, auto-reply, human reply or other.

Interface shared by the sync, the classify_mail command and the tests; see classify_message().
The rules are those of the mailbox fixtures README (shared/fixtures/mail/README.md):

1. Delivery reports first, whatever their headers say: a ``message/delivery-status`` report
   (nested ones too), or a plain-text notice from a mail system. flufl.bounce (Mailman's
   detectors) tells who failed; our own reading of the report and of the notice's words gives the
   status code, the server's diagnostic and hard or soft, and covers what flufl.bounce misses.
   A report of a successful delivery is "other".
2. Auto-replies: RFC 3834 Auto-Submitted, the vendors' X-Autoreply-style headers, and subjects
   such as "Automatic reply:" or "自动回复".
3. Other: mail systems, newsletters and mailing lists, marketing and spam.
4. Everything else that a person sent is a human reply.

Hostile input is bounded before it is parsed (bounded_bytes()): size, header fields, MIME parts
and nesting are capped, so any message classifies in bounded time. Classification parses with
the lenient compat32 policy that flufl.bounce is written for; parse_message() gives the sync an
``EmailMessage`` (policy.default) of the same bounded bytes.
"""

from __future__ import annotations

import dataclasses
import datetime
import email.header
import email.parser
import email.policy
import email.utils
import html.parser
import logging
import re
from collections.abc import Iterator
from email.message import EmailMessage, Message

from flufl.bounce import all_failures

from contacts.normalizers import normalize_date

log = logging.getLogger(__name__)
# flufl.bounce logs every detector it runs at INFO; unless the settings say otherwise, only its
# warnings reach the sync's log.
if logging.getLogger("flufl.bounce").level == logging.NOTSET:
    logging.getLogger("flufl.bounce").setLevel(logging.WARNING)

HARD_BOUNCE = "hard_bounce"
SOFT_BOUNCE = "soft_bounce"
AUTO_REPLY = "auto_reply"
HUMAN_REPLY = "human_reply"
OTHER = "other"
KINDS = (HARD_BOUNCE, SOFT_BOUNCE, AUTO_REPLY, HUMAN_REPLY, OTHER)

# Limits that keep the work per message bounded, whatever arrives.
MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # the rest (large attachments) is cut off
MAX_HEADER_FIELD_BYTES = 4 * 1024  # one header field, continuation lines included
MAX_HEADER_BLOCK_BYTES = 64 * 1024  # all header fields of one message or part
MAX_MIME_FIELD_BYTES = 512  # longer Content-* fields are rewritten to their essentials
MAX_PARTS = 500  # MIME parts (and enclosed messages) kept; later ones are cut off
MAX_LINES = 300_000  # lines kept (the email parser reads line by line); the rest is cut off
MAX_NESTING = 20  # deeper multiparts or enclosed messages are read as plain text
MAX_PART_TEXT_BYTES = 256 * 1024  # text read from one part
MAX_SCAN_BYTES = 1024 * 1024  # text of all parts together that the detectors read
MAX_DIAGNOSTIC_CHARS = 1000
MAX_REPLY_CHARS = 2000
MAX_HEADER_CHARS = 2000  # a decoded header value


@dataclasses.dataclass(frozen=True)
class Verdict:
    kind: str  # hard_bounce | soft_bounce | auto_reply | human_reply | other
    failed_recipient: str | None = None  # lower-case, bounces only
    status_code: str | None = None  # RFC 3463 enhanced code, e.g. "5.1.1"
    diagnostic: str = ""  # the remote server's words, bounces only
    return_date: datetime.date | None = None  # auto-replies that state one
    is_delay_warning: bool = False  # a "still trying" notice: soft, never a failure


def classify_message(raw: bytes) -> Verdict:
    """The verdict for one message as received (bytes); never raises.

    A message that cannot be read at all is quarantined as "other", with the reason in
    diagnostic.
    """
    try:
        message = _parse(bounded_bytes(raw), email.policy.compat32)
        _trim_for_detectors(message)
        return (
            _bounce_verdict(message)
            or _machine_message_verdict(message)
            or _auto_reply_verdict(message)
            or _other_verdict(message)
            or Verdict(HUMAN_REPLY)
        )
    except Exception as error:  # noqa: BLE001 - a hostile message must not stop a mailbox sync
        log.warning("Message quarantined, it could not be classified: %r", error)
        return Verdict(OTHER, diagnostic=f"quarantined: could not be classified ({error!r})"[:200])


def parse_message(raw: bytes) -> EmailMessage:
    """The message as an EmailMessage (policy.default), cut to the limits of bounded_bytes()."""
    return _parse(bounded_bytes(raw), email.policy.default)


# --------------------------------------------------------------------------------------------
# What the sync stores: sender, subject, the new text of a reply
# --------------------------------------------------------------------------------------------


def sender_address(message: Message) -> str | None:
    """The From address, lower-cased; None when there is no usable one."""
    _name, address = email.utils.parseaddr(_unfold(_raw_header(message, "From") or ""))
    address = address.strip().lower()
    return address if "@" in address and " " not in address else None


def message_subject(message: Message) -> str:
    """The decoded subject ("" when there is none)."""
    return _header(message, "Subject") or ""


def reply_text(message: Message) -> str:
    """The new text of a person's reply: quoted history and the original mail left out."""
    lines = []
    text_lines = _main_text(message).splitlines()
    for index, line in enumerate(text_lines):
        if _starts_quoted_history(text_lines, index):
            break
        if line.lstrip().startswith(">"):
            continue
        lines.append(line.rstrip())
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text[:MAX_REPLY_CHARS]


# --------------------------------------------------------------------------------------------
# 1. Delivery reports
# --------------------------------------------------------------------------------------------

_ENHANCED_CODE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SMTP_REPLY = re.compile(r"(?<![\w.\[/:-])([245]\d\d)(?:[ -]|$)", re.MULTILINE)
_MAIL_SYSTEM_SENDER = re.compile(
    r"^(?:mailer-?daemon|mail-?daemon|postmaster|mail\.?delivery|mdaemon)$",
    re.IGNORECASE,
)
_MAIL_SYSTEM_NAME = re.compile(
    r"mail delivery (?:sub)?system|internet mail delivery|mail administrator|mailer-daemon|"
    r"postmaster",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|failure notice|delivery status notification|"
    r"mail delivery (?:failed|status)|delivery (?:failure|notification|report)|"
    r"delivery has failed|mail failure|non-?delivery|could not send message|"
    r"warning: message .* delayed|notice: mail delivery status|"
    r"退信|投递失败|未能送达|无法投递|配信不能|配送エラー|未配達|не доставлено",
    re.IGNORECASE,
)
_REPLY_PREFIX = re.compile(r"^\s*(?:re|aw|sv|fw|fwd|wg|tr|回复|答复|转发)\s*[:：]", re.IGNORECASE)
_RETURNED_MESSAGE = re.compile(
    r"^\s*(?:-{2,}\s*(?:Below this line is a copy of the message|"
    r"This is a copy of the message|Original message|The original message|"
    r"Forwarded message)|Original message headers:|-+ ?原始邮件)",
    re.IGNORECASE | re.MULTILINE,
)
_FAILURE_WORDS = re.compile(
    r"could not be delivered|couldn't be delivered|not be delivered|was not delivered|"
    r"delivery has failed|delivery to the following recipient|undeliverable|unable to deliver|"
    r"failed|permanent error|has not yet been delivered|been delayed|rejected|"
    r"user unknown|does not exist|not found|no such",
    re.IGNORECASE,
)
_DELAY_WORDS = re.compile(
    r"\bdelayed\b|\(delay\)|has not yet been delivered|still trying|will keep trying|"
    r"will be retried|delivery attempts will continue|warning message only",
    re.IGNORECASE,
)
_GIVEN_UP = re.compile(
    r"failed permanently|permanent error|given up|giving up|not going to try again|"
    r"could not be delivered|delivery has failed|returning message to sender",
    re.IGNORECASE,
)
_MAILBOX_FULL = re.compile(
    r"mailbox (?:is )?full|over ?quota|quota (?:exceeded|full)|exceed\w*[^\n]{0,30}"
    r"(?:quota|storage|size limit|allowed size)|insufficient (?:system )?storage|"
    r"mailbox size limit",
    re.IGNORECASE,
)
_TEMPORARY_WORDS = re.compile(
    r"temporar|try again|retry timeout|timed? ?out|(?:message|delivery|time) (?:has )?expired|"
    r"queue too long|too long in (?:the )?queue|rate limit|too many|greylist|deferr|"
    r"busy|throttl|not yet been delivered|delayed|spam|blocked|block ?list|black ?list|"
    r"reputation|policy",
    re.IGNORECASE,
)
_BAD_ADDRESS_WORDS = re.compile(
    r"user unknown|unknown user|no such (?:user|mailbox|recipient|domain|address)|"
    r"does not exist|doesn't exist|not found|unknown or illegal|invalid (?:recipient|address|"
    r"mailbox)|address rejected|recipient rejected|host unknown|host not found|"
    r"domain not found|couldn't find any host|mailbox (?:unavailable|disabled|closed)|"
    r"account (?:disabled|closed|inactive)|unrout|見つかりません|不存在",
    re.IGNORECASE,
)
_PERMANENT_WORDS = re.compile(r"permanent|fatal", re.IGNORECASE)
_ADDRESS = re.compile(  # starts only where a run of address characters starts: linear time
    r"(?<![\w.!#$%&'*+/=?^`{|}~-])[\w.!#$%&'*+/=?^`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
)
_SENDER_LINE = re.compile(
    r"^\s*(?:from|sender|reply-to|return-path)\s*:|mail from:|envelope-from", re.IGNORECASE
)
_QUOTED_HEADER_LINE = re.compile(r"^\s*(?:to|cc|from|subject|date|message-id)\s*:", re.I)
_NOT_A_RECIPIENT = re.compile(
    r"^(?:mailer-?daemon|postmaster|support|abuse|no-?reply|hostmaster)@", re.IGNORECASE
)


@dataclasses.dataclass
class _ReportedRecipient:
    """One per-recipient block of a message/delivery-status report."""

    address: str | None
    action: str
    status: str | None
    status_text: str
    diagnostic: str

    @property
    def outcome(self) -> str:
        """failed, delayed, delivered or unknown."""
        if self.action.startswith(("fail", "error")):
            return "failed"
        if self.action.startswith("delay"):
            return "delayed"
        if self.action.startswith(("deliver", "relay", "expand")):
            return "delivered"
        if self.status:
            return {"2": "delivered", "4": "failed", "5": "failed"}[self.status[0]]
        return "unknown"


def _bounce_verdict(message: Message) -> Verdict | None:
    """A hard or soft bounce; "other" for a report of successful delivery; else None."""
    if not _looks_like_delivery_notice(message):
        return None
    reported = _reported_recipients(message)
    failing = _first_failing(reported)
    if failing is None and reported and all(r.outcome == "delivered" for r in reported):
        return Verdict(OTHER, diagnostic="report of a successful delivery")
    notice = _notice_text(message)
    temporary, permanent = _detected_failures(message)
    if failing is not None:
        return _report_bounce(message, failing, notice, temporary | permanent)
    return _notice_bounce(message, notice, temporary, permanent)


def _looks_like_delivery_notice(message: Message) -> bool:
    """Sent by a mail system about a delivery: only those are given to the bounce detectors."""
    if _content_type(message) == "multipart/report":
        return True
    if _delivery_status_parts(message, enclosed=False):
        return True
    if _raw_header(message, "X-Failed-Recipients"):
        return True
    return _sent_by_mail_system(message) or _has_bounce_subject(message)


def _sent_by_mail_system(message: Message) -> bool:
    """From MAILER-DAEMON, postmaster, "Mail Delivery System" and the like."""
    raw_from = _unfold(_raw_header(message, "From") or "")
    name, address = email.utils.parseaddr(raw_from)
    local_part = address.split("@", 1)[0]
    return bool(_MAIL_SYSTEM_SENDER.match(local_part) or _MAIL_SYSTEM_NAME.search(name))


def _has_bounce_subject(message: Message) -> bool:
    """A subject such as "Undeliverable:" or "failure notice" (not a person's "Re: ...")."""
    subject = message_subject(message)
    return not _REPLY_PREFIX.match(subject) and bool(_BOUNCE_SUBJECT.search(subject))


def _detected_failures(message: Message) -> tuple[frozenset[str], frozenset[str]]:
    """flufl.bounce's temporary and permanent failures, as lower-case addresses."""
    try:
        temporary, permanent = all_failures(message)
    except Exception as error:  # noqa: BLE001 - a detector choking on odd input is no verdict
        log.info("flufl.bounce could not read a message: %r", error)
        return frozenset(), frozenset()
    return _addresses_text(temporary), _addresses_text(permanent)


def _addresses_text(addresses) -> frozenset[str]:
    return frozenset(a.decode("ascii", "replace").strip().lower() for a in addresses if a)


def _report_bounce(message, failing: _ReportedRecipient, notice: str, detected) -> Verdict | None:
    """The verdict of a message/delivery-status report's failing recipient."""
    recipient = failing.address or _pick_recipient(detected, _notice_addresses(message, notice))
    if recipient is None:
        return None
    diagnostic = failing.diagnostic
    if not re.search(r"[^\W\d_]", diagnostic):  # no words, e.g. "X-Unix; 71": the notice's
        diagnostic = _notice_diagnostic(notice, recipient) or _status_comment(failing) or diagnostic
    status = _report_status(failing, notice)
    delayed = failing.outcome == "delayed"
    words = " ".join([diagnostic, failing.status_text])
    return _bounce(recipient, status, diagnostic, delayed, words)


def _notice_bounce(message, notice: str, temporary, permanent) -> Verdict | None:
    """The verdict of a plain-text notice (qmail, Exim, Yahoo, Gmail, Office 365 ...)."""
    detected = temporary | permanent
    recipient = _pick_recipient(detected, _notice_addresses(message, notice))
    if recipient is None or not (detected or _FAILURE_WORDS.search(notice)):
        return None
    diagnostic = _notice_diagnostic(notice, recipient)
    status = _status_in(diagnostic) or _status_in(notice)
    subject = message_subject(message)
    delayed = (recipient in temporary and recipient not in permanent) or bool(
        _DELAY_WORDS.search(f"{subject}\n{notice}") and not _GIVEN_UP.search(notice)
    )
    return _bounce(recipient, status, diagnostic, delayed, diagnostic or notice)


def _bounce(recipient, status, diagnostic, delayed, words) -> Verdict:
    soft = _is_soft_failure(status, words, delayed)
    return Verdict(
        SOFT_BOUNCE if soft else HARD_BOUNCE,
        failed_recipient=recipient.lower(),
        status_code=status,
        diagnostic=_one_line(diagnostic)[:MAX_DIAGNOSTIC_CHARS],
        is_delay_warning=delayed,
    )


def _is_soft_failure(status: str | None, words: str, delayed: bool) -> bool:
    """README: delays, full mailboxes and every 4.x.x are soft; a bad address is hard.

    Other 5.x.x failures are hard unless the server's words say temporary, blocked or spam;
    without any code the words decide.
    """
    if delayed or _MAILBOX_FULL.search(words):
        return True
    if status:
        if status.startswith("4") or status.endswith(".2.2"):
            return True
        if _is_address_failure(status):
            return False
        return bool(_TEMPORARY_WORDS.search(words))
    reply = _SMTP_REPLY.search(words)
    if reply:
        return reply.group(1).startswith("4") or bool(_TEMPORARY_WORDS.search(words))
    if _TEMPORARY_WORDS.search(words):
        return True
    return not (_BAD_ADDRESS_WORDS.search(words) or _PERMANENT_WORDS.search(words))


def _is_address_failure(status: str) -> bool:
    """5.1.x (bad mailbox or domain, moved), 5.2.1 (mailbox disabled), 5.4.4 (no route)."""
    return status.startswith(("5.1.", "5.2.1")) or status == "5.4.4"


def _first_failing(reported: list[_ReportedRecipient]) -> _ReportedRecipient | None:
    """The first failed recipient of a report, else the first delayed one."""
    for outcome in ("failed", "delayed"):
        for recipient in reported:
            if recipient.outcome == outcome:
                return recipient
    return None


def _report_status(failing: _ReportedRecipient, notice: str) -> str | None:
    """The report's Status, or the remote server's specific code when Status is generic."""
    specific = _status_in(failing.diagnostic) or _status_in(_notice_diagnostic(notice, None))
    if failing.status is None:
        return specific
    if failing.status.endswith(".0.0") and specific and not specific.endswith(".0.0"):
        if specific[0] == failing.status[0]:
            return specific
    return failing.status


def _status_comment(failing: _ReportedRecipient) -> str:
    """The words some servers add to Status: "4.2.2 (Over quota)" -> "Over quota"."""
    found = re.search(r"\(([^)]*)\)", failing.status_text)
    return found.group(1).strip() if found else ""


def _status_in(text: str) -> str | None:
    """The enhanced status code of the SMTP reply in text, else the first one in text."""
    if not text:
        return None
    for reply in _SMTP_REPLY.finditer(text):
        code = _ENHANCED_CODE.match(text, reply.end()) or _ENHANCED_CODE.search(
            text, reply.end(), reply.end() + 12
        )
        if code and code.group(1) == reply.group(1)[0]:
            return ".".join(code.groups())
    code = _ENHANCED_CODE.search(text)
    return ".".join(code.groups()) if code else None


# --- message/delivery-status reports -----------------------------------------------------------


def _reported_recipients(message: Message) -> list[_ReportedRecipient]:
    """The per-recipient blocks of the report's delivery-status part (or of a nested report)."""
    parts = _delivery_status_parts(message, enclosed=False) or _delivery_status_parts(
        message, enclosed=True
    )
    recipients = []
    for part in parts:
        for fields in _status_blocks(part):
            if "final-recipient" in fields or "action" in fields:
                recipients.append(_reported_recipient(fields))
    return recipients


def _delivery_status_parts(message: Message, enclosed: bool) -> list[Message]:
    return [
        part
        for part, in_enclosed in _parts(message)
        if in_enclosed == enclosed
        and _content_type(part) in ("message/delivery-status", "message/global-delivery-status")
    ]


def _status_blocks(part: Message) -> list[dict[str, str]]:
    """The field blocks of a delivery-status part as {lower-case name: unfolded value}."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [
            {name.lower(): _one_line(_unfold(str(value))) for name, value in block.raw_items()}
            for block in payload
            if isinstance(block, Message)
        ]
    return _status_blocks_from_text(_decoded_text(part))


def _status_blocks_from_text(text: str) -> list[dict[str, str]]:
    """Fallback for a delivery-status part the parser left as text (e.g. base64-encoded)."""
    blocks = []
    for chunk in re.split(r"\n\s*\n", _unfold(text)):
        fields = {}
        for line in chunk.splitlines():
            name, colon, value = line.partition(":")
            if colon and name.strip():
                fields.setdefault(name.strip().lower(), _one_line(value))
        if fields:
            blocks.append(fields)
    return blocks


def _reported_recipient(fields: dict[str, str]) -> _ReportedRecipient:
    status_text = fields.get("status", "")
    status = _ENHANCED_CODE.search(status_text)
    return _ReportedRecipient(
        address=_recipient_field(fields),
        action=fields.get("action", "").strip().lower(),
        status=".".join(status.groups()) if status else None,
        status_text=status_text,
        diagnostic=_iso2022_text(_without_type(fields.get("diagnostic-code", ""))),
    )


def _recipient_field(fields: dict[str, str]) -> str | None:
    """Original-Recipient (the address we sent to), else Final-Recipient."""
    for name in ("original-recipient", "final-recipient", "x-actual-recipient"):
        address_type, _semicolon, address = fields.get(name, "").rpartition(";")
        address = address.strip().strip("<>").strip().lower()
        if _ADDRESS.fullmatch(address) and address_type.strip().lower() in ("rfc822", ""):
            return address
    return None


def _iso2022_text(value: str) -> str:
    """Japanese ISO-2022-JP text left undecoded in a report field (escape sequences)."""
    if "\x1b" not in value:
        return value
    try:
        return value.encode("ascii").decode("iso-2022-jp")
    except (UnicodeError, LookupError):
        return value


def _without_type(value: str) -> str:
    """A Diagnostic-Code without its "smtp;" / "X-Postfix;" type."""
    kind, semicolon, rest = value.partition(";")
    if semicolon and re.fullmatch(r"\s*[\w.-]{1,20}\s*", kind):
        return rest.strip()
    return value.strip()


# --- plain-text notices ------------------------------------------------------------------------


def _notice_text(message: Message) -> str:
    """The human-readable text of a delivery notice, without the returned message."""
    text = _main_text(message)
    returned = _RETURNED_MESSAGE.search(text)
    return text[: returned.start()] if returned else text


def _notice_addresses(message: Message, notice: str) -> list[str]:
    """Addresses a notice reports: X-Failed-Recipients, then those its text names."""
    addresses = []
    for value in _raw_headers(message, "X-Failed-Recipients"):
        addresses += _ADDRESS.findall(_unfold(value))
    ours = {sender_address(message)} | {
        address.lower()
        for name in ("To", "Delivered-To", "X-Original-To")
        for address in _ADDRESS.findall(_unfold(_raw_header(message, name) or ""))
    }
    for line in notice.splitlines():
        if not _SENDER_LINE.search(line):
            addresses += _ADDRESS.findall(line)
    found = []
    for address in addresses:
        address = address.strip(".").lower()
        if address not in ours and not _NOT_A_RECIPIENT.match(address) and address not in found:
            found.append(address)
    return found


def _pick_recipient(detected: frozenset[str], named: list[str]) -> str | None:
    """flufl.bounce's address (the one the notice names first if several), else our own find."""
    if len(detected) == 1:
        return next(iter(detected))
    for address in named:
        if not detected or address in detected:
            return address
    return min(detected) if detected else None


def _notice_diagnostic(notice: str, recipient: str | None) -> str:
    """The server's words in a notice: the SMTP reply, else the lines after the recipient."""
    lines = notice.splitlines()
    for index, line in enumerate(lines):
        if _SMTP_REPLY.search(line) and not _SENDER_LINE.search(line):
            return _with_continuation(lines, index)
    if recipient is None:
        return ""
    for index, line in enumerate(lines):
        if recipient in line.lower() and not _QUOTED_HEADER_LINE.match(line):
            after = [text.strip() for text in lines[index + 1 : index + 4]]
            words = " ".join(_take_until_blank(after))
            if words:
                return words
    return ""


def _with_continuation(lines: list[str], index: int) -> str:
    """A line and the indented or wrapped lines that continue it."""
    taken = [lines[index].strip()]
    for line in lines[index + 1 : index + 6]:
        if not line.strip() or not (line[:1].isspace() or taken[-1].endswith(":")):
            break
        taken.append(line.strip())
    return " ".join(taken)


def _take_until_blank(lines: list[str]) -> list[str]:
    taken = []
    for line in lines:
        if not line:
            break
        taken.append(line)
    return taken


# --------------------------------------------------------------------------------------------
# Mail systems, receipts and other machine reports
# --------------------------------------------------------------------------------------------


def _machine_message_verdict(message: Message) -> Verdict | None:
    """Mail-system notices that are no bounce, read receipts and other reports: "other"."""
    if _sent_by_mail_system(message) or _content_type(message) == "multipart/report":
        return Verdict(OTHER)
    return None


# --------------------------------------------------------------------------------------------
# 2. Auto-replies
# --------------------------------------------------------------------------------------------

_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:automatic reply|auto[- ]?reply|auto[- ]?response|autosvar|out of (?:the )?office|"
    r"abwesenheitsnotiz|automatische antwort|réponse automatique|respuesta automática|"
    r"risposta automatica|resposta automática|automatisch antwoord|odpowiedź automatyczna|"
    r"автоматический ответ|自动回复|自動回覆|自動回复|自动答复|自動返信|自動応答)",
    re.IGNORECASE,
)
_AUTO_REPLY_HEADERS = (
    "X-Autoreply",
    "X-Autorespond",
    "X-Auto-Response-Suppress",
    "X-Autogenerated",
    "X-Mail-Autoreply",
)


def _auto_reply_verdict(message: Message) -> Verdict | None:
    if not _is_auto_reply(message):
        return None
    return Verdict(AUTO_REPLY, return_date=_return_date(message))


def _is_auto_reply(message: Message) -> bool:
    """RFC 3834 and the vendors' signals of an out-of-office or autoresponder message."""
    auto_submitted = _one_line(_raw_header(message, "Auto-Submitted") or "").lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        if not (auto_submitted.startswith("auto-generated") and _is_list_mail(message)):
            return True
    for name in _AUTO_REPLY_HEADERS:
        value = _raw_header(message, name)
        if value is not None and _one_line(value).lower() not in ("no", "false", "0"):
            return True
    if _one_line(_raw_header(message, "Precedence") or "").lower() == "auto_reply":
        return True
    if _one_line(_raw_header(message, "X-Apple-Action") or "").upper() == "VACATION":
        return True
    return bool(_AUTO_REPLY_SUBJECT.match(message_subject(message)))


# --- the date an absent person is back --------------------------------------------------------

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DATE_TEXT = re.compile(
    r"(?P<iso>\d{4}[-/.]\d{1,2}[-/.]\d{1,2})"
    r"|(?P<cn>(?P<cn_year>\d{4}\s*年\s*)?\d{1,2}\s*月\s*\d{1,2}\s*[日号])"
    r"|(?P<dotted>\d{1,2}\.\d{1,2}\.\d{4})"
    rf"|(?P<dm>\d{{1,2}}(?:st|nd|rd|th)?(?:\s+of)?\s+{_MONTHS}\b\.?(?P<dm_year>,?\s+\d{{4}})?)"
    rf"|(?P<md>{_MONTHS}\b\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?P<md_year>,?\s+\d{{4}})?)",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[。！？\n]|[.!?]\s")
# Words before the date: first those that say "back", then those that end an absence.
_RETURN_CUES = (
    re.compile(
        r"\b(?:back|return\w*|resum\w*|zurück|de retour|regres\w*)\b"
        r"|返回日期|返回时间|将于|返回|回来|回到|返岗|上班",
        re.IGNORECASE,
    ),
    re.compile(r"\b(?:until|till|through|bis|hasta|jusqu'au)\b|直到|至|到", re.IGNORECASE),
)


def _return_date(message: Message) -> datetime.date | None:
    """The date stated as "back on ...", "返回日期 ...", else "until ...", "... 至 10 月 7 日"."""
    text = f"{message_subject(message)}\n{_main_text(message)[:4000]}"
    sent = _sent_date(message)
    for cues in _RETURN_CUES:
        for cue in cues.finditer(text):
            window = text[cue.end() : cue.end() + 60]
            found = _DATE_TEXT.search(window)
            if found and not _SENTENCE_END.search(window[: found.start()]):
                date = _date_of(found, sent)
                if date is not None:
                    return date
    return None


def _date_of(found: re.Match, sent: datetime.date) -> datetime.date | None:
    """The matched date text read by the contacts' date rules; a missing year is inferred."""
    text = re.sub(r"\s+of\s+", " ", found.group(0))
    if found["iso"] or found["dotted"] or found["cn_year"] or found["dm_year"] or found["md_year"]:
        return normalize_date(text).value
    for year in (sent.year, sent.year + 1):
        date = normalize_date(_with_year(found, text, year)).value
        if date is not None and date >= sent - datetime.timedelta(days=30):
            return date
    return None


def _with_year(found: re.Match, text: str, year: int) -> str:
    if found["cn"]:
        return f"{year}年{text}"
    if found["md"]:
        return f"{text}, {year}"
    return f"{text} {year}"


def _sent_date(message: Message) -> datetime.date:
    try:
        return email.utils.parsedate_to_datetime(_one_line(_raw_header(message, "Date"))).date()
    except (TypeError, ValueError, IndexError, OverflowError):
        return datetime.date.today()


# --------------------------------------------------------------------------------------------
# 3. Other: newsletters, lists, marketing, spam
# --------------------------------------------------------------------------------------------

_BULK_SENDER = re.compile(
    r"^(?:no-?reply|do-?not-?reply|donotreply|newsletters?|news|marketing|mailer|"
    r"notifications?|notify|bounces?|campaigns?)(?:[+.-][^@]*)?@",
    re.IGNORECASE,
)
_SPAM_WORDS = re.compile(
    r"guarantee|click here|special offer|limited time|act now|100% free|risk[- ]free|"
    r"page 1 of google|top 3 ranking|\bseo\b|reply with remove|do not want to hear from us|"
    r"unsubscribe|verify your account|account (?:will be )?suspended|confirm your password|"
    r"lottery|you have won|bitcoin|wire transfer fee|inheritance|viagra|casino|loan offer",
    re.IGNORECASE,
)
_SPAM_HEADER = re.compile(r"^\s*yes\b", re.IGNORECASE)


def _other_verdict(message: Message) -> Verdict | None:
    if sender_address(message) is None:
        return Verdict(OTHER, diagnostic="no sender address")
    if _marked_as_spam(message):
        return Verdict(OTHER, diagnostic="marked as spam")
    if _is_reply(message):
        return None
    if _is_list_mail(message) or _BULK_SENDER.match(sender_address(message) or ""):
        return Verdict(OTHER, diagnostic="newsletter or list mail")
    if _looks_like_spam(message):
        return Verdict(OTHER, diagnostic="marketing or spam")
    return None


def _is_list_mail(message: Message) -> bool:
    """Mailing lists and newsletters: List-* headers or Precedence: bulk/list/junk."""
    if any(_raw_header(message, name) for name in ("List-Unsubscribe", "List-Id", "List-Post")):
        return True
    precedence = _one_line(_raw_header(message, "Precedence") or "").lower()
    return precedence in ("bulk", "list", "junk")


def _is_reply(message: Message) -> bool:
    """Answers one of our mails: In-Reply-To/References or a "Re:" subject."""
    if _raw_header(message, "In-Reply-To") or _raw_header(message, "References"):
        return True
    return bool(_REPLY_PREFIX.match(message_subject(message)))


def _marked_as_spam(message: Message) -> bool:
    flag = _raw_header(message, "X-Spam-Flag") or _raw_header(message, "X-Spam-Status") or ""
    return bool(_SPAM_HEADER.match(flag))


def _looks_like_spam(message: Message) -> bool:
    """Unsolicited marketing: at least two typical phrases in the subject and text."""
    text = f"{message_subject(message)}\n{_main_text(message)[:20000]}"
    return len({match.lower() for match in _SPAM_WORDS.findall(text)}) >= 2


# --------------------------------------------------------------------------------------------
# The text of a message
# --------------------------------------------------------------------------------------------


def _main_text(message: Message) -> str:
    """The message's own text: its first text/plain part, else its HTML as text.

    Parts of enclosed messages (the returned original of a bounce) and attachments are skipped.
    """
    html_part = None
    for part, enclosed in _parts(message):
        if enclosed or part.is_multipart() or _is_attachment(part):
            continue
        content_type = _content_type(part)
        if content_type == "text/plain":
            return _decoded_text(part)
        if content_type == "text/html" and html_part is None:
            html_part = part
    return _html_to_text(_decoded_text(html_part)) if html_part is not None else ""


def _is_attachment(part: Message) -> bool:
    disposition = _one_line(_raw_header(part, "Content-Disposition") or "").lower()
    return disposition.startswith("attachment")


def _decoded_text(part: Message) -> str:
    """A part's text (first MAX_PART_TEXT_BYTES), decoded; unknown charsets with replacement."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - a broken transfer encoding: no text
        return ""
    if not isinstance(payload, bytes):
        return ""
    return _decode_bytes(payload[:MAX_PART_TEXT_BYTES], _charset(part))


def _charset(part: Message) -> str | None:
    match = re.search(
        r"charset\s*=\s*\"?([\w.:+-]{1,40})", _unfold(_raw_header(part, "Content-Type") or ""), re.I
    )
    return match.group(1).lower() if match else None


_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ks_c_5601-1987": "cp949",
    "x-sjis": "shift_jis",
    "iso-8859-8-i": "iso-8859-8",
}


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes to text in the declared charset; an unknown one as UTF-8 with replacement; none
    (or ASCII, often wrongly declared) as UTF-8, else Windows-1252."""
    charset = _CHARSET_ALIASES.get((charset or "").lower(), charset)
    if charset and charset not in ("us-ascii", "ascii", "unknown-8bit"):
        try:
            return data.decode(charset, errors="replace")
        except (LookupError, ValueError):
            return data.decode("utf-8", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


class _HTMLText(html.parser.HTMLParser):
    """HTML to text: block elements become line breaks; style, script and quotes are left out."""

    BLOCKS = frozenset(
        "p div br li tr h1 h2 h3 h4 h5 h6 table ul ol pre hr title dt dd section".split()
    )
    SKIPPED = frozenset(("style", "script", "head", "blockquote"))

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIPPED:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.chunks.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.chunks.append(re.sub(r"\s+", " ", data))

    def text(self) -> str:
        lines = (line.strip(" \xa0") for line in "".join(self.chunks).splitlines())
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _html_to_text(markup: str) -> str:
    parser = _HTMLText()
    try:
        parser.feed(markup[:MAX_PART_TEXT_BYTES])
        parser.close()
    except Exception:  # noqa: BLE001 - broken markup: keep what was read
        pass
    return parser.text()


# --- quoted history in replies ----------------------------------------------------------------

_QUOTE_INTRO = re.compile(
    r"^(?:On\b.{0,300}\bwrote:|Am\b.{0,300}\bschrieb\b.{0,300}:|Le\b.{0,300}\ba écrit\s?:|"
    r"El\b.{0,300}\bescribió:|.{0,300}写道[:：]|"
    r"-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Originalnachricht|"
    r"Message d'origine|Mensaje original|Forwarded message|原始邮件|原始郵件|転送)\b.*|"
    r"-{2,}\s*(?:原始邮件|原始郵件).*)$",
    re.IGNORECASE,
)
_QUOTE_FROM = re.compile(r"^\*?(?:From|Von|De|Da|发件人|寄件者|差出人)\s*\*?\s*[:：]", re.I)
_QUOTE_SENT = re.compile(
    r"^\*?(?:Sent|Date|Gesendet|Datum|Envoyé|Enviado|Inviato|发送时间|日期|時間|送信日時)"
    r"\s*\*?\s*[:：]",
    re.IGNORECASE,
)


def _starts_quoted_history(lines: list[str], index: int) -> bool:
    """Line index starts the quoted earlier mail: "On ... wrote:", an Outlook header block..."""
    line = lines[index].strip()
    if _QUOTE_INTRO.match(line):
        return True
    if line.startswith("On ") and any(
        following.rstrip().endswith("wrote:") for following in lines[index + 1 : index + 3]
    ):
        return True
    if _QUOTE_FROM.match(line):
        following = lines[index + 1 : index + 5]
        return any(_QUOTE_SENT.match(other.strip()) for other in following)
    return False


# --------------------------------------------------------------------------------------------
# Headers and parts, read within the limits
# --------------------------------------------------------------------------------------------


def _raw_headers(message: Message, name: str) -> list[str]:
    """The raw values of a header field (no parsing, so any value is read in linear time)."""
    name = name.lower()
    return [str(value) for key, value in message.raw_items() if key.lower() == name]


def _raw_header(message: Message, name: str) -> str | None:
    values = _raw_headers(message, name)
    return values[0] if values else None


def _header(message: Message, name: str) -> str | None:
    """A header field decoded (RFC 2047 encoded words, unknown charsets with replacement)."""
    value = _raw_header(message, name)
    if value is None:
        return None
    value = _unfold(_without_surrogates(value))[:MAX_HEADER_CHARS]
    try:
        chunks = email.header.decode_header(value)
    except Exception:  # noqa: BLE001 - a malformed encoded word: keep the raw text
        return value.strip()
    text = "".join(
        _decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk
        for chunk, charset in chunks
    )
    return _one_line(text)


def _without_surrogates(value: str) -> str:
    """Undecoded 8-bit header bytes (kept by the parser as surrogates) read as UTF-8."""
    if not re.search("[\udc80-\udcff]", value):
        return value
    return _decode_bytes(value.encode("utf-8", "surrogateescape"), None)


def _unfold(value: str | None) -> str:
    return re.sub(r"\r?\n(?=[ \t])|\r(?=[ \t])", "", value or "")


def _one_line(value: str | None) -> str:
    return re.sub(r"\s+", " ", value or "").strip()


def _content_type(part: Message) -> str:
    value = _unfold(_raw_header(part, "Content-Type") or "")
    content_type = value.split(";", 1)[0].strip().lower()
    if "/" in content_type:
        return content_type
    return part.get_default_type()


def _parts(message: Message) -> Iterator[tuple[Message, bool]]:
    """Each MIME part (at most MAX_PARTS, without recursion) and whether it lies inside an
    enclosed message (message/rfc822). The blocks of a delivery-status part are not parts."""
    stack = [(message, False)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, enclosed = stack.pop()
        seen += 1
        yield part, enclosed
        content_type = _content_type(part)
        if not part.is_multipart() or content_type.endswith("delivery-status"):
            continue
        children = part.get_payload()
        inside = enclosed or content_type.startswith("message/")
        stack.extend((child, inside) for child in reversed(children) if isinstance(child, Message))


def _trim_for_detectors(message: Message) -> None:
    """Keep at most MAX_PART_TEXT_BYTES of each text part and MAX_SCAN_BYTES in all; drop
    attachments' bodies: the detectors then read a bounded amount of text."""
    budget = MAX_SCAN_BYTES
    for part, _enclosed in _parts(message):
        if part.is_multipart():
            continue
        payload = part.get_payload()
        if not isinstance(payload, str):
            continue
        content_type = _content_type(part)
        if not content_type.startswith("text/") and not content_type.endswith("delivery-status"):
            part.set_payload("")
            continue
        kept = payload[: min(MAX_PART_TEXT_BYTES * 2, budget)]
        budget -= len(kept)
        if len(kept) < len(payload):
            part.set_payload(kept)


# --------------------------------------------------------------------------------------------
# Parsing within limits
# --------------------------------------------------------------------------------------------


def _parse(data: bytes, policy) -> Message:
    try:
        return email.parser.BytesParser(policy=policy).parsebytes(data)
    except RecursionError:
        return email.parser.BytesParser(policy=policy).parsebytes(data, headersonly=True)


def bounded_bytes(raw: bytes) -> bytes:
    """The message cut to the limits above, so that parsing and reading it take bounded time.

    At most MAX_MESSAGE_BYTES; header fields cut to MAX_HEADER_FIELD_BYTES and each header
    block to MAX_HEADER_BLOCK_BYTES; overlong Content-* fields rewritten to their type, boundary
    and charset; MIME structure cut after MAX_PARTS parts or below MAX_NESTING levels.
    Ordinary messages come out byte for byte as they went in.
    """
    return _BoundedCopy().copy(bytes(raw or b"")[:MAX_MESSAGE_BYTES])


_HEADER_LINE = re.compile(rb"^(?:From |[\x21-\x39\x3b-\x7e]*:|[ \t])")  # as the email parser
_BOUNDARY = re.compile(rb"boundary\s*=\s*(?:\"([^\"\r\n]{1,200})\"|([^\s;\"]{1,200}))", re.I)
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_BLANK_LINE = re.compile(rb"(?:\r\n|\n|\r(?!\n))(?=\r|\n)")  # the end of a header block
_FIELD_END = re.compile(rb"(?:\r\n|\n|\r(?!\n))(?![ \t])")  # before a line that is no continuation
_KEPT_MIME_PARAMS = (b"boundary", b"charset", b"report-type", b"name", b"filename")
_HEADERS, _STATUS_FIELDS, _BODY = "headers", "status fields", "body"


class _BoundedCopy:
    """A line-by-line copy of a raw message that applies bounded_bytes()'s limits."""

    def __init__(self):
        self.out: list[bytes] = []
        self.block: list[list[bytes]] = []  # header fields of the current block, as lines
        self.block_bytes = 0
        self.field_bytes = 0
        self.dropping = False  # the rest of the current header field is left out
        self.block_full = False  # the rest of the current header block is left out
        self.nesting: list[bytes | None] = []  # open multipart boundaries / enclosed messages
        self.parts = 0
        self.lines = 0
        self.mode = _HEADERS
        self.patterns_for: tuple[bytes, ...] | None = None  # see delimiter_patterns()
        self.patterns: tuple[re.Pattern, re.Pattern]

    def copy(self, raw: bytes) -> bytes:
        """Body text is copied in bulk up to the next line that may be a MIME delimiter, header
        lines and possible delimiters one by one; MAX_LINES lines in all."""
        position, size = 0, len(raw)
        while position < size and self.lines < MAX_LINES:
            if self.mode == _BODY and not self.at_delimiter(raw, position):
                position = self.copy_body(raw, position)
            elif self.mode != _BODY and self.leaving_out(raw, position):
                position = self.skip_left_out(raw, position)
            else:
                found = _LINE_BREAK.search(raw, position)
                end = found.end() if found else size
                self.lines += 1
                if not self.take(raw[position:end]):
                    break
                position = end
        self.end_block()
        return b"".join(self.out)

    def copy_body(self, raw: bytes, position: int) -> int:
        """Copy body text up to the next delimiter line; where it ends."""
        found = self.delimiter_patterns()[1].search(raw, position) if self.nesting else None
        end = self.within_line_budget(raw, position, found.end() if found else len(raw))
        self.out.append(raw[position:end])
        return end

    def at_delimiter(self, raw: bytes, position: int) -> bool:
        return bool(self.nesting) and bool(self.delimiter_patterns()[0].match(raw, position))

    def delimiter_patterns(self) -> tuple[re.Pattern, re.Pattern]:
        """Patterns of a delimiter line of the open multiparts: at a position, and the line break
        before the next one."""
        boundaries = tuple(boundary for boundary in self.nesting if boundary is not None)
        if boundaries != self.patterns_for:
            alternatives = b"|".join(re.escape(boundary) for boundary in boundaries) or b"(?!)"
            line = rb"--(?:" + alternatives + rb")(?:--)?[ \t]*(?:\r|\n|$)"
            self.patterns = (
                re.compile(line),
                re.compile(rb"(?:\r\n|\n|\r(?!\n))(?=" + line + rb")"),
            )
            self.patterns_for = boundaries
        return self.patterns

    def within_line_budget(self, raw: bytes, position: int, end: int) -> int:
        """end, or the end of the last line before it that MAX_LINES allows."""
        count = max(raw.count(b"\n", position, end), raw.count(b"\r", position, end))
        allowed = MAX_LINES - self.lines
        if count <= allowed:
            self.lines += count
            return end
        self.lines = MAX_LINES
        for index, found in enumerate(_LINE_BREAK.finditer(raw, position, end)):
            if index + 1 >= allowed:
                return found.end()
        return end

    def leaving_out(self, raw: bytes, position: int) -> bool:
        """At header lines over their limits: the rest of a field, or of a block."""
        first = raw[position : position + 1]
        if self.dropping and first in (b" ", b"\t"):
            return True
        return self.block_full and first not in (b"\r", b"\n")

    def skip_left_out(self, raw: bytes, position: int) -> int:
        """Skip the header lines left out: up to the next field, or to the block's end."""
        pattern = _BLANK_LINE if self.block_full else _FIELD_END
        found = pattern.search(raw, position)
        return found.end() if found else len(raw)

    def take(self, line: bytes) -> bool:
        """Copy one line; False once the part limit is reached."""
        stripped = line.rstrip(b"\r\n")
        delimiter = self.delimiter(stripped)
        if delimiter == "open":
            self.end_block()
            self.parts += 1
            if self.parts > MAX_PARTS:
                return False
            self.out.append(line)
            self.mode = _HEADERS
            return True
        if delimiter == "close":
            self.end_block()
            self.mode = _BODY
        elif self.mode in (_HEADERS, _STATUS_FIELDS):
            if not stripped:
                next_mode = self.end_block()
                self.mode = next_mode if self.mode == _HEADERS else _STATUS_FIELDS
            elif _HEADER_LINE.match(stripped):
                self.add_header_line(line)
                return True
            else:
                self.end_block()
                self.mode = _BODY
        self.out.append(line)
        return True

    def delimiter(self, stripped: bytes) -> str | None:
        """ "open" or "close" for a delimiter line of an enclosing multipart, else None."""
        if not stripped.startswith(b"--") or not self.nesting:
            return None
        token = stripped[2:].rstrip(b" \t")
        for depth in range(len(self.nesting) - 1, -1, -1):
            boundary = self.nesting[depth]
            if boundary is None:
                continue
            if token == boundary:
                del self.nesting[depth + 1 :]
                return "open"
            if token == boundary + b"--":
                del self.nesting[depth:]
                return "close"
        return None

    def add_header_line(self, line: bytes) -> None:
        """Add a header line, leaving out what is over the field's or the block's limit."""
        if line[:1] in (b" ", b"\t") and (self.block or self.dropping):
            size = len(line)
            self.dropping = self.dropping or (
                self.field_bytes + size > MAX_HEADER_FIELD_BYTES
                or self.block_bytes + size > MAX_HEADER_BLOCK_BYTES
            )
            if not self.dropping:
                self.block[-1].append(line)
                self.field_bytes += size
                self.block_bytes += size
            return
        if len(line) > MAX_HEADER_FIELD_BYTES:
            line = line[:MAX_HEADER_FIELD_BYTES].rstrip(b"\r\n") + _line_end(line)
        self.dropping = self.block_full = self.block_bytes + len(line) > MAX_HEADER_BLOCK_BYTES
        if not self.dropping:
            self.block.append([line])
            self.field_bytes = len(line)
            self.block_bytes += len(line)

    def end_block(self) -> str:
        """Write out the current header block; the mode its Content-Type calls for next."""
        block = self.block
        self.block, self.block_bytes, self.dropping, self.block_full = [], 0, False, False
        next_mode = _BODY
        for field in block:
            name = field[0].split(b":", 1)[0].strip().lower()
            if name.startswith(b"content-") and sum(map(len, field)) > MAX_MIME_FIELD_BYTES:
                field = [_short_mime_field(b"".join(field))]
            if name == b"content-type":
                field, next_mode = self.structure(field)
            self.out.extend(field)
        return next_mode

    def structure(self, field: list[bytes]) -> tuple[list[bytes], str]:
        """Follow a Content-Type into multiparts and enclosed messages, within the limits."""
        value = re.sub(rb"\r?\n[ \t]", b" ", b"".join(field)).split(b":", 1)[1].strip()
        content_type = value.split(b";", 1)[0].strip().lower()
        nests = content_type.startswith(b"multipart/") or content_type in (
            b"message/rfc822",
            b"message/global",
        )
        if nests and len(self.nesting) >= MAX_NESTING:
            return [b"Content-Type: text/plain" + _line_end(field[-1])], _BODY
        if content_type.startswith(b"multipart/"):
            boundary = _BOUNDARY.search(value)
            if boundary:
                self.nesting.append(boundary.group(1) or boundary.group(2))
            return field, _BODY
        if nests:
            self.parts += 1
            self.nesting.append(None)
            return field, _HEADERS
        if content_type.endswith(b"delivery-status"):
            return field, _STATUS_FIELDS
        return field, _BODY


def _short_mime_field(field: bytes) -> bytes:
    """An overlong Content-* field cut down to its value and essential parameters."""
    name, _colon, value = re.sub(rb"\r?\n[ \t]", b" ", field).partition(b":")
    kept = [value.split(b";", 1)[0].strip()[:100]]
    for param in _KEPT_MIME_PARAMS:
        pattern = rb";\s*" + param + rb"\s*=\s*(\"[^\"]{0,200}\"|[^\s;\"]{1,200})"
        found = re.search(pattern, value, re.IGNORECASE)
        if found:
            kept.append(param + b"=" + found.group(1))
    return name + b": " + b"; ".join(kept) + _line_end(field)


def _line_end(line: bytes) -> bytes:
    return b"\r\n" if line.endswith(b"\r\n") else b"\n"
