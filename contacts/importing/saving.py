"""Load the contacts a file touches and write the plan with bulk statements.

A 5,000-row file is a handful of queries: one per 1,000 contacts inserted or updated, one for
companies and tags to find, one to create the missing ones, one for the tag links and one for the
import's provenance rows. Companies and tags are matched without regard to letter case, as the
contact form does (contacts.services.get_or_create_company / set_tags).
"""

from __future__ import annotations

import datetime
import functools
import zoneinfo

import orjson
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Value
from django.db.models.functions import Lower
from django.utils import timezone

from contacts.models import Company, Contact, ImportedContact, Tag
from crm import bulk
from crm.bulk import BATCH_SIZE, insert_rows

from .plan import ContactDraft, ExistingContact, ImportPlan

LOOKUP_CHUNK = 5000

# Report field -> Contact model field, for the plain text and choice fields.
SIMPLE_FIELDS = {
    "name": "name",
    "country": "country",
    "phone": "phone",
    "job_title": "job_title",
    "linkedin_url": "linkedin_url",
    "channel": "channel",
    "first_product": "first_product",
    "stage": "stage",
    "grade": "grade",
    "purchase_cycle": "purchase_cycle",
    "summary": "summary",
    "next_follow_up": "next_follow_up_plan",
    "referrer": "referrer",
    "notes": "notes",
}


def crm_time_zone():
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def last_contacted_at(iso_date: str | None, zone=None):
    """The import's last contact date is that day at 00:00 in the CRM's time zone."""
    if not iso_date:
        return None
    day = datetime.date.fromisoformat(iso_date)
    return datetime.datetime.combine(day, datetime.time(0), tzinfo=zone or crm_time_zone())


STORED_COLUMNS = (
    "pk",
    "email_key",
    "email",
    "company__name",
    "first_contact_date",
    "last_contacted_at",
    "owner__username",
    "other_emails",
    *SIMPLE_FIELDS.values(),
)


# Columns whose values repeat across contacts (kept once each by _stored_rows).
REPEATED_COLUMNS = (
    "company__name",
    "first_contact_date",
    "last_contacted_at",
    "owner__username",
    "country",
    "channel",
    "stage",
    "grade",
    "purchase_cycle",
    "job_title",
    "first_product",
    "referrer",
)


def contact_values(row: dict, tag_names: list, zone=None) -> dict:
    """A stored contact (a .values() row) in the report's form: what a conflict calls "kept"."""
    zone = zone or crm_time_zone()
    values = {key: row[name] or None for key, name in SIMPLE_FIELDS.items()}
    values["email"] = row["email"]
    values["company"] = row["company__name"]
    first = row["first_contact_date"]
    values["first_contact_date"] = _report_day(first) if first else None
    last = row["last_contacted_at"]
    values["last_contact_date"] = _report_day(last, zone) if last else None
    values["tags"] = list(tag_names)
    values["owner"] = row["owner__username"]
    values["other_emails"] = list(row["other_emails"] or [])
    return values


def _report_day(value, zone=None) -> str:
    """YYYY-MM-DD of a date, or of a time's day in the CRM's zone; PostgreSQL gives the text."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.datetime):
        value = value.astimezone(zone or crm_time_zone()).date()
    return value.isoformat()


def load_existing(emails, *, lock: bool) -> dict[str, ExistingContact]:
    """The CRM's contacts with these e-mails (locked in id order when writing)."""
    emails = sorted(set(emails))
    if not emails:
        return {}
    zone = crm_time_zone()
    existing = {}
    for row, tag_names, origin in _stored_contacts(emails, lock=lock):
        existing[row["email_key"]] = ExistingContact(
            id=row["pk"], values=contact_values(row, tag_names, zone), existing_from=origin
        )
    return existing


