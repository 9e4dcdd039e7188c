"""Turn messy spreadsheet and form cell values into the CRM's standard values.

The rules are those of the legacy import fixtures README (shared/fixtures/
legacy/README.md, "Import rules"). Every function here is pure: it takes one
cell value (text, number, date or None, as a spreadsheet reader returns it) and
returns the CRM value. Values that cannot be used come back empty together with
one of the README's warning codes, so the importer can report them and still
import the row.

No Django settings are needed: only EmailValidator is used from Django.
"""

from __future__ import annotations

import datetime
import functools
import re
import unicodedata
from collections.abc import Iterable
from typing import NamedTuple

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from contacts.countries import (
    COUNTRY_ALPHA3,
    COUNTRY_EXTRA_NAMES_EN,
    COUNTRY_NAMES,
    COUNTRY_SYNONYMS,
    UNRESOLVED_COUNTRY_NAMES,
)


class Normalized(NamedTuple):
    """A normalised value and the README warning code explaining why it is empty."""

    value: object
    warning: str | None


EMPTY = Normalized(None, None)

# Zero-width characters are invisible in Excel but break matching.
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\ufeff]")
_WHITESPACE = re.compile(r"\s+")


# --------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------


def normalize_text(raw) -> str | None:
    """Trim a text cell at both ends; keep everything inside; empty -> None.

    str.strip() also removes tabs, line breaks, NBSP and the full-width space.
    Number cells become their text, so a phone-like 12.0 reads "12".
    """
    if raw is None:
        return None
    # Most cells are text: they skip _cell_to_text's type tests (a file has a million cells).
    text = (raw if raw.__class__ is str else _cell_to_text(raw)).strip()
    return text or None


def _cell_to_text(raw) -> str:
    """Text of a cell as the user sees it (integral floats without ".0")."""
    if isinstance(raw, bool):
        return str(raw)
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, datetime.datetime):
        if raw.time() == datetime.time(0):
            return raw.date().isoformat()
        return raw.isoformat(sep=" ")
    if isinstance(raw, datetime.date):
        return raw.isoformat()
    return str(raw)


def _lookup_key(text: str) -> str:
    """Key for choice lists: case-insensitive, ignoring spaces, -, _ and ."""
    text = _ZERO_WIDTH.sub("", text).lower()
    text = _WHITESPACE.sub("", text)
    return re.sub(r"[-_.]", "", text)


# --------------------------------------------------------------------------
# Email
# --------------------------------------------------------------------------

_EMAIL_VALIDATOR = EmailValidator()
_EMAIL_SEPARATORS = re.compile(r"[;,；，/\s]+")
_MAILTO = re.compile(r"^mailto:", re.IGNORECASE)


def normalize_emails(raw) -> tuple[str | None, list[str], str | None]:
    """Read a contact's email cell (README "Email", steps 1-5).

    Returns (primary, others, error): the first valid address is the contact's
    key, further valid addresses are kept as other emails; error is
    "missing_email" for an empty cell, "invalid_email" when nothing is valid.
    """
    text = _ZERO_WIDTH.sub("", _cell_to_text(raw)) if raw is not None else ""
    text = text.strip()
    if not text:
        return None, [], "missing_email"
    addresses: list[str] = []
    for piece in _EMAIL_SEPARATORS.split(text):
        address = _MAILTO.sub("", piece).lower()
        if _is_valid_email(address) and address not in addresses:
            addresses.append(address)
    if not addresses:
        return None, [], "invalid_email"
    return addresses[0], addresses[1:], None


def normalize_email(raw) -> str | None:
    """One address typed in a form: trimmed and lower-cased, None if invalid."""
    if raw is None:
        return None
    address = _ZERO_WIDTH.sub("", str(raw)).strip().lower()
    return address if _is_valid_email(address) else None


@functools.cache
def _email_regexes():
    """The validator's patterns, compiled as they are: Django keeps them behind lazy proxies,
    which cost more than the match itself on every call."""
    validator = _EMAIL_VALIDATOR
    return tuple(
        re.compile(lazy.pattern, lazy.flags)
        for lazy in (validator.user_regex, validator.domain_regex, validator.literal_regex)
    )


