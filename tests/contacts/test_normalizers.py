"""Tests for contacts.normalizers and contacts.countries.

Plain functions, no database and no Django settings. The first half checks
the normalisers against the real legacy fixtures (value maps, warnings,
rejected emails and column mappings of every *.expected.json); the second half
covers the README rules case by case.
"""

import datetime
import json
import os
import subprocess
import sys
import zoneinfo
from pathlib import Path
from types import SimpleNamespace

import pytest

from contacts.countries import (
    COUNTRY_ALPHA3,
    COUNTRY_NAMES,
    COUNTRY_SYNONYMS,
    COUNTRY_TIME_ZONES,
    UNRESOLVED_COUNTRY_NAMES,
)
from contacts.normalizers import (
    CHANNEL_SYNONYMS,
    COLUMN_NAMES,
    GRADE_SYNONYMS,
    HEADER_SYNONYMS,
    STAGE_SYNONYMS,
    Normalized,
    clean_header,
    field_for_header,
    match_owner,
    normalize_channel,
    normalize_country,
    normalize_date,
    normalize_email,
    normalize_emails,
    normalize_follow_up_plan,
    normalize_grade,
    normalize_linkedin_url,
    normalize_phone,
    normalize_stage,
    normalize_tags,
    normalize_text,
    owner_key,
)
from tests.fixture_paths import LEGACY_FIXTURES  # noqa: E402

FIXTURES = LEGACY_FIXTURES
EXPECTED_FILES = sorted(FIXTURES.glob("*.expected.json"))
SALESPEOPLE = (
    json.loads((FIXTURES / "salespeople.json").read_text("utf-8")) if FIXTURES.is_dir() else []
)
REPO_ROOT = Path(__file__).resolve().parents[2]

D = datetime.date

NORMALIZERS = {
    "country": normalize_country,
    "stage": normalize_stage,
    "grade": normalize_grade,
    "channel": normalize_channel,
    "linkedin_url": normalize_linkedin_url,
    "first_contact_date": normalize_date,
    "last_contact_date": normalize_date,
    "owner": lambda raw: match_owner(raw, SALESPEOPLE),
}
UNKNOWN_WARNING = {
    "country": "unknown_country",
    "stage": "unknown_stage",
    "grade": "unknown_grade",
    "channel": "unknown_channel",
    "owner": "unknown_owner",
}


def _load(path):
    return json.loads(path.read_text("utf-8"))


def _fixture_params(collect):
    """pytest params from every expected file, without repeats, with readable ids."""
    params, seen = [], set()
    for path in EXPECTED_FILES:
        for case in collect(_load(path)):
            if case not in seen:
                seen.add(case)
                params.append(
                    pytest.param(*case, id=f"{path.name.split('.')[0]}-{'-'.join(map(str, case))}")
                )
    return params


def _value_maps(expected):
    for field, mapping in (expected.get("value_maps") or {}).items():
        for raw, value in mapping.items():
            yield field, raw, value


def _warnings(expected):
    for warning in expected["warnings"]:
        yield warning["field"], warning["value"], warning["code"]


def _invalid_emails(expected):
    for row in expected["rejected_rows"]:
        if row["reason"] == "invalid_email":
            yield (row["value"],)


def _columns(expected):
    for sheet in expected["sheets"]:
        for column in sheet.get("columns") or []:
            field = None if column["field"] == "ignored" else column["field"]
            yield column["header"], field


# --------------------------------------------------------------------------
# Real fixtures
# --------------------------------------------------------------------------


def test_fixture_folder_is_present():
    assert len(EXPECTED_FILES) == 9
    assert [person["username"] for person in SALESPEOPLE] == [
        "zhangwei",
        "lina",
        "kevinli",
        "chenjing",
    ]


@pytest.mark.parametrize("field, raw, expected", _fixture_params(_value_maps))
def test_fixture_value_maps(field, raw, expected):
    result = NORMALIZERS[field](raw)
    if expected is None:
        assert result == Normalized(None, UNKNOWN_WARNING[field])
    else:
        assert result == Normalized(expected, None)


FIELD_WARNINGS = [param for param in _fixture_params(_warnings) if param.values[0] in NORMALIZERS]
PHONE_WARNINGS = [param for param in _fixture_params(_warnings) if param.values[0] == "phone"]


@pytest.mark.parametrize("field, raw, code", FIELD_WARNINGS)
def test_fixture_field_warnings(field, raw, code):
    assert NORMALIZERS[field](raw) == Normalized(None, code)


