"""Message classification against the mailbox fixtures (shared/fixtures/mail), bad input and the
helpers the sync stores a reply with. No database: classification is pure."""

import csv
import datetime
import io
import json
import os
import random
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from mailbox import classify


def _fixtures_dir() -> Path:
    """shared/fixtures/mail beside the checkout (CI lays shared/ next to the clone)."""
    candidates = [Path(os.environ["MAIL_FIXTURES"])] if os.environ.get("MAIL_FIXTURES") else []
    candidates += [
        Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "mail",
    ]
    for candidate in candidates:
        if (candidate / "manifest.csv").is_file():
            return candidate
    raise RuntimeError(f"mail fixtures not found in {[str(c) for c in candidates]}")


FIXTURES = _fixtures_dir()
MANIFEST = list(csv.DictReader((FIXTURES / "manifest.csv").open(encoding="utf-8")))
TIME_LIMIT = 10.0  # seconds for one hostile message; each takes well under 2 s here


def _raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _expected(row) -> tuple:
    return (row["kind"], row["failed_recipient"] or None, row["status_code"] or None)


def test_manifest_lists_the_readme_counts():
    kinds = [row["kind"] for row in MANIFEST]
    assert len(kinds) == 37
    assert {kind: kinds.count(kind) for kind in set(kinds)} == {
        "hard_bounce": 14,
        "soft_bounce": 10,
        "auto_reply": 5,
        "human_reply": 5,
        "other": 3,
    }


@pytest.mark.parametrize("row", MANIFEST, ids=[row["file"] for row in MANIFEST])
def test_fixture_comes_out_as_the_manifest_lists(row):
    verdict = classify.classify_message(_raw(row["file"]))
    assert (verdict.kind, verdict.failed_recipient, verdict.status_code) == _expected(row)
    if verdict.kind.endswith("_bounce"):
        assert verdict.diagnostic, "a bounce carries the server's words"
        assert len(verdict.diagnostic) <= classify.MAX_DIAGNOSTIC_CHARS
    else:
        assert not verdict.is_delay_warning


@pytest.mark.parametrize(
    "name, delayed",
    [("s06.eml", True), ("s15.eml", True), ("s17.eml", True), ("s04.eml", False)],
)
def test_delay_warnings_are_flagged(name, delayed):
    verdict = classify.classify_message(_raw(name))
    assert verdict.kind == "soft_bounce"
    assert verdict.is_delay_warning is delayed


def test_diagnostic_is_the_remote_servers_text():
    assert (
        "5.1.10 RESOLVER.ADR.RecipientNotFound"
        in classify.classify_message(_raw("s23.eml")).diagnostic
    )
    assert classify.classify_message(_raw("s01.eml")).diagnostic.startswith(
        "Host or domain name not found"
    )
    assert "Domino" in classify.classify_message(_raw("s16.eml")).diagnostic  # ISO-2022-JP read


# --- the classify_mail command ------------------------------------------------------------


def test_command_json_for_the_whole_folder_equals_the_manifest():
    paths = [str(FIXTURES / row["file"]) for row in MANIFEST]
    out = io.StringIO()
    call_command("classify_mail", *paths, "--format", "json", stdout=out)
    expected = [
        {
            "file": str(FIXTURES / row["file"]),
            "kind": row["kind"],
            "failed_recipient": row["failed_recipient"] or None,
            "status_code": row["status_code"] or None,
        }
        for row in MANIFEST
    ]
    assert json.loads(out.getvalue()) == expected


def test_command_reports_an_unreadable_file_and_goes_on(tmp_path):
    missing = tmp_path / "missing.eml"
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="could not be read"):
        call_command(
            "classify_mail",
            str(missing),
            str(FIXTURES / "s01.eml"),
            format="json",
            stdout=out,
            stderr=err,
        )
    assert f"{missing}: cannot read the file" in err.getvalue()
    assert [result["file"] for result in json.loads(out.getvalue())] == [str(FIXTURES / "s01.eml")]