def _is_valid_email(address: str) -> bool:
    """What Django's EmailValidator accepts (the README's definition): its own steps and
    regular expressions, without raising for every invalid address. A raised ValidationError
    costs more than the check, and it refers to itself, so each one (with the frames of its
    traceback) waits for the cyclic garbage collector, which an import pauses."""
    validator = _EMAIL_VALIDATOR
    if not address or "@" not in address or len(address) > 320:
        return False
    user_regex, domain_regex, literal_regex = _email_regexes()
    user_part, domain_part = address.rsplit("@", 1)
    if not user_regex.match(user_part):
        return False
    if domain_part in validator.domain_allowlist or domain_regex.match(domain_part):
        return True
    if not literal_regex.match(domain_part):
        return False
    try:  # an address literal (user@[192.0.2.1]): rare, left to Django
        validator(address)
    except ValidationError:
        return False
    return True


# --------------------------------------------------------------------------
# Country
# --------------------------------------------------------------------------


def _build_country_lookup() -> dict[str, str]:
    """Map every accepted spelling (as a lookup key) to its alpha-2 code.

    Raises if two countries claim the same spelling, so a bad edit of the
    tables fails at import instead of silently picking one.
    """
    unresolved = {_lookup_key(name) for name in UNRESOLVED_COUNTRY_NAMES}
    lookup: dict[str, str] = {}

    def add(name: str, code: str) -> None:
        key = _lookup_key(name)
        if key in unresolved:
            return
        if lookup.setdefault(key, code) != code:
            raise ValueError(f"country name {name!r} claimed by {lookup[key]} and {code}")

    for code, (english, _chinese) in COUNTRY_NAMES.items():
        add(code, code)
        add(COUNTRY_ALPHA3[code], code)
        add(english, code)
    for table in (COUNTRY_SYNONYMS, COUNTRY_EXTRA_NAMES_EN):
        for code, names in table.items():
            for name in names:
                add(name, code)
    return lookup


COUNTRY_LOOKUP: dict[str, str] = _build_country_lookup()


def normalize_country(raw) -> Normalized:
    """Country cell -> ISO alpha-2 code; ambiguous names and regions are not guessed."""
    text = normalize_text(raw)
    if text is None:
        return EMPTY
    code = COUNTRY_LOOKUP.get(_lookup_key(text))
    if code is None:
        return Normalized(None, "unknown_country")
    return Normalized(code, None)


# --------------------------------------------------------------------------
# Phone
# --------------------------------------------------------------------------

# libphonenumber compiles its metadata's patterns on every use and leaves them to the re
# module's cache of 512, which numbers from a few dozen countries overflow: the patterns were
# compiled again and again (a third of a 50,000-row import's phone time). Its own cache keeps
# every pattern once; the metadata is fixed, so the cache is bounded.
phonenumbers.enable_pattern_cache()

_PHONE_SEPARATORS = re.compile(r"[-./()\[\]]")
_PHONE_SHAPE = re.compile(r"\+?\d+")


def normalize_phone(raw, country: str | None) -> Normalized:
    """Phone cell -> E.164, reading national numbers with the row's country.

    An unreadable number keeps its trimmed text (the user may still call it)
    with the warning "unparsed_phone".
    """
    text = normalize_text(raw)
    if text is None:
        return EMPTY
    e164 = _parse_phone(_compact_phone(text), country)
    if e164 is None:
        return Normalized(text, "unparsed_phone")
    return Normalized(e164, None)


def _compact_phone(text: str) -> str:
    """Strip the layout of a phone number: "0086 (0)755-2345 6789" -> "+8675523456789".

    NFKC turns full-width digits, plus signs and brackets into ASCII.
    """
    text = _WHITESPACE.sub("", unicodedata.normalize("NFKC", text))
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+"):
        text = text.replace("(0)", "")  # trunk 0 written after the country code
    return _PHONE_SEPARATORS.sub("", text)


def _parse_phone(compact: str, country: str | None) -> str | None:
    """E.164 text of a compact number, or None if it is not a valid number."""
    if not _PHONE_SHAPE.fullmatch(compact):
        return None  # letters, "ext.", notes: phonenumbers would guess too much
    if compact.startswith("+"):
        return _valid_e164(compact, None)
    region = (country or "").upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        return None  # a national number means nothing without its country
    # "86 138 0013 8000" with country CN: the country code without "+". Tried
    # first, because libphonenumber would also accept "49 151 0999 5916" as a
    # (wrong) German national number.
    calling_code = str(phonenumbers.country_code_for_region(region))
    if compact.startswith(calling_code):
        with_code = _valid_e164("+" + compact, None)
        if with_code is not None:
            return with_code
    return _valid_e164(compact, region)