def _stored_contacts(emails: list[str], *, lock: bool):
    """(STORED_COLUMNS as a dict, tag names in link order, origin) of the contacts whose
    lower-cased e-mail is one of these, one at a time: each becomes its report form before the
    next is read, so the stored rows are never all held at once (49,000 of them: 60 MB)."""
    if not bulk.postgres_sql():
        yield from _stored_contacts_portable(emails, lock=lock)
        return
    quote = connection.ops.quote_name
    simple = ", ".join(f"c.{quote(name)}" for name in SIMPLE_FIELDS.values())
    # One query: the addresses as one array joined on lower(email) (a hash join for a large
    # file, the contact_email_unique_ci index for a small one), the tags and the import that
    # created the contact alongside. The days come as the report's text, the last contact's
    # in the CRM's time zone (the driver would build two date or time objects per row);
    # other_emails as JSON text.
    sql = (
        "SELECT c.id, lower(c.email), c.email, co.name, "  # noqa: S608
        "to_char(c.first_contact_date, 'YYYY-MM-DD'), "
        "to_char(c.last_contacted_at AT TIME ZONE %s, 'YYYY-MM-DD'), "
        f"u.username, c.other_emails::text, {simple}, "
        "ARRAY(SELECT tag.name FROM contacts_contact_tags link "
        "JOIN contacts_tag tag ON tag.id = link.tag_id "
        "WHERE link.contact_id = c.id ORDER BY link.id), "
        "origin.file_name, origin.sheet, origin.row "
        f"FROM unnest({bulk.LINE_ARRAY}) wanted(email) "
        f"JOIN {Contact._meta.db_table} c ON lower(c.email) = wanted.email "
        f"LEFT JOIN {Company._meta.db_table} co ON co.id = c.company_id "
        f"LEFT JOIN {get_user_model()._meta.db_table} u ON u.id = c.owner_id "
        "LEFT JOIN LATERAL (SELECT job.file_name, provenance.sheet, provenance.row "
        "FROM contacts_importedcontact provenance "
        "JOIN contacts_importjob job ON job.id = provenance.job_id "
        "WHERE provenance.contact_id = c.id AND provenance.created AND NOT job.dry_run "
        "ORDER BY provenance.id LIMIT 1) origin ON true "
        "ORDER BY c.id" + (" FOR UPDATE OF c" if lock else "")
    )
    # The driver makes a new string per cell; the same country, stage, owner, day, tag or file
    # name thousands of times over is kept once.
    shared: dict = {}
    repeated = [STORED_COLUMNS.index(name) for name in REPEATED_COLUMNS]
    width = len(STORED_COLUMNS)
    # Streamed (libpq's single-row mode): the result is never held whole by the driver. Not a
    # server-side cursor: PostgreSQL plans those for the first rows, and with the statistics of
    # a table just filled by COPY it chose a nested loop that ran for minutes.
    with bulk.server_bound_cursor() as cursor:
        for fetched in cursor.stream(sql, [settings.TIME_ZONE, bulk.line_array(emails)]):
            row = list(fetched[:width])
            for index in repeated:
                value = row[index]
                if value is not None:
                    row[index] = shared.setdefault(value, value)
            row = dict(zip(STORED_COLUMNS, row, strict=True))
            if row["other_emails"] is not None:
                row["other_emails"] = orjson.loads(row["other_emails"])
            tag_names, file_name, sheet, number = fetched[width:]
            tag_names = [shared.setdefault(name, name) for name in tag_names]
            origin = None
            if file_name is not None:
                origin = {"file": shared.setdefault(file_name, file_name)}
                origin.update(sheet=sheet, row=number)
            yield row, tag_names, origin


def _stored_contacts_portable(emails: list[str], *, lock: bool):
    rows = _stored_rows_portable(emails, lock=lock)
    ids = [row["pk"] for row in rows]
    tags: dict[int, list] = {pk: [] for pk in ids}
    for contact_id, name in _tag_names(ids):
        tags[contact_id].append(name)
    origins = {}
    for contact_id, file_name, sheet, row in _origins(ids):
        origins.setdefault(contact_id, {"file": file_name, "sheet": sheet, "row": row})
    for row in rows:
        yield row, tags[row["pk"]], origins.get(row["pk"])


def _stored_rows_portable(emails: list[str], *, lock: bool) -> list[dict]:
    rows = []
    for start in range(0, len(emails), LOOKUP_CHUNK):
        queryset = (
            Contact.objects.annotate(email_key=Lower("email"))
            .filter(email_key__in=emails[start : start + LOOKUP_CHUNK])
            .order_by("pk")
        )
        if lock:
            queryset = queryset.select_for_update(of=("self",))
        rows.extend(queryset.values(*STORED_COLUMNS))
    return rows