def test_command_text_format():
    out = io.StringIO()
    call_command("classify_mail", str(FIXTURES / "s29.eml"), stdout=out)
    assert out.getvalue().split() == [
        str(FIXTURES / "s29.eml"),
        "soft_bounce",
        "kijitora@example.co.jp",
        "5.2.2",
    ]


# --- bad input: processed or quarantined in bounded time ---------------------------------


def _no_closing_boundary():
    return (
        b"From: buyer@example.com\r\nSubject: order\r\n"
        b'Content-Type: multipart/mixed; boundary="XYZ"\r\n\r\n'
        b"--XYZ\r\nContent-Type: text/plain\r\n\r\nPlease confirm the order.\r\n"
        b"--XYZ\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"JVBERi0xLjQK\r\n"
    )


def _ten_thousand_parts():
    part = b"--P\r\nContent-Type: text/plain\r\n\r\npart\r\n"
    return (
        b"From: MAILER-DAEMON@example.net\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        b'Content-Type: multipart/mixed; boundary="P"\r\n\r\n' + part * 10_000 + b"--P--\r\n"
    )


def _two_megabyte_header():
    return (
        b"From: a@example.com\r\nTo: "
        + b"x y, " * 400_000
        + b"\r\nSubject: "
        + b"word\r\n " * 250_000
        + b"end\r\n\r\nbody\r\n"
    )


def _unknown_charset():
    return (
        b"From: =?x-unknown-123?B?5byg5LiJ?= <zhang@example.cn>\r\n"
        b"Subject: =?x-unknown-123?B?5Zue5aSN?=\r\nIn-Reply-To: <q1@example.com>\r\n"
        b'Content-Type: text/plain; charset="x-unknown-123"\r\n\r\n'
        b"\xe6\x94\xb6\xe5\x88\xb0 \xff\xfe hello\r\n"
    )


def _binary_garbage():
    return random.Random(20240101).randbytes(3_000_000)


def _deep_nesting():
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="N%d"\r\n\r\n--N%d\r\n' % (n, n)
        for n in range(5_000)
    )
    return b"From: a@example.com\r\n" + opening + b"\r\ntext\r\n"


def _long_lines_from_a_mail_system():
    head = b"From: MAILER-DAEMON@example.net\r\nSubject: failure notice\r\n\r\n"
    return head + b"a" * 200_000 + b"\r\n" + b"x@y" * 60_000 + b"\r\n" + b"550 " * 50_000


HOSTILE = {
    "no closing boundary": _no_closing_boundary,
    "10,000 parts": _ten_thousand_parts,
    "2 MB header": _two_megabyte_header,
    "unknown charset x-unknown-123": _unknown_charset,
    "binary garbage": _binary_garbage,
    "empty bytes": lambda: b"",
    "5,000 nested multiparts": _deep_nesting,
    "200 kB lines from a mail system": _long_lines_from_a_mail_system,
}


@pytest.mark.parametrize("build", HOSTILE.values(), ids=HOSTILE.keys())
def test_bad_input_is_classified_in_bounded_time(build):
    raw = build()
    started = time.monotonic()
    verdict = classify.classify_message(raw)
    message = classify.parse_message(raw)
    classify.sender_address(message)
    classify.message_subject(message)
    classify.reply_text(message)
    assert time.monotonic() - started < TIME_LIMIT
    assert verdict.kind in classify.KINDS


def test_unknown_charset_decodes_with_replacement():
    message = classify.parse_message(_unknown_charset())
    assert classify.sender_address(message) == "zhang@example.cn"
    assert classify.message_subject(message) == "回复"
    assert classify.reply_text(message).startswith("收到")
    assert classify.classify_message(_unknown_charset()).kind == "human_reply"