def _valid_e164(number: str, region: str | None) -> str | None:
    """Parse with libphonenumber; only numbers it calls valid are accepted."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


# --------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------

# Excel's 1900 date system: serial 1 is 1900-01-01, but Excel counts a
# non-existent 1900-02-29, so from March 1900 on day 0 is 1899-12-30.
_EXCEL_EPOCH = datetime.date(1899, 12, 30)
_EXCEL_SERIAL_MIN = 25569  # 1970-01-01
_EXCEL_SERIAL_MAX = 73050  # 2099-12-31

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}

# An optional time of day after the date ("2025-03-05 14:30", "...T14:30:00Z").
_TIME = r"(?:(?:\s+|T)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*[AaPp][Mm])?(?:Z|[+-]\d{2}:?\d{2})?)?"
_ORDINAL = r"(?:st|nd|rd|th)?"

# Unambiguous text formats of the README, each giving year, month and day.
_DATE_FORMATS = [
    # 2025-03-05, 2025/3/5, 2025.3.5
    re.compile(r"(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})" + _TIME),
    # 2025年3月5日
    re.compile(r"(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]" + _TIME),
    # 20250305
    re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})" + _TIME),
    # 05.03.2025 (dots with the year last: day first)
    re.compile(r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})" + _TIME),
    # March 5, 2025 / Mar 5 2025
    re.compile(
        r"(?P<mon>[A-Za-z]{3,9})\.?\s+(?P<d>\d{1,2})" + _ORDINAL + r",?\s*(?P<y>\d{4})" + _TIME
    ),
    # 5 Mar 2025 / 5-Mar-2025 / 5 March, 2025
    re.compile(
        r"(?P<d>\d{1,2})"
        + _ORDINAL
        + r"[\s-]+(?P<mon>[A-Za-z]{3,9})\.?,?[\s-]+(?P<y>\d{4})"
        + _TIME
    ),
]
# A/B/YYYY or A-B-YYYY: day and month order depends on the values.
_DAY_MONTH_OR_MONTH_DAY = re.compile(
    r"(?P<a>\d{1,2})(?P<sep>[/-])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4})" + _TIME
)
# An Excel serial number typed as text ("45721", "45721.5").
_SERIAL_TEXT = re.compile(r"\d{5}(?:\.\d+)?")

INVALID_DATE = Normalized(None, "invalid_date")
AMBIGUOUS_DATE = Normalized(None, "ambiguous_date")


def normalize_date(raw) -> Normalized:
    """Date cell -> datetime.date; any time of day is dropped."""
    if isinstance(raw, datetime.datetime):
        return Normalized(raw.date(), None)
    if isinstance(raw, datetime.date):
        return Normalized(raw, None)
    if isinstance(raw, float) and not raw.is_integer():
        return _date_from_serial(raw)  # date-time serial: the fraction is the time
    text = normalize_text(raw)  # number cells become their digits
    if text is None:
        return EMPTY
    return _date_from_text(text)


def _date_from_serial(serial: float) -> Normalized:
    """Excel serial number (1900 date system) within 1970-01-01..2099-12-31."""
    days = int(serial)
    if not _EXCEL_SERIAL_MIN <= days <= _EXCEL_SERIAL_MAX:
        return INVALID_DATE
    return Normalized(_EXCEL_EPOCH + datetime.timedelta(days=days), None)


def _date_from_text(text: str) -> Normalized:
    """Try the README's text formats in turn; anything else is invalid."""
    if _SERIAL_TEXT.fullmatch(text):
        return _date_from_serial(float(text))
    for pattern in _DATE_FORMATS:
        match = pattern.fullmatch(text)
        if match:
            return _date_from_match(match)
    match = _DAY_MONTH_OR_MONTH_DAY.fullmatch(text)
    if match:
        return _date_from_day_month_or_month_day(match)
    return INVALID_DATE


def _date_from_match(match: re.Match) -> Normalized:
    """Build the date of one of _DATE_FORMATS (month given as number or name)."""
    parts = match.groupdict()
    if parts.get("mon") is not None:
        month = _MONTHS.get(parts["mon"].lower())
        if month is None:
            return INVALID_DATE
    else:
        month = int(parts["m"])
    return _make_date(int(parts["y"]), month, int(parts["d"]))


