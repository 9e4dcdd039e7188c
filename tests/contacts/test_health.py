"""The health score: its ordering, its parts, the bulk refresh, the badge and the list filter."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contacts.health import Bounces, health_score, refresh_health_scores
from contacts.models import Contact
from followups.services import log_interaction
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


def make(**fields):
    fields.setdefault("email", f"p{Contact.objects.count()}@lichtwerk.de")
    return ContactFactory(**fields)


def test_ordering_hard_bounced_below_unknown_below_valid_with_reply_and_consent(org):
    hard = make(email_status="hard_bounced", consent_basis="consent")
    unknown = make(email_status="unknown")
    healthy = make(
        email_status="valid", consent_basis="consent", consent_date=datetime.date(2025, 3, 1)
    )
    log_interaction(
        contact=healthy, author=org.alice, kind="email_in", summary="Please quote 2,000 pcs"
    )
    scores = [health_score(c) for c in (hard, unknown, healthy)]
    assert scores[0] <= 5
    assert scores[0] < scores[1] < scores[2]
    assert scores[2] == 100
    assert all(0 <= s <= 100 for s in scores)


def test_reply_recency_counts_and_ages():
    now = timezone.now()
    contact = make(email_status="valid")
    fresh = health_score(contact, last_reply_at=now - 5 * DAY, now=now)
    month3 = health_score(contact, last_reply_at=now - 80 * DAY, now=now)
    old = health_score(contact, last_reply_at=now - 400 * DAY, now=now)
    never = health_score(contact, last_reply_at=None, now=now)
    assert fresh > month3 > old == never == 40


def test_last_contact_counts_half_when_they_never_replied():
    now = timezone.now()
    contact = make(email_status="valid", last_contacted_at=now - 5 * DAY)
    assert health_score(contact, last_reply_at=None, now=now) == 40 + 35 // 2


def test_unsubscribed_is_low_and_consent_adds():
    now = timezone.now()
    base = make(email_status="valid")
    consented = make(email_status="valid", consent_basis="legitimate_interest")
    gone = make(email_status="valid", consent_basis="consent", unsubscribed_at=now)
    assert (
        health_score(consented, last_reply_at=None) == health_score(base, last_reply_at=None) + 20
    )
    assert health_score(gone, last_reply_at=now) <= 20


def test_bounces_hard_near_zero_soft_recent_minus():
    contact = make(email_status="valid", consent_basis="consent")
    clean = health_score(contact, last_reply_at=None)
    assert health_score(contact, bounces=Bounces(soft_recent=1), last_reply_at=None) == clean - 10
    assert health_score(contact, bounces={"soft_recent": 5}, last_reply_at=None) == clean - 20
    assert health_score(contact, bounces=Bounces(hard=1), last_reply_at=None) <= 5


def test_address_quality_penalties():
    person = make(email="anna@lichtwerk.de", email_status="valid")
    info = make(email="info@lichtwerk.de", email_status="valid")
    purchasing = make(email="purchasing@lichtwerk.de", email_status="valid")
    throwaway = make(email="x@mailinator.com", email_status="unknown")
    scores = {c.email: health_score(c, last_reply_at=None) for c in (person, info, purchasing)}
    assert scores["anna@lichtwerk.de"] == 40
    assert scores["purchasing@lichtwerk.de"] == 38  # a buyer mailbox: hardly penalised
    assert scores["info@lichtwerk.de"] == 32
    assert health_score(throwaway, last_reply_at=None) == 0


def test_refresh_stores_scores_in_bulk_without_touching_updated_at(org):
    contacts = [make(email_status="valid") for _ in range(30)]
    log_interaction(contact=contacts[0], author=org.alice, kind="email_in", summary="hi")
    before = dict(Contact.objects.values_list("pk", "updated_at"))
    with CaptureQueriesContext(connection) as queries:
        changed = refresh_health_scores(Contact.objects.all(), chunk_size=10)
    assert changed == Contact.objects.count()
    assert len(queries) < 25  # a handful per chunk of 10, not per contact
    stored = dict(Contact.objects.values_list("pk", "health_score"))
    assert stored[contacts[0].pk] == 75 and stored[contacts[1].pk] == 40
    assert dict(Contact.objects.values_list("pk", "updated_at")) == before
    assert refresh_health_scores(Contact.objects.all()) == 0  # nothing changed: nothing written


def test_filter_by_health_and_badge_on_the_page(client, org):
    low = make(owner=org.alice, name="Low Health", health_score=10)
    mid = make(owner=org.alice, name="Mid Health", health_score=55)
    high = make(owner=org.alice, name="High Health", health_score=90)
    hidden = make(owner=org.bob, name="Bob Healthy", health_score=90)
    client.force_login(org.alice)
    url = reverse("contacts:contact_list")

    def names(params):
        html = client.get(url, params).content.decode()
        return {c.name for c in (low, mid, high, hidden) if c.name in html}

    assert names({"health_min": 50}) == {"Mid Health", "High Health"}
    assert names({"health_max": 50}) == {"Low Health"}
    assert names({"health_min": 40, "health_max": 60}) == {"Mid Health"}
    assert names({"health_min": "lots"}) == {"Low Health", "Mid Health", "High Health"}
    page = client.get(reverse("contacts:contact_detail", args=[mid.pk])).content.decode()
    assert 'id="health-score"' in page and "55" in page


def test_the_mailbox_bounces_of_the_current_address_count(org):
    from django.apps import apps

    bounce = apps.get_model("crm_mailbox", "Bounce")
    contact = make(email="anna@lichtwerk.de", email_status="valid", consent_basis="consent")
    moved = make(email="new@lichtwerk.de", email_status="valid", consent_basis="consent")
    now = timezone.now()
    bounce.objects.create(contact=contact, email=contact.email, kind="hard", bounced_at=now)
    bounce.objects.create(contact=moved, email="old@lichtwerk.de", kind="hard", bounced_at=now)
    refresh_health_scores(Contact.objects.all())
    scores = dict(Contact.objects.values_list("email", "health_score"))
    assert scores["anna@lichtwerk.de"] <= 5
    assert scores["new@lichtwerk.de"] == 60  # the bounce was of an address fixed since
