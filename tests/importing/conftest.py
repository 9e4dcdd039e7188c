"""Shared helpers for the import tests: the legacy fixtures, the salespeople, stored contacts."""

import datetime
import hashlib
import io
import json
import zoneinfo

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from tests.fixture_paths import LEGACY_FIXTURES

FIXTURES = LEGACY_FIXTURES
EXPECTED_FILES = sorted(FIXTURES.glob("*.expected.json"))
CONTACT_FIELDS = (
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


def load_expected(name):
    return json.loads((FIXTURES / f"{name}.expected.json").read_text("utf-8"))


def load_manifest():
    return json.loads((FIXTURES / "manifest.json").read_text("utf-8"))


@pytest.fixture
def salespeople(db):
    """The CRM users that owner values refer to, created as an admin would."""
    call_command("load_users", str(FIXTURES / "salespeople.json"), stdout=io.StringIO())
    from django.contrib.auth import get_user_model

    return {user.username: user for user in get_user_model().objects.all()}


def stored_contact(email):
    """A contact as the fixtures describe it: None for empty, dates as YYYY-MM-DD, tags in the
    order they were added, the owner's username."""
    from contacts.models import Contact

    contact = Contact.objects.select_related("company", "owner").get(email=email)
    tags = list(
        Contact.tags.through.objects.filter(contact=contact)
        .order_by("pk")
        .values_list("tag__name", flat=True)
    )
    last = contact.last_contacted_at
    if last is not None:
        local = timezone.localtime(last, zoneinfo.ZoneInfo(settings.TIME_ZONE))
        assert local.time() == datetime.time(0), "last contact is stored as 00:00 local time"
        last = local.date().isoformat()
    return {
        "name": contact.name or None,
        "company": contact.company.name if contact.company else None,
        "country": contact.country or None,
        "email": contact.email,
        "phone": contact.phone or None,
        "job_title": contact.job_title or None,
        "linkedin_url": contact.linkedin_url or None,
        "channel": contact.channel or None,
        "first_contact_date": (
            contact.first_contact_date.isoformat() if contact.first_contact_date else None
        ),
        "first_product": contact.first_product or None,
        "stage": contact.stage or None,
        "grade": contact.grade or None,
        "purchase_cycle": contact.purchase_cycle or None,
        "last_contact_date": last,
        "summary": contact.summary or None,
        "next_follow_up": contact.next_follow_up_plan or None,
        "tags": tags,
        "owner": contact.owner.username if contact.owner else None,
        "referrer": contact.referrer or None,
        "notes": contact.notes or None,
        "other_emails": list(contact.other_emails),
    }


def as_expected(value, expected):
    """Long texts are given as {text_length, sha256, starts_with}; describe ours the same way."""
    if isinstance(expected, dict) and "sha256" in expected and isinstance(value, str):
        return {
            "text_length": len(value),
            "sha256": hashlib.sha256(value.encode("utf-8")).hexdigest(),
            "starts_with": value[: len(expected["starts_with"])],
        }
    return value


def assert_contact_matches(email, expected, where=""):
    stored = stored_contact(email)
    assert set(expected) == set(CONTACT_FIELDS), f"{where}: fields of the expectation"
    mismatches = {
        name: (as_expected(stored[name], expected[name]), expected[name])
        for name in CONTACT_FIELDS
        if as_expected(stored[name], expected[name]) != expected[name]
    }
    assert not mismatches, f"{where} {email}: stored != expected: {mismatches}"


def database_counts():
    """Everything an import may write, counted."""
    from accounts.models import AuditEntry
    from contacts.models import Company, Contact, ImportedContact, ImportJob, Tag

    return {
        "contacts": Contact.objects.count(),
        "companies": Company.objects.count(),
        "tags": Tag.objects.count(),
        "tag_links": Contact.tags.through.objects.count(),
        "jobs": ImportJob.objects.count(),
        "imported_contacts": ImportedContact.objects.count(),
        "audit": AuditEntry.objects.count(),
    }