@pytest.mark.parametrize("field, raw, code", PHONE_WARNINGS)
@pytest.mark.parametrize("country", [None, "CN", "US", "DE", "ZA"])
def test_fixture_phone_warnings_keep_the_text(field, raw, code, country):
    assert normalize_phone(raw, country) == Normalized(raw.strip(), code)


def test_fixture_warning_cases_are_collected():
    fields = {param.values[0] for param in FIELD_WARNINGS}
    assert fields == {
        "country",
        "stage",
        "grade",
        "channel",
        "owner",
        "linkedin_url",
        "first_contact_date",
        "last_contact_date",
    }
    assert PHONE_WARNINGS


@pytest.mark.parametrize("raw", _fixture_params(_invalid_emails))
def test_fixture_invalid_emails(raw):
    assert normalize_emails(raw) == (None, [], "invalid_email")


@pytest.mark.parametrize("header, field", _fixture_params(_columns))
def test_fixture_column_names(header, field):
    assert field_for_header(header) == field


# --------------------------------------------------------------------------
# Module hygiene
# --------------------------------------------------------------------------


def test_import_needs_no_django_settings_and_no_models():
    code = (
        "import sys\n"
        "from contacts import normalizers as n\n"
        "assert n.normalize_emails('A@B.example') == ('a@b.example', [], None)\n"
        "assert n.normalize_email('x@y') is None\n"
        "assert not [m for m in sys.modules if m.startswith(('django.db', 'contacts.models'))]\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------
# Email
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("JOHN.SMITH@ACME.EXAMPLE", ("john.smith@acme.example", [], None)),
        ("John.Smith@Acme.Example", ("john.smith@acme.example", [], None)),
        ("  \tjohn@acme.example\t ", ("john@acme.example", [], None)),
        ("\u00a0john@acme.example\u3000", ("john@acme.example", [], None)),
        ("\u200bjohn@acme.example\ufeff", ("john@acme.example", [], None)),
        ("jo\u200chn@acme.example", ("john@acme.example", [], None)),
        ("mailto:john@acme.example", ("john@acme.example", [], None)),
        ("MailTo:John@Acme.Example", ("john@acme.example", [], None)),
        ("a@x.example; b@x.example", ("a@x.example", ["b@x.example"], None)),
        ("a@x.example,b@x.example", ("a@x.example", ["b@x.example"], None)),
        ("a@x.example；b@x.example", ("a@x.example", ["b@x.example"], None)),
        ("a@x.example，b@x.example", ("a@x.example", ["b@x.example"], None)),
        ("a@x.example / b@x.example", ("a@x.example", ["b@x.example"], None)),
        (
            "a@x.example\nb@x.example\r\nc@x.example",
            ("a@x.example", ["b@x.example", "c@x.example"], None),
        ),
        ("a@x.example b@x.example", ("a@x.example", ["b@x.example"], None)),
        ("see card; b@x.example", ("b@x.example", [], None)),
        ("a@x.example; A@X.EXAMPLE", ("a@x.example", [], None)),
        ("mailto:a@x.example, mailto:b@x.example", ("a@x.example", ["b@x.example"], None)),
        ("john@", (None, [], "invalid_email")),
        ("x@y", (None, [], "invalid_email")),
        ("no email", (None, [], "invalid_email")),
        ("mike@@northstar.example", (None, [], "invalid_email")),
        ('=HYPERLINK("mailto:x@evil.example","mail")', (None, [], "invalid_email")),
        (12345, (None, [], "invalid_email")),
        ("", (None, [], "missing_email")),
        ("   \t ", (None, [], "missing_email")),
        ("\u3000\u00a0", (None, [], "missing_email")),
        ("\u200b", (None, [], "missing_email")),
        (None, (None, [], "missing_email")),
    ],
)
def test_normalize_emails(raw, expected):
    assert normalize_emails(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        (" John@Acme.Example ", "john@acme.example"),
        ("a@x.example", "a@x.example"),
        ("x@y", None),
        ("a@x.example; b@x.example", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_email(raw, expected):
    assert normalize_email(raw) == expected


# Addresses at the edges of Django's EmailValidator: the import's own check (which does not
# raise) must accept exactly what the validator accepts.
EMAIL_VALIDATOR_EDGES = [
    "a@x.example",
    "first.last+tag@sub.x.example",
    "a@localhost",
    "a@LOCALHOST",
    "a@x",
    "a@x.",
    "a@x.example.",
    "a@-x.example",
    "a@x-.example",
    "a@x..example",
    "a@x.e",
    "a@x.123",
    "a@xn--fsqu00a.xn--0zwm56d",
    "a@例え.テスト",
    ".a@x.example",
    "a.@x.example",
    "a..b@x.example",
    '"a b"@x.example',
    '"a\\"b"@x.example',
    '"unterminated@x.example',
    "a@[192.0.2.1]",
    "a@[192.0.2.256]",
    "a@[IPv6:2001:db8::1]",
    "a@[2001:db8::1]",
    "a@[not an ip]",
    "a@b@x.example",
    "@x.example",
    "a@",
    "@",
    "",
    "no-at-sign",
    "a\nb@x.example",
    "a@x.example\n",
    "ünï@x.example",
    "a@" + "x" * 63 + ".example",
    "a@" + "x" * 64 + ".example",
    "a" * 64 + "@x.example",
    ("a" * 300) + "@x.example",
    "a@" + ".".join(["x" * 60] * 5) + ".example",
]


@pytest.mark.parametrize("address", EMAIL_VALIDATOR_EDGES)
def test_email_check_agrees_with_django_validator(address):
    from django.core.exceptions import ValidationError
    from django.core.validators import EmailValidator

    from contacts.normalizers import _is_valid_email

    try:
        EmailValidator()(address)
        expected = True
    except ValidationError:
        expected = False
    assert _is_valid_email(address) is expected


# --------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------

LONG_TEXT = "备注" * 20_000


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  Anna Schmidt  ", "Anna Schmidt"),
        ("\t\u3000Müller GmbH\u00a0\n", "Müller GmbH"),
        ("line 1\n  line 2  \r\nline 3\n\n", "line 1\n  line 2  \r\nline 3"),
        ("a   b", "a   b"),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),
        ("=cmd|' /C calc'!A0", "=cmd|' /C calc'!A0"),
        ("Robert'); DROP TABLE contacts;--", "Robert'); DROP TABLE contacts;--"),
        (LONG_TEXT, LONG_TEXT),
        ("", None),
        ("   \n\t", None),
        (None, None),
        (12, "12"),
        (12.0, "12"),
        (12.5, "12.5"),
        (8613800138000.0, "8613800138000"),
        (datetime.datetime(2025, 3, 5), "2025-03-05"),
        (D(2025, 3, 5), "2025-03-05"),
    ],
)
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


