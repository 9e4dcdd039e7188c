"""One spreadsheet row -> the contact values it gives, its warnings, or why it is rejected.

Values are kept in the report's form (dates as YYYY-MM-DD, the owner as a username, tags and
other e-mails as lists, None for empty) so duplicates and conflicts compare what users read.
Only the e-mail can reject a row; every other bad value is left empty with a warning.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from functools import cache

from contacts import normalizers as n

# The contact's fields in the README's column order; other_emails last.
FIELDS = (
    "name",
    "company",
    "country",
    "email",
    "phone",
    "job_title",
    "linkedin_url",
    "channel",
    "first_contact_date",
    "first_product",
    "stage",
    "grade",
    "purchase_cycle",
    "last_contact_date",
    "summary",
    "next_follow_up",
    "tags",
    "owner",
    "referrer",
    "notes",
    "other_emails",
)
LIST_FIELDS = ("tags", "other_emails")
TEXT_FIELDS = (
    "name",
    "company",
    "job_title",
    "first_product",
    "purchase_cycle",
    "summary",
    "referrer",
    "notes",
)
CHOICE_FIELDS = {
    "country": n.normalize_country,
    "stage": n.normalize_stage,
    "grade": n.normalize_grade,
    "channel": n.normalize_channel,
    "linkedin_url": n.normalize_linkedin_url,
}
DATE_FIELDS = ("first_contact_date", "last_contact_date")
TOO_LONG = "too_long"  # not a README code: a value longer than its database column


@cache
def max_lengths() -> dict:
    """Column widths of the fields stored in character columns (none for the long texts)."""
    from contacts.models import Company, Contact, Tag

    model_fields = {
        "name": "name",
        "country": "country",
        "email": "email",
        "phone": "phone",
        "job_title": "job_title",
        "linkedin_url": "linkedin_url",
        "first_product": "first_product",
        "purchase_cycle": "purchase_cycle",
        "referrer": "referrer",
    }
    lengths = {key: Contact._meta.get_field(name).max_length for key, name in model_fields.items()}
    lengths["company"] = Company._meta.get_field("name").max_length
    lengths["tags"] = Tag._meta.get_field("name").max_length
    return lengths


@dataclass(slots=True)
class RowOutcome:
    sheet: str | None
    row: int
    email: str | None = None
    values: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    rejection: dict | None = None


def read_contact_row(
    sheet, row, cells: dict, *, owners: OwnerLookup, sheet_owner=None
) -> RowOutcome:
    """Normalise the mapped cells of one row (README "Rows", "Email" and "Fields")."""
    outcome = RowOutcome(sheet, row)
    raw_email = cells.get("email")
    email, others, error = n.normalize_emails(raw_email)
    if error is None and len(email) > max_lengths()["email"]:
        error = "invalid_email"
    if error is not None:
        outcome.rejection = {"reason": error, "value": report_value(raw_email)}
        return outcome
    outcome.email = email
    values = outcome.values
    values["email"] = email
    values["other_emails"] = [other for other in others if len(other) <= max_lengths()["email"]]

    def warn(name, code):
        outcome.warnings.append(
            {"field": name, "code": code, "value": report_value(cells.get(name))}
        )

    for name in TEXT_FIELDS:
        values[name] = n.normalize_text(cells.get(name))
    for name, normalize in owners.choices.items():
        values[name], code = normalize(cells.get(name))
        if code:
            warn(name, code)
    values["phone"], code = n.normalize_phone(cells.get("phone"), values["country"])
    if code:
        warn("phone", code)
    for name in DATE_FIELDS:
        values[name], code = owners.date(cells.get(name))
        if code:
            warn(name, code)
    values["next_follow_up"] = n.normalize_follow_up_plan(cells.get("next_follow_up"))
    tags, too_long_dropped = owners.tags(cells.get("tags"))
    values["tags"] = list(tags)
    values["owner"] = _owner(cells.get("owner"), owners, sheet_owner, warn)

    for name, limit in _text_limits():
        if name == "tags":
            if too_long_dropped:
                warn("tags", TOO_LONG)
        elif (value := values[name]) is not None and len(value) > limit:
            warn(name, TOO_LONG)
            values[name] = None
    return outcome


@cache
def _text_limits() -> tuple:
    """(field, column width) in max_lengths' order (the order of the too-long warnings); the
    e-mail is checked where it is read."""
    return tuple((name, limit) for name, limit in max_lengths().items() if name != "email")


def _day(raw) -> tuple:
    """A date cell as (YYYY-MM-DD or None, warning code or None)."""
    date, code = n.normalize_date(raw)
    return (date.isoformat() if isinstance(date, datetime.date) else None), code


def _tags(raw) -> tuple:
    """A tags cell as (distinct tags that fit their column, whether a longer one was dropped).
    Tags are matched without regard to letter case, so "VIP" and "vip" are one tag."""
    tags = _distinct_tags(n.normalize_tags(raw))
    limit = max_lengths()["tags"]
    fitting = tuple(tag for tag in tags if len(tag) <= limit)
    return fitting, len(fitting) < len(tags)


class OwnerLookup:
    """The row reader of one import, with a memory: a file names the same few people, countries,
    stages, dates and tag lists thousands of times, so each distinct cell is normalised once.
    (Phones, e-mails and LinkedIn addresses are nearly all distinct: not remembered.)"""

    def __init__(self, people):
        self.people = list(people)
        self.known: dict = {}
        self.choices = {
            name: remembered(normalize) if name != "linkedin_url" else normalize
            for name, normalize in CHOICE_FIELDS.items()
        }
        self.date = remembered(_day)
        self.tags = remembered(_tags)

    def match(self, raw) -> n.Normalized:
        text = n.normalize_text(raw)
        if text not in self.known:
            self.known[text] = n.match_owner(text, self.people)
        return self.known[text]

    def read(self, sheet, row, cells: dict, *, sheet_owner=None) -> RowOutcome:
        return read_contact_row(sheet, row, cells, owners=self, sheet_owner=sheet_owner)


REMEMBERED_VALUES = 20_000  # per normaliser and import: bounded, whatever the file holds


def remembered(normalize):
    """normalize(raw), computed once per distinct cell value (results must not be mutated).

    Keyed by type as well: True == 1 in Python, but the cells read "TRUE" and "1"."""
    seen: dict = {}

    def lookup(raw):
        key = (raw.__class__, raw)
        try:
            return seen[key]
        except KeyError:
            result = normalize(raw)
            if len(seen) < REMEMBERED_VALUES:
                seen[key] = result
            return result
        except TypeError:  # an unhashable value: never from a reader, but cheap to allow
            return normalize(raw)

    return lookup


def _owner(raw, owners: OwnerLookup, sheet_owner, warn):
    """The owner column, else the sheet's name; an unknown name stays unknown (no fallback)."""
    if n.normalize_text(raw) is None:
        return sheet_owner
    username, code = owners.match(raw)
    if code:
        warn("owner", code)
    return username


def _distinct_tags(tags: list) -> list:
    seen, distinct = set(), []
    for tag in tags:
        if tag.lower() not in seen:
            seen.add(tag.lower())
            distinct.append(tag)
    return distinct


def report_value(raw):
    """A cell value as the report shows it: text as read, other values as their text."""
    if raw is None or isinstance(raw, str):
        return raw
    return n.normalize_text(raw) or str(raw)