def _tag_names(ids: list[int]) -> list[tuple]:
    """(contact id, tag name) of these contacts, in link order."""
    links = Contact.tags.through.objects.filter(contact_id__in=ids).order_by("pk")
    return list(links.values_list("contact_id", "tag__name"))


def _origins(ids: list[int]) -> list[tuple]:
    """(contact id, file, sheet, row) of the imports that created these contacts, oldest first
    (not the jobs' reports)."""
    provenance = ImportedContact.objects.filter(
        contact_id__in=ids, created=True, job__dry_run=False
    ).order_by("pk")
    return list(provenance.values_list("contact_id", "job__file_name", "sheet", "row"))


def save_plan(plan: ImportPlan, *, job, actor, default_owner, people) -> list[int]:
    """Write the new contacts and the fields filled on existing ones; return the new ids."""
    user_ids = {person.username: person.pk for person in people}
    new, changed = plan.new_drafts, [d for d in plan.matched_drafts if d.changed]
    companies = _company_ids(
        [d.values for d in new] + [d.values for d in changed if "company" in d.filled_fields]
    )
    tag_ids = _tag_ids(
        [tag for d in new for tag in d.values["tags"]]
        + [tag for d in changed for tag in d.tags_added]
    )

    created_ids = _insert_contacts(
        new, companies, user_ids, actor=actor, default_owner=default_owner
    )
    _update_existing(changed, companies, user_ids)

    _insert_tag_links(new, created_ids, changed, tag_ids)

    drafts = [*new, *changed]
    insert_rows(
        ImportedContact,
        {
            "job": [job.pk] * len(drafts),
            "contact": created_ids + [d.existing.id for d in changed],
            "created": [True] * len(new) + [False] * len(changed),
            "filled_fields": [d.filled_fields for d in drafts],
            "tags_added": [d.tags_added for d in drafts],
            "other_emails_added": [d.other_emails_added for d in drafts],
            "sheet": [d.first_row["sheet"] for d in drafts],
            "row": [d.first_row["row"] for d in drafts],
        },
        held_references=["contact"],
    )
    return created_ids


def _insert_tag_links(new, created_ids, changed, tag_ids) -> None:
    """A new contact has no links yet: its own go straight in (two spellings of one tag give
    one link). Tags added to an existing contact skip any link the database's lower() finds
    there already. (A function of its own: the link lists are freed before the next insert.)"""
    new_links = {"contact": [], "tag": []}
    for contact_id, draft in zip(created_ids, new, strict=True):
        for tag_id in dict.fromkeys(tag_ids[tag.lower()] for tag in draft.values["tags"]):
            new_links["contact"].append(contact_id)
            new_links["tag"].append(tag_id)
    added_links = {
        "contact": [d.existing.id for d in changed for _tag in d.tags_added],
        "tag": [tag_ids[tag.lower()] for d in changed for tag in d.tags_added],
    }
    for links, on_conflict_do_nothing in ((new_links, False), (added_links, True)):
        insert_rows(
            Contact.tags.through,
            links,
            on_conflict_do_nothing=on_conflict_do_nothing,
            held_references=["contact"],  # created here, or locked by load_existing
        )


def _insert_contacts(drafts, companies, user_ids, *, actor, default_owner) -> list[int]:
    """The new contacts in file order; their ids in that order."""
    owner_default = default_owner.pk if default_owner is not None else None
    zone = crm_time_zone()
    # A file holds a few thousand distinct days: each is converted once (and stored once).
    day = functools.lru_cache(maxsize=None)(_date)
    midnight = functools.lru_cache(maxsize=None)(lambda iso: last_contacted_at(iso, zone))
    columns = {
        "email": [d.email for d in drafts],
        "other_emails": [d.values["other_emails"] or [] for d in drafts],
        "company": [
            companies.get(d.values["company"]) if d.values["company"] else None for d in drafts
        ],
        "first_contact_date": [day(d.values["first_contact_date"]) for d in drafts],
        "last_contacted_at": [midnight(d.values["last_contact_date"]) for d in drafts],
        "owner": [user_ids.get(d.values["owner"]) or owner_default for d in drafts],
        "created_by": [actor.pk if getattr(actor, "pk", None) else None] * len(drafts),
    }
    for key, name in SIMPLE_FIELDS.items():
        columns[name] = [d.values[key] or "" for d in drafts]
    return insert_rows(Contact, columns, returning_ids=True)