# --------------------------------------------------------------------------
# Country
# --------------------------------------------------------------------------

README_COUNTRY_CASES = [
    (name, code) for code, names in COUNTRY_SYNONYMS.items() for name in (code, *names)
]


@pytest.mark.parametrize("raw, code", README_COUNTRY_CASES)
def test_country_readme_table(raw, code):
    assert normalize_country(raw) == Normalized(code, None)


def test_country_readme_table_is_complete():
    assert len(COUNTRY_SYNONYMS) == 38
    assert COUNTRY_SYNONYMS["GB"] == (
        "英国",
        "United Kingdom",
        "GBR",
        "UK",
        "U.K.",
        "England",
        "Great Britain",
    )


@pytest.mark.parametrize("code", sorted(COUNTRY_NAMES))
def test_country_every_iso_code(code):
    alpha3 = COUNTRY_ALPHA3[code]
    assert normalize_country(code) == Normalized(code, None)
    assert normalize_country(code.lower()) == Normalized(code, None)
    assert normalize_country(alpha3) == Normalized(code, None)
    assert normalize_country(f" {alpha3.lower()} ") == Normalized(code, None)


@pytest.mark.parametrize("code", sorted(set(COUNTRY_NAMES) - {"GE"}))
def test_country_every_english_name(code):
    assert normalize_country(COUNTRY_NAMES[code][0]) == Normalized(code, None)


@pytest.mark.parametrize(
    "raw, code",
    [
        (" united states ", "US"),
        ("UNITED STATES", "US"),
        ("united-states", "US"),
        ("United_States", "US"),
        ("u.s.a.", "US"),
        ("U S A", "US"),
        ("uk", "GB"),
        ("u.k.", "GB"),
        ("holland", "NL"),
        ("korea, republic of", "KR"),
        ("South-Korea", "KR"),
        ("türkiye", "TR"),
        ("MÉXICO", "MX"),
        ("\u3000美国\u00a0", "US"),
        ("Viet Nam", "VN"),
        ("Russian Federation", "RU"),
        ("Czech Republic", "CZ"),
        ("Ivory Coast", "CI"),
        ("Switzerland", "CH"),
        ("TWN", "TW"),
    ],
)
def test_country_variants(raw, code):
    assert normalize_country(raw) == Normalized(code, None)