def _date_from_day_month_or_month_day(match: re.Match) -> Normalized:
    """A/B/YYYY: A > 12 means day first, B > 12 month first, A = B either way.

    Otherwise (5/3/2025) it could be 5 March or May 3: not guessed.
    """
    a, b, year = int(match["a"]), int(match["b"]), int(match["y"])
    if a > 12:
        return _make_date(year, b, a)
    if b > 12 or a == b:
        return _make_date(year, a, b)
    return AMBIGUOUS_DATE


def _make_date(year: int, month: int, day: int) -> Normalized:
    """The date, or invalid_date for impossible ones such as 2025-02-30."""
    try:
        return Normalized(datetime.date(year, month, day), None)
    except ValueError:
        return INVALID_DATE


def normalize_follow_up_plan(raw) -> str | None:
    """Next follow-up plan is free text; a real date cell becomes YYYY-MM-DD."""
    if isinstance(raw, datetime.datetime):
        raw = raw.date()
    if isinstance(raw, datetime.date):
        return raw.isoformat()
    return normalize_text(raw)


# --------------------------------------------------------------------------
# Stage, grade, channel
# --------------------------------------------------------------------------

STAGE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "prospect": ("潜在", "潜在客户", "Prospect", "Lead", "Potential"),
    "inquiry": ("询价", "询盘", "已报价", "Inquiry", "Enquiry", "Quoted", "RFQ"),
    "sample": ("样品", "寄样", "已寄样", "Sample", "Sample sent", "Sampling"),
    "deal": ("成交", "已成交", "已下单", "Deal", "Won", "Closed won", "Order placed"),
}

GRADE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "A": ("A", "A类", "A级", "A级客户", "High", "高", "Hot"),
    "B": ("B", "B类", "B级", "B级客户", "Medium", "中", "Warm"),
    "C": ("C", "C类", "C级", "C级客户", "Low", "低", "Cold"),
}

CHANNEL_SYNONYMS: dict[str, tuple[str, ...]] = {
    "trade_fair": (
        "展会",
        "广交会",
        "Trade Fair",
        "Canton Fair",
        "trade show",
        "Exhibition",
        "香港展",
    ),
    "alibaba": ("阿里巴巴", "阿里", "阿里国际站", "Alibaba", "Alibaba.com"),
    "made_in_china": ("中国制造网", "Made-in-China", "MIC", "made in china", "Made-in-China.com"),
    "website": (
        "独立站",
        "官网",
        "网站询盘",
        "Website form",
        "Website",
        "web form",
        "Contact form",
    ),
    "linkedin": ("领英", "LinkedIn", "linkedin"),
    "referral": ("老客户推荐", "推荐", "客户介绍", "Referral", "referred", "Word of mouth"),
    "other": (
        "其他",
        "其它",
        "开发信",
        "海关数据",
        "谷歌",
        "Other",
        "Google",
        "Facebook",
        "cold email",
    ),
}