def test_bounds_keep_ordinary_messages_byte_for_byte():
    for row in MANIFEST:
        raw = _raw(row["file"])
        assert classify.bounded_bytes(raw) == raw, row["file"]


def test_bounds_cut_parts_and_headers():
    bounded = classify.bounded_bytes(_ten_thousand_parts())
    assert bounded.count(b"--P\r\n") == classify.MAX_PARTS
    bounded = classify.bounded_bytes(_two_megabyte_header())
    assert len(bounded) < 2 * classify.MAX_HEADER_FIELD_BYTES + 200
    assert bounded.endswith(b"\r\n\r\nbody\r\n")


# --- what a person wrote --------------------------------------------------------------------

HUMAN_REPLIES = [
    # file, the first line of the new text, a marker of the quoted history
    ("s03.eml", "Dear Lily,", "Sent: Thursday"),
    ("s05.eml", "Dear Lily,", "schrieb Lily Chen"),
    ("s11.eml", "Hi Lily,", "wrote:"),
    ("s19.eml", "Hello Lily,", "JVBERi0"),  # no history: the PDF attachment stays out
    ("s21.eml", "陈小姐，您好！", "原始邮件"),
]


def test_reply_text_cases_cover_every_human_reply():
    humans = {row["file"] for row in MANIFEST if row["kind"] == "human_reply"}
    assert {name for name, _first, _quoted in HUMAN_REPLIES} == humans


@pytest.mark.parametrize("name, first_line, quoted", HUMAN_REPLIES)
def test_reply_text_leaves_out_quoted_history(name, first_line, quoted):
    message = classify.parse_message(_raw(name))
    assert isinstance(message, EmailMessage)
    text = classify.reply_text(message)
    assert text.splitlines()[0] == first_line
    assert quoted not in text
    assert not any(line.startswith(">") for line in text.splitlines())
    assert len(text) <= classify.MAX_REPLY_CHARS


def test_reply_text_keeps_the_whole_new_text():
    text = classify.reply_text(classify.parse_message(_raw("s11.eml")))
    assert text == (
        "Hi Lily,\n\nSamples arrived today, thanks. Go ahead with the 150W version; PO to "
        "follow.\n\nSarah"
    )
    text = classify.reply_text(classify.parse_message(_raw("s03.eml")))
    assert "Can you confirm production can start in the first week of June?" in text
    assert "Dear Mr. Haddad" not in text
    text = classify.reply_text(classify.parse_message(_raw("s21.eml")))
    assert text.endswith("光明贸易有限公司")


def test_sender_and_subject():
    message = classify.parse_message(_raw("s21.eml"))
    assert classify.sender_address(message) == "wang.haitao@guangming-trading.example.org"
    assert classify.message_subject(message) == "回复: 报价单 QT-2024-0420 LED 投光灯 100W"
    message = classify.parse_message(_raw("s16.eml"))
    assert "Domino" in classify.message_subject(message)
    assert classify.sender_address(classify.parse_message(b"")) is None


# --- auto-replies and their return date -------------------------------------------------------


def _out_of_office(subject: str, body: str, sent="Mon, 03 Mar 2025 09:00:00 +0800") -> bytes:
    message = EmailMessage()
    message["From"] = "Li Na <li.na@example.cn>"
    message["To"] = "sales@example.com"
    message["Subject"] = subject
    message["Date"] = sent
    message["Auto-Submitted"] = "auto-replied"
    message.set_content(body)
    return message.as_bytes()