@pytest.mark.parametrize(
    "raw",
    [
        "Korea",
        "KOREA",
        "中东",
        "Middle East",
        "Europe",
        "欧洲",
        "EU",
        "北美",
        "South America",
        "非洲",
        "Africa",
        "Asia",
        "东南亚",
        "Georgia",
        "Congo",
        "Narnia",
        "?",
        "N/A",
        "美 国 加拿大",
    ],
)
def test_country_not_resolved(raw):
    assert normalize_country(raw) == Normalized(None, "unknown_country")


def test_country_unresolved_list_covers_readme_examples():
    for name in [
        "Korea",
        "中东",
        "Middle East",
        "Europe",
        "欧洲",
        "EU",
        "北美",
        "South America",
        "非洲",
        "Africa",
        "Asia",
        "东南亚",
    ]:
        assert name in UNRESOLVED_COUNTRY_NAMES


@pytest.mark.parametrize("raw", [None, "", "   ", "\u3000"])
def test_country_empty(raw):
    assert normalize_country(raw) == Normalized(None, None)


def test_country_tables_cover_iso_3166_1():
    assert len(COUNTRY_NAMES) == 249
    assert set(COUNTRY_ALPHA3) == set(COUNTRY_NAMES)
    assert len(set(COUNTRY_ALPHA3.values())) == 249
    for code, alpha3 in COUNTRY_ALPHA3.items():
        assert len(code) == 2 and code.isupper() and code.isascii()
        assert len(alpha3) == 3 and alpha3.isupper() and alpha3.isascii()
    for english, chinese in COUNTRY_NAMES.values():
        assert english.strip() == english and english
        assert chinese.strip() == chinese and chinese
    assert COUNTRY_NAMES["CN"] == ("China", "中国")
    assert COUNTRY_NAMES["US"] == ("United States", "美国")
    assert COUNTRY_NAMES["KR"] == ("South Korea", "韩国")
    assert COUNTRY_NAMES["HK"] == ("Hong Kong", "中国香港")
    assert COUNTRY_ALPHA3["DE"] == "DEU"
    assert COUNTRY_ALPHA3["GB"] == "GBR"
    assert COUNTRY_ALPHA3["KR"] == "KOR"


def test_country_synonyms_use_known_codes():
    assert set(COUNTRY_SYNONYMS) <= set(COUNTRY_NAMES)
    for code, names in COUNTRY_SYNONYMS.items():
        assert names[0] == COUNTRY_NAMES[code][1], "README's Chinese name is the display name"


def test_country_time_zones_all_exist():
    assert set(COUNTRY_TIME_ZONES) == set(COUNTRY_NAMES) - {"BV", "HM"}
    for code, zone in COUNTRY_TIME_ZONES.items():
        assert zoneinfo.ZoneInfo(zone).key == zone, code


@pytest.mark.parametrize(
    "code, zone",
    [
        ("US", "America/New_York"),
        ("CN", "Asia/Shanghai"),
        ("DE", "Europe/Berlin"),
        ("AU", "Australia/Sydney"),
        ("RU", "Europe/Moscow"),
        ("BR", "America/Sao_Paulo"),
        ("IN", "Asia/Kolkata"),
        ("CA", "America/Toronto"),
        ("GB", "Europe/London"),
        ("AE", "Asia/Dubai"),
        ("MX", "America/Mexico_City"),
        ("ID", "Asia/Jakarta"),
        ("VN", "Asia/Ho_Chi_Minh"),
        ("UA", "Europe/Kyiv"),
    ],
)
def test_country_time_zone_examples(code, zone):
    assert COUNTRY_TIME_ZONES[code] == zone