def _build_choice_lookup(synonyms: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Lookup key -> code for a choice list; the code itself is accepted too."""
    lookup: dict[str, str] = {}
    for code, names in synonyms.items():
        for name in (code, *names):
            key = _lookup_key(name)
            if lookup.setdefault(key, code) != code:
                raise ValueError(f"{name!r} claimed by {lookup[key]} and {code}")
    return lookup


_STAGE_LOOKUP = _build_choice_lookup(STAGE_SYNONYMS)
_GRADE_LOOKUP = _build_choice_lookup(GRADE_SYNONYMS)
_CHANNEL_LOOKUP = _build_choice_lookup(CHANNEL_SYNONYMS)


def _normalize_choice(raw, lookup: dict[str, str], warning: str) -> Normalized:
    """Map a cell to its code; unknown values are empty with the warning."""
    text = normalize_text(raw)
    if text is None:
        return EMPTY
    code = lookup.get(_lookup_key(text))
    if code is None:
        return Normalized(None, warning)
    return Normalized(code, None)


def normalize_stage(raw) -> Normalized:
    """Stage cell -> prospect / inquiry / sample / deal."""
    return _normalize_choice(raw, _STAGE_LOOKUP, "unknown_stage")


def normalize_grade(raw) -> Normalized:
    """Interest grade cell -> A / B / C."""
    return _normalize_choice(raw, _GRADE_LOOKUP, "unknown_grade")


def normalize_channel(raw) -> Normalized:
    """Acquisition channel cell -> one of the CHANNEL_SYNONYMS codes."""
    return _normalize_choice(raw, _CHANNEL_LOOKUP, "unknown_channel")


# --------------------------------------------------------------------------
# Tags, LinkedIn URL
# --------------------------------------------------------------------------

_TAG_SEPARATORS = re.compile(r"[,，;；、|\r\n]")


def normalize_tags(raw) -> list[str]:
    """Tags cell -> list of distinct tags in their original order."""
    text = normalize_text(raw)
    if text is None:
        return []
    tags: list[str] = []
    for piece in _TAG_SEPARATORS.split(text):
        tag = piece.strip()
        if tag and tag not in tags:
            tags.append(tag)
    return tags


# "scheme:" at the start; a colon followed by a digit is a port, not a scheme
# ("linkedin.com:443/in/x").
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):(?!\d)")


def normalize_linkedin_url(raw) -> Normalized:
    """Add https:// when missing; refuse other schemes such as javascript:."""
    text = normalize_text(raw)
    if text is None:
        return EMPTY
    match = _URL_SCHEME.match(text)
    if match is None:
        prefix = "https:" if text.startswith("//") else "https://"
        return Normalized(prefix + text, None)
    if match[1].lower() not in ("http", "https"):
        return Normalized(None, "invalid_url")
    return Normalized(text, None)


# --------------------------------------------------------------------------
# Owner
# --------------------------------------------------------------------------


def owner_key(text) -> str:
    """Key for matching owner names: lower-case, no whitespace at all."""
    text = _ZERO_WIDTH.sub("", _cell_to_text(text)) if text is not None else ""
    return _WHITESPACE.sub("", text).lower()


def match_owner(raw, people: Iterable) -> Normalized:
    """Find the CRM user a cell (or sheet name) refers to.

    people: objects or dicts with username, name_zh, name_en and aliases
    (a list, or one text). The first user with a matching name wins.
    """
    text = normalize_text(raw)
    if text is None:
        return EMPTY
    key = owner_key(text)
    for person in people:
        if key in _owner_keys(person):
            return Normalized(_field(person, "username"), None)
    return Normalized(None, "unknown_owner")


def _owner_keys(person) -> set[str]:
    """All non-empty matching keys of one user."""
    aliases = _field(person, "aliases") or []
    if isinstance(aliases, str):
        aliases = normalize_tags(aliases)
    names = [
        _field(person, "username"),
        _field(person, "name_zh"),
        _field(person, "name_en"),
        *aliases,
    ]
    return {owner_key(name) for name in names if name} - {""}


def _field(person, name: str):
    """Read a field from a dict or an object alike."""
    if isinstance(person, dict):
        return person.get(name)
    return getattr(person, name, None)


# --------------------------------------------------------------------------
# Column names
# --------------------------------------------------------------------------

# CRM field -> accepted column names: template (中文), template (English),
# other accepted names, as in the README's "Column names" table.
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "name": (
        "客户姓名",
        "Customer Name",
        "姓名",
        "客户名字",
        "联系人",
        "联系人姓名",
        "客户联系人",
        "name",
        "fullname",
        "contactname",
        "contactperson",
        "contact",
    ),
    "company": (
        "公司名称",
        "Company Name",
        "公司",
        "公司名",
        "客户公司",
        "单位名称",
        "company",
        "organization",
        "organisation",
        "firm",
        "accountname",
    ),
    "country": (
        "国家/地区",
        "Country/Region",
        "国家",
        "地区",
        "国家或地区",
        "所在国家",
        "country",
        "region",
        "nation",
    ),
    "email": (
        "邮箱地址",
        "Email Address",
        "邮箱",
        "电子邮件",
        "电子邮箱",
        "邮件",
        "邮件地址",
        "email",
        "e-mail",
        "mail",
        "mail address",
        "email id",
    ),
    "phone": (
        "电话",
        "Phone",
        "电话号码",
        "联系电话",
        "手机",
        "手机号",
        "手机号码",
        "phone number",
        "tel",
        "telephone",
        "mobile",
        "mobile phone",
        "cell",
        "cell phone",
    ),
    "job_title": ("职位", "Job Title", "职务", "头衔", "title", "position", "role", "designation"),
    "linkedin_url": (
        "LinkedIn主页",
        "LinkedIn URL",
        "LinkedIn",
        "领英",
        "领英主页",
        "LinkedIn链接",
        "linkedin profile",
        "linkedin page",
    ),
    "channel": (
        "获取渠道",
        "Acquisition Channel",
        "渠道",
        "客户来源",
        "来源",
        "来源渠道",
        "获客渠道",
        "source",
        "channel",
        "lead source",
    ),
    "first_contact_date": (
        "初次联系日期",
        "First Contact Date",
        "首次联系日期",
        "初次联系时间",
        "首次联系时间",
        "first contact",
        "first contacted",
        "date first contacted",
    ),
    "first_product": (
        "首次询盘产品",
        "First Inquired Product",
        "询盘产品",
        "意向产品",
        "产品",
        "inquired product",
        "product",
        "product interest",
        "first product",
    ),
    "stage": (
        "客户阶段",
        "Stage",
        "阶段",
        "客户状态",
        "状态",
        "跟进阶段",
        "status",
        "sales stage",
        "pipeline stage",
    ),
    "grade": (
        "兴趣等级",
        "Interest Grade",
        "等级",
        "客户等级",
        "意向等级",
        "客户级别",
        "grade",
        "level",
        "rating",
    ),
    "purchase_cycle": (
        "预计采购周期",
        "Expected Purchase Cycle",
        "采购周期",
        "purchase cycle",
        "buying cycle",
        "purchase timeline",
    ),
    "last_contact_date": (
        "最近联系时间",
        "Last Contact Date",
        "最近联系日期",
        "最后联系时间",
        "最后联系日期",
        "上次联系时间",
        "last contact",
        "last contacted",
        "last contacted date",
    ),
    "summary": (
        "关键沟通摘要",
        "Key Communication Summary",
        "沟通摘要",
        "沟通记录",
        "跟进记录",
        "沟通内容",
        "summary",
        "communication summary",
        "conversation summary",
        "communication notes",
    ),
    "next_follow_up": (
        "下次跟进计划",
        "Next Follow-up Plan",
        "下次跟进",
        "跟进计划",
        "下次跟进时间",
        "下次跟进日期",
        "next follow-up",
        "next follow-up date",
        "next step",
        "next steps",
        "next action",
        "follow-up plan",
    ),
    "tags": ("标签", "Tags", "tag", "labels", "label"),
    "owner": (
        "负责业务员",
        "Owner",
        "业务员",
        "负责人",
        "跟进人",
        "所属业务员",
        "salesperson",
        "sales rep",
        "account owner",
        "assigned to",
    ),
    "referrer": ("推荐人", "Referrer", "介绍人", "referred by", "introduced by"),
    "notes": ("备注", "Notes", "note", "remarks", "remark", "comments", "comment"),
}