def _update_existing(drafts: list[ContactDraft], companies, user_ids) -> None:
    """Only the fields the import filled are set; other values stay as they are."""
    if not drafts:
        return
    by_id = Contact.objects.in_bulk([draft.existing.id for draft in drafts])
    now = timezone.now()
    touched = {"updated_at"}
    for draft in drafts:
        contact = by_id[draft.existing.id]
        values = draft.values
        for key in draft.filled_fields:
            if key in SIMPLE_FIELDS:
                setattr(contact, SIMPLE_FIELDS[key], values[key])
                touched.add(SIMPLE_FIELDS[key])
            elif key == "company":
                contact.company_id = companies[values["company"]]
                touched.add("company")
            elif key == "first_contact_date":
                contact.first_contact_date = _date(values[key])
                touched.add(key)
            elif key == "last_contact_date":
                contact.last_contacted_at = last_contacted_at(values[key])
                touched.add("last_contacted_at")
            elif key == "owner":
                contact.owner_id = user_ids[values["owner"]]
                touched.add("owner")
            elif key == "other_emails":
                contact.other_emails = values["other_emails"]
                touched.add("other_emails")
        contact.updated_at = now
    Contact.objects.bulk_update(list(by_id.values()), sorted(touched), batch_size=BATCH_SIZE)


def _date(iso_date):
    return datetime.date.fromisoformat(iso_date) if iso_date else None


def _company_ids(values_list: list[dict]) -> dict[str, int]:
    """Company id by the name as written in the file; a new company takes the first
    contact's country, as contacts.services.get_or_create_company does."""
    wanted: dict[str, str] = {}
    for values in values_list:
        if values["company"]:
            wanted.setdefault(values["company"], values["country"] or "")
    if not wanted:
        return {}
    found = _match_lower(Company._meta.db_table, list(wanted))
    missing: dict[str, tuple] = {}
    for name, country in wanted.items():
        if name not in found:
            missing.setdefault(name.lower(), (name, country))
    if missing:
        insert_rows(
            Company,
            {
                "name": [name for name, _country in missing.values()],
                "country": [country for _name, country in missing.values()],
            },
            on_conflict_do_nothing=True,
        )
        found.update(_match_lower(Company._meta.db_table, [n for n in wanted if n not in found]))
    return found


def _tag_ids(names: list[str]) -> dict[str, int]:
    """Tag id by lower-case name; an existing tag in another letter case is reused."""
    wanted: dict[str, str] = {}
    for name in names:
        wanted.setdefault(name.lower(), name)
    if not wanted:
        return {}
    found = _match_lower(Tag._meta.db_table, list(wanted.values()))
    missing = [name for name in wanted.values() if name not in found]
    if missing:
        insert_rows(Tag, {"name": missing}, on_conflict_do_nothing=True)
        found.update(
            _match_lower(Tag._meta.db_table, [n for n in wanted.values() if n not in found])
        )
    return {name.lower(): found[name] for name in wanted.values()}


def _match_lower(table: str, names: list[str]) -> dict[str, int]:
    """For each name, the row whose lower(name) equals lower(name) (the first by name).

    Done in the database, so its lower() (which the unique index uses) decides, not Python's.
    """
    if not names:
        return {}
    if not bulk.postgres_sql():
        return _match_lower_portable(table, names)
    quoted = connection.ops.quote_name(table)
    sql = (
        f"SELECT DISTINCT ON (wanted.name) wanted.name, t.id "  # noqa: S608 - table is ours
        f"FROM unnest(%s::text[]) AS wanted(name) "
        f"JOIN {quoted} AS t ON lower(t.name) = lower(wanted.name) "
        f"ORDER BY wanted.name, t.name, t.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [names])
        return dict(cursor.fetchall())


def _match_lower_portable(table: str, names: list[str]) -> dict[str, int]:
    """_match_lower with one query per name, the database's lower() on both sides."""
    model = {Company._meta.db_table: Company, Tag._meta.db_table: Tag}[table]
    found = {}
    for name in names:
        match = (
            model._default_manager.annotate(key=Lower("name"))
            .filter(key=Lower(Value(name)))
            .order_by("name", "pk")
            .values_list("pk", flat=True)
            .first()
        )
        if match is not None:
            found[name] = match
    return found