# --------------------------------------------------------------------------
# Phone
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, country, expected",
    [
        # international, with any layout
        ("+86 138 0013 8000", None, "+8613800138000"),
        ("+86 138 0013 8000", "US", "+8613800138000"),
        ("+8613800138000", "CN", "+8613800138000"),
        ("+1 (201) 555-0123", "US", "+12015550123"),
        ("+1 201 555 0101", None, "+12015550101"),
        ("+49-151-0017-2213", "DE", "+4915100172213"),
        ("+27.215.072.565", "ZA", "+27215072565"),
        ("+44/20/7946/0014", None, "+442079460014"),
        ("+44 [20] 7946 0014", None, "+442079460014"),
        # 00 means +
        ("0086-755-2345 6789", None, "+8675523456789"),
        ("0086-755-2345 6789", "US", "+8675523456789"),
        ("001 201 5550 146", "US", "+12015550146"),
        ("0049 151 0075 0735", None, "+4915100750735"),
        # (0) after the country code
        ("+44 (0)20 7946 0014", "GB", "+442079460014"),
        ("+44(0)2079460014", None, "+442079460014"),
        ("0049 (0) 151 0191 7849", None, "+4915101917849"),
        ("+48 (0)22 404 2868", "PL", "+48224042868"),
        ("+34 (0) 915 560 740", None, "+34915560740"),
        ("+1 (0) 201 555 0123", None, "+12015550123"),
        # national numbers, read with the row's country
        ("(201) 555-0100", "US", "+12015550100"),
        ("020 7946 0014", "GB", "+442079460014"),
        ("020 7946 0014", "gb", "+442079460014"),
        ("0755 2345 6789", "CN", "+8675523456789"),
        ("136-7075-8344", "CN", "+8613670758344"),
        ("0579-52309011", "CN", "+8657952309011"),
        # a country code without +
        ("86 138 0013 8000", "CN", "+8613800138000"),
        ("44 20 7946 0014", "GB", "+442079460014"),
        ("49 151 0999 5916", "DE", "+4915109995916"),
        ("39 339 202 9586", "IT", "+393392029586"),
        # ... but a national number that merely starts like the country code stays national
        ("392 123 4567", "IT", "+393921234567"),
        ("339 202 9586", "IT", "+393392029586"),
        # number cells
        (8613800138000, "CN", "+8613800138000"),
        (8613800138000.0, "CN", "+8613800138000"),
        (12015550179.0, "US", "+12015550179"),
        (862043988915.0, "CN", "+862043988915"),
        (13800138000.0, "CN", "+8613800138000"),
        # full-width characters and spaces
        ("＋８６ １３８ ００１３ ８０００", None, "+8613800138000"),
        ("\u3000+86\u00a0138\u00a00013\u00a08000\t", None, "+8613800138000"),
    ],
)
def test_phone_parsed(raw, country, expected):
    assert normalize_phone(raw, country) == Normalized(expected, None)


@pytest.mark.parametrize(
    "raw, country, kept",
    [
        ("020 7946 0014", None, "020 7946 0014"),  # national without country
        ("(201) 555-0100", "", "(201) 555-0100"),
        ("12345", "ZA", "12345"),
        ("ext. 2031", "DE", "ext. 2031"),
        ("  见名片 ", "CN", "见名片"),
        ("call via WhatsApp", "CA", "call via WhatsApp"),
        ("电话空号", "BR", "电话空号"),
        ("+1 (555) 010-2345", None, "+1 (555) 010-2345"),  # 555 is no real area code
        ("+86 138 0013 800", None, "+86 138 0013 800"),  # a digit short
        ("1-800-FLOWERS", "US", "1-800-FLOWERS"),  # letters are not read as digits
        ("0755 2345 6789", "XX", "0755 2345 6789"),  # unknown country
        (12345, "US", "12345"),
        (12345.0, "US", "12345"),
    ],
)
def test_phone_unparsed_keeps_text(raw, country, kept):
    assert normalize_phone(raw, country) == Normalized(kept, "unparsed_phone")


@pytest.mark.parametrize("raw", [None, "", "   ", "\u3000"])
def test_phone_empty(raw):
    assert normalize_phone(raw, "CN") == Normalized(None, None)