@pytest.mark.parametrize(
    "subject, body, expected",
    [
        (
            "Automatic reply: Quotation",
            "Thank you for your email. I am out of the office and will be back on "
            "12 March 2025.\nFor urgent matters please call the office.",
            datetime.date(2025, 3, 12),
        ),
        ("Out of Office", "I will return on 2025-03-12.", datetime.date(2025, 3, 12)),
        (
            "Auto reply",
            "I'm away until March 14th with limited access.",
            datetime.date(2025, 3, 14),
        ),
        (
            "自动回复: 报价单",
            "您好！我正在休假，返回日期 2025年3月12日。如有急事请联系采购部。",
            datetime.date(2025, 3, 12),
        ),
        (
            "自动回复: 报价单",
            "您好！本人 3 月 1 日至 3 月 11 日休假，将于 3 月 12 日返回办公室。",
            datetime.date(2025, 3, 12),
        ),
        ("Automatische Antwort: Angebot", "Ich bin nicht im Büro.", None),
    ],
)
def test_return_date_of_an_out_of_office_message(subject, body, expected):
    verdict = classify.classify_message(_out_of_office(subject, body))
    assert verdict.kind == "auto_reply"
    assert verdict.return_date == expected


def test_year_of_a_return_date_without_one_follows_the_message():
    raw = _out_of_office("Out of office", "Back on 5 January.", sent="Fri, 20 Dec 2024 10:00 +0000")
    assert classify.classify_message(raw).return_date == datetime.date(2025, 1, 5)


@pytest.mark.parametrize(
    "header, value",
    [
        ("X-Autoreply", "yes"),
        ("X-Autorespond", "vacation"),
        ("X-Auto-Response-Suppress", "All"),
        ("Precedence", "auto_reply"),
        ("X-Apple-Action", "VACATION"),
    ],
)
def test_auto_reply_headers_without_auto_submitted(header, value):
    message = EmailMessage()
    message["From"] = "a@example.org"
    message["Subject"] = "Re: your offer"
    message["In-Reply-To"] = "<q@example.com>"
    message[header] = value
    message.set_content("I am away.")
    assert classify.classify_message(message.as_bytes()).kind == "auto_reply"


@pytest.mark.parametrize(
    "subject",
    ["Réponse automatique : Offre", "Respuesta automática: Oferta", "Auto reply: Offer"],
)
def test_auto_reply_subjects(subject):
    message = EmailMessage()
    message["From"] = "a@example.org"
    message["Subject"] = subject
    message.set_content("Away.")
    assert classify.classify_message(message.as_bytes()).kind == "auto_reply"


def test_a_person_writing_about_absence_or_a_bounce_stays_a_human_reply():
    message = EmailMessage()
    message["From"] = "Omar <omar@example.org>"
    message["Subject"] = "Re: Undeliverable: quotation"
    message["In-Reply-To"] = "<q@example.com>"
    message.set_content(
        "Hi Lily, I was out of the office until today. Your mail to my colleague came back "
        "undeliverable (550 5.1.1 user unknown) - please use omar@example.org instead."
    )
    assert classify.classify_message(message.as_bytes()).kind == "human_reply"


def test_a_bounce_nested_in_another_notification_is_a_bounce():
    inner = _raw("s01.eml")
    outer = (
        b"From: Postmaster <postmaster@example.com>\r\nTo: sales@example.com\r\n"
        b"Subject: Delivery report forwarded by the mail gateway\r\n"
        b'Content-Type: multipart/mixed; boundary="G"\r\n\r\n'
        b"--G\r\nContent-Type: text/plain\r\n\r\nThe attached report was held for review.\r\n"
        b"--G\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--G--\r\n"
    )
    verdict = classify.classify_message(outer)
    assert (verdict.kind, verdict.failed_recipient, verdict.status_code) == (
        "hard_bounce",
        "kijitora@neko.example.jp",
        "5.4.4",
    )


def test_generic_report_status_gives_way_to_the_servers_specific_code():
    report = _raw("s10.eml").replace(
        b"Diagnostic-Code: unknown; No such domain.",
        b"Diagnostic-Code: smtp; 550 5.1.1 <kijitora@example.cat>: Recipient address rejected",
    )
    verdict = classify.classify_message(report)
    assert (verdict.kind, verdict.status_code) == ("hard_bounce", "5.1.1")