# A hint in brackets at the end of a column name: 电话(含国家区号), Email（必填）.
_HEADER_HINT = re.compile(r"[(（\[【][^()（）\[\]【】]*[)）\]】]$")
_HEADER_PUNCTUATION = re.compile(r"[-_/／*:：.#]")


def clean_header(text) -> str:
    """Column name as compared: "E-mail (required)" -> "email" (README "Finding the header")."""
    text = normalize_text(text)
    if text is None:
        return ""
    text = _ZERO_WIDTH.sub("", text).strip()
    text = _HEADER_HINT.sub("", text)
    text = _WHITESPACE.sub("", text.lower())
    return _HEADER_PUNCTUATION.sub("", text)


def _build_header_synonyms() -> dict[str, str]:
    """Cleaned column name -> CRM field; a name claimed by two fields is a bug."""
    synonyms: dict[str, str] = {}
    for field, names in COLUMN_NAMES.items():
        for name in names:
            key = clean_header(name)
            if synonyms.setdefault(key, field) != field:
                raise ValueError(f"column name {name!r} claimed by {synonyms[key]} and {field}")
    return synonyms


HEADER_SYNONYMS: dict[str, str] = _build_header_synonyms()


def field_for_header(text) -> str | None:
    """The CRM field a column name maps to, or None for columns to ignore."""
    key = clean_header(text)
    return HEADER_SYNONYMS.get(key) if key else None