# --------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        # real Excel date / date-time cells
        (datetime.datetime(2025, 3, 5), D(2025, 3, 5)),
        (datetime.datetime(2025, 3, 5, 14, 30, 15), D(2025, 3, 5)),
        (D(2025, 3, 5), D(2025, 3, 5)),
        # Excel serial numbers, in a number cell or typed as text
        (45721, D(2025, 3, 5)),
        (45721.0, D(2025, 3, 5)),
        (45721.75, D(2025, 3, 5)),
        ("45721", D(2025, 3, 5)),
        (" 45721 ", D(2025, 3, 5)),
        (25569, D(1970, 1, 1)),
        (73050, D(2099, 12, 31)),
        ("73050", D(2099, 12, 31)),
        # a number cell holding 20250305 is read like the text 20250305
        (20250305, D(2025, 3, 5)),
        (20250305.0, D(2025, 3, 5)),
        # README text formats
        ("2025-03-05", D(2025, 3, 5)),
        ("2025/3/5", D(2025, 3, 5)),
        ("2025/03/05", D(2025, 3, 5)),
        ("2025.3.5", D(2025, 3, 5)),
        ("2025年3月5日", D(2025, 3, 5)),
        ("2025 年 3 月 5 日", D(2025, 3, 5)),
        ("20250305", D(2025, 3, 5)),
        ("05.03.2025", D(2025, 3, 5)),
        ("5.3.2025", D(2025, 3, 5)),
        ("17.04.2024", D(2024, 4, 17)),
        ("March 5, 2025", D(2025, 3, 5)),
        ("march 5 2025", D(2025, 3, 5)),
        ("Mar 5, 2025", D(2025, 3, 5)),
        ("Sept. 5, 2025", D(2025, 9, 5)),
        ("5 Mar 2025", D(2025, 3, 5)),
        ("5 March 2025", D(2025, 3, 5)),
        ("5-Mar-2025", D(2025, 3, 5)),
        ("05-MAR-2025", D(2025, 3, 5)),
        # each optionally followed by a time
        ("2025-03-05 14:30", D(2025, 3, 5)),
        ("2025-03-05T14:30:00", D(2025, 3, 5)),
        ("2025-03-05T14:30:00Z", D(2025, 3, 5)),
        ("2025/3/5 9:05:00", D(2025, 3, 5)),
        ("2025年3月5日 14:30", D(2025, 3, 5)),
        ("05.03.2025 08:00", D(2025, 3, 5)),
        ("March 5, 2025 2:30 PM", D(2025, 3, 5)),
        ("5-Mar-2025 10:00", D(2025, 3, 5)),
        ("  2025-03-05\u3000", D(2025, 3, 5)),
        # A/B/YYYY and A-B-YYYY that are not ambiguous
        ("13/3/2025", D(2025, 3, 13)),
        ("3/13/2025", D(2025, 3, 13)),
        ("25-12-2025", D(2025, 12, 25)),
        ("12-25-2025", D(2025, 12, 25)),
        ("5/5/2025", D(2025, 5, 5)),
        ("05-05-2025 10:00", D(2025, 5, 5)),
        ("29/2/2024", D(2024, 2, 29)),
    ],
)
def test_date_parsed(raw, expected):
    result = normalize_date(raw)
    assert result == Normalized(expected, None)
    assert type(result.value) is datetime.date


@pytest.mark.parametrize("raw", ["5/3/2025", "03/05/2025", "1-2-2025", "12/11/2025 10:00"])
def test_date_ambiguous(raw):
    assert normalize_date(raw) == Normalized(None, "ambiguous_date")


@pytest.mark.parametrize(
    "raw",
    [
        "2025/2/30",
        "2024-13-05",
        "2023年2月29日",
        "31.04.2025",
        "20251301",
        "30/2/2025",
        "13/13/2025",
        "TBD",
        "上周",
        "last week",
        "待定",
        "Foo 5, 2025",
        "2025-03",
        "03/2025",
        "5/3/25",
        "2025-3-5-1",
        25568,
        73051,
        "25568",
        "73051",
        20251301,
        1.5,
        -45721,
    ],
)
def test_date_invalid(raw):
    assert normalize_date(raw) == Normalized(None, "invalid_date")


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_date_empty(raw):
    assert normalize_date(raw) == Normalized(None, None)


@pytest.mark.parametrize(
    "raw, expected",
    [
        (datetime.datetime(2024, 12, 14), "2024-12-14"),
        (datetime.datetime(2024, 12, 14, 9, 30), "2024-12-14"),
        (D(2024, 12, 14), "2024-12-14"),
        ("  2023-01-02 Send revised quotation ", "2023-01-02 Send revised quotation"),
        ("下周电话跟进\n再发报价", "下周电话跟进\n再发报价"),
        ("", None),
        (None, None),
    ],
)
def test_follow_up_plan(raw, expected):
    assert normalize_follow_up_plan(raw) == expected


# --------------------------------------------------------------------------
# Stage, grade, channel
# --------------------------------------------------------------------------

CHOICES = [
    (normalize_stage, STAGE_SYNONYMS),
    (normalize_grade, GRADE_SYNONYMS),
    (normalize_channel, CHANNEL_SYNONYMS),
]
CHOICE_CASES = [
    pytest.param(normalize, raw, code, id=f"{normalize.__name__}-{raw}")
    for normalize, table in CHOICES
    for code, names in table.items()
    for raw in (code, *names)
]


@pytest.mark.parametrize("normalize, raw, code", CHOICE_CASES)
def test_choice_readme_tables(normalize, raw, code):
    assert normalize(raw) == Normalized(code, None)
    assert normalize(f"  {raw.upper()} ") == Normalized(code, None)


@pytest.mark.parametrize(
    "normalize, raw, code",
    [
        (normalize_stage, "closed-won", "deal"),
        (normalize_stage, "Closed_Won", "deal"),
        (normalize_stage, "sample.sent", "sample"),
        (normalize_stage, "ORDER  PLACED", "deal"),
        (normalize_grade, "a", "A"),
        (normalize_grade, "a级 客户", "A"),
        (normalize_grade, "HOT", "A"),
        (normalize_channel, "trade_fair", "trade_fair"),
        (normalize_channel, "trade-fair", "trade_fair"),
        (normalize_channel, "made_in_china", "made_in_china"),
        (normalize_channel, "MADE IN CHINA.COM", "made_in_china"),
        (normalize_channel, "alibaba.com", "alibaba"),
        (normalize_channel, "Cold-Email", "other"),
        (normalize_channel, "WEB FORM", "website"),
    ],
)
def test_choice_variants(normalize, raw, code):
    assert normalize(raw) == Normalized(code, None)


@pytest.mark.parametrize(
    "normalize, raw, warning",
    [
        (normalize_stage, "跟进中", "unknown_stage"),
        (normalize_stage, "待定", "unknown_stage"),
        (normalize_stage, "lost", "unknown_stage"),
        (normalize_stage, "流失", "unknown_stage"),
        (normalize_stage, "?", "unknown_stage"),
        (normalize_grade, "D", "unknown_grade"),
        (normalize_grade, "待评估", "unknown_grade"),
        (normalize_grade, "?", "unknown_grade"),
        (normalize_grade, "5星", "unknown_grade"),
        (normalize_grade, "AB", "unknown_grade"),
        (normalize_channel, "不记得了", "unknown_channel"),
        (normalize_channel, "?", "unknown_channel"),
        (normalize_channel, "待确认", "unknown_channel"),
    ],
)
def test_choice_unknown(normalize, raw, warning):
    assert normalize(raw) == Normalized(None, warning)


@pytest.mark.parametrize("normalize", [normalize_stage, normalize_grade, normalize_channel])
@pytest.mark.parametrize("raw", [None, "", "  \t"])
def test_choice_empty(normalize, raw):
    assert normalize(raw) == Normalized(None, None)


# --------------------------------------------------------------------------
# Tags
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        (
            "VIP, OEM，进口商;批发商；零售商、展会客户|LED\n电商卖家\r\n大客户",
            ["VIP", "OEM", "进口商", "批发商", "零售商", "展会客户", "LED", "电商卖家", "大客户"],
        ),
        ("样品已寄 | 分销商 | LED灯具采购商", ["样品已寄", "分销商", "LED灯具采购商"]),
        ("工程商、OEM、政府项目、", ["工程商", "OEM", "政府项目"]),
        ("  VIP ,, ,VIP, OEM ,vip", ["VIP", "OEM", "vip"]),
        ("Amazon seller", ["Amazon seller"]),
        (2024, ["2024"]),
        ("", []),
        (" ; ，", []),
        (None, []),
    ],
)
def test_tags(raw, expected):
    assert normalize_tags(raw) == expected


# --------------------------------------------------------------------------
# LinkedIn URL
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("linkedin.com/in/x", Normalized("https://linkedin.com/in/x", None)),
        (
            " www.linkedin.com/in/anna-schmidt ",
            Normalized("https://www.linkedin.com/in/anna-schmidt", None),
        ),
        ("https://www.linkedin.com/in/x", Normalized("https://www.linkedin.com/in/x", None)),
        ("http://www.linkedin.com/in/x", Normalized("http://www.linkedin.com/in/x", None)),
        ("HTTPS://www.linkedin.com/in/x", Normalized("HTTPS://www.linkedin.com/in/x", None)),
        ("//www.linkedin.com/in/x", Normalized("https://www.linkedin.com/in/x", None)),
        ("linkedin.com:443/in/x", Normalized("https://linkedin.com:443/in/x", None)),
        ("javascript:alert(document.cookie)", Normalized(None, "invalid_url")),
        ("  JavaScript:alert(1)", Normalized(None, "invalid_url")),
        ("data:text/html,<script>alert(1)</script>", Normalized(None, "invalid_url")),
        ("ftp://example.com/x", Normalized(None, "invalid_url")),
        ("mailto:x@y.example", Normalized(None, "invalid_url")),
        ("", Normalized(None, None)),
        (None, Normalized(None, None)),
    ],
)
def test_linkedin_url(raw, expected):
    assert normalize_linkedin_url(raw) == expected


# --------------------------------------------------------------------------
# Owner
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("David Zhang", "davidzhang"),
        ("  David\u3000 Zhang\n", "davidzhang"),
        ("张 伟", "张伟"),
        ("KevinLi", "kevinli"),
        ("", ""),
        (None, ""),
    ],
)
def test_owner_key(raw, expected):
    assert owner_key(raw) == expected


@pytest.mark.parametrize(
    "raw, username",
    [
        ("zhangwei", "zhangwei"),
        ("ZhangWei", "zhangwei"),
        ("张伟", "zhangwei"),
        (" 张 伟 ", "zhangwei"),
        ("David Zhang", "zhangwei"),
        ("davidzhang", "zhangwei"),
        ("DAVID", "zhangwei"),
        ("李娜", "lina"),
        ("Nina Li", "lina"),
        ("Kevin", "kevinli"),
        ("kevin li", "kevinli"),
        ("李凯文", "kevinli"),
        ("Jenny Chen", "chenjing"),
        ("陈静", "chenjing"),
    ],
)
def test_match_owner(raw, username):
    assert match_owner(raw, SALESPEOPLE) == Normalized(username, None)


@pytest.mark.parametrize("raw", ["小王", "David Li", "Sheet3", "使用说明", "?"])
def test_match_owner_unknown(raw):
    assert match_owner(raw, SALESPEOPLE) == Normalized(None, "unknown_owner")


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_match_owner_empty(raw):
    assert match_owner(raw, SALESPEOPLE) == Normalized(None, None)


def test_match_owner_accepts_objects_and_text_aliases():
    people = [
        SimpleNamespace(username="wangfang", name_zh="王芳", name_en="", aliases=None),
        SimpleNamespace(username="liuyang", name_zh="", name_en="Leo Liu", aliases="小刘, Leo"),
    ]
    assert match_owner("王芳", people) == Normalized("wangfang", None)
    assert match_owner("leo", people) == Normalized("liuyang", None)
    assert match_owner("小刘", people) == Normalized("liuyang", None)
    assert match_owner("LEO LIU", iter(people)) == Normalized("liuyang", None)
    assert match_owner("", people) == Normalized(None, None)
    assert match_owner("nobody", []) == Normalized(None, "unknown_owner")


# --------------------------------------------------------------------------
# Column names
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("电话(含国家区号)", "电话"),
        ("电话（含国家区号）", "电话"),
        ("邮箱地址 (必填)", "邮箱地址"),
        ("Email [required]", "email"),
        ("  E-mail\nAddress ", "emailaddress"),
        ("Country/Region", "countryregion"),
        ("国家／地区", "国家地区"),
        ("*客户姓名:", "客户姓名"),
        ("Phone #", "phone"),
        ("Next_Follow-up Plan：", "nextfollowupplan"),
        ("No.", "no"),
        ("\ufeffName", "name"),
        ("(备注)", ""),
        ("", ""),
        (None, ""),
        (2024, "2024"),
    ],
)
def test_clean_header(raw, expected):
    assert clean_header(raw) == expected


HEADER_CASES = [
    pytest.param(name, field, id=f"{field}-{name}")
    for field, names in COLUMN_NAMES.items()
    for name in names
]


@pytest.mark.parametrize("header, field", HEADER_CASES)
def test_every_readme_column_name(header, field):
    assert field_for_header(header) == field
    assert field_for_header(f" {header.upper()}（说明） ") == field


@pytest.mark.parametrize(
    "header, field",
    [
        ("E-mail", "email"),
        ("Email Address", "email"),
        ("EMAIL ID", "email"),
        ("电子邮件\n(必填)", "email"),
        ("电话(含国家区号)", "phone"),
        ("Mobile Phone", "phone"),
        ("LinkedIn主页", "linkedin_url"),
        ("Next Follow-up", "next_follow_up"),
        ("next_steps", "next_follow_up"),
        ("Sales Rep", "owner"),
        ("Referred By", "referrer"),
        ("Fax", None),
        ("WhatsApp", None),
        ("City", None),
        ("客户编号", None),
        ("序号", None),
        ("No.", None),
        ("Days Since Contact", None),
        ("联系方式", None),
        ("跟进情况", None),
        ("", None),
        (None, None),
    ],
)
def test_field_for_header(header, field):
    assert field_for_header(header) == field


def test_header_synonyms_table():
    assert set(HEADER_SYNONYMS.values()) == set(COLUMN_NAMES)
    assert HEADER_SYNONYMS["countryregion"] == "country"
    assert HEADER_SYNONYMS["email"] == "email"
    assert HEADER_SYNONYMS["国家地区"] == "country"
    # 183 names in the README table; "email" and "e-mail" clean to the same one.
    assert sum(len(names) for names in COLUMN_NAMES.values()) == 183
    assert len(HEADER_SYNONYMS) == 182
