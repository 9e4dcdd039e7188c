"""A contact's health score, 0-100: can we reach them, do they answer, may we write to them.

The weights, in one table (the parts add up to at most 100):

  part          points     rule
  ------------  ---------  ----------------------------------------------------------------
  address       0-40       e-mail status: valid 40, unknown 25, risky 15, soft-bounced 15,
                           hard-bounced or invalid 0; minus 25 for a throwaway domain, 15 for
                           a likely typo, 15 for an unread mailbox (noreply@), 8 for a shared
                           role mailbox (info@), 2 for a buyer mailbox (purchasing@)
  last reply    0-35       their last e-mail to us within 30 days 35, 90 days 28, 180 days
                           20, a year 10; no reply on record: half that for the last contact
  consent       0-25       a lawful basis 20, plus 5 when its source or date is recorded
  bounces       cap/minus  a hard bounce caps the score at 5; each recent soft bounce -10
                           (at most -20)
  unsubscribed  cap        no consent points, and the score is capped at 20
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections import Counter, defaultdict
from collections.abc import Mapping
from types import SimpleNamespace

from django.core.exceptions import FieldError
from django.db.models import Max, Q
from django.utils import timezone

from .email_quality import CHECK_MAY_OVERWRITE, UNKNOWN, flag_stored_address

ADDRESS_POINTS = {
    "valid": 40,
    "unknown": 25,
    "risky": 15,
    "soft_bounced": 15,
    "hard_bounced": 0,
    "invalid": 0,
}
ADDRESS_PENALTIES = {
    "disposable": 25,
    "typo": 15,
    "unread_mailbox": 15,
    "role": 8,
    "buyer_mailbox": 2,
}
REPLY_POINTS = ((30, 35), (90, 28), (180, 20), (365, 10))  # within N days -> points
CONSENT_BASIS_POINTS = 20
CONSENT_RECORD_POINTS = 5
HARD_BOUNCE_CAP = 5
SOFT_BOUNCE_PENALTY = 10
SOFT_BOUNCE_MAX_PENALTY = 20
UNSUBSCRIBED_CAP = 20
SOFT_BOUNCE_RECENT_DAYS = 30

_NOT_GIVEN = object()
logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Bounces:
    """What the mailbox saw for the address: hard bounces ever, soft bounces recently."""

    hard: int = 0
    soft_recent: int = 0


def _bounces_for(contact, bounces) -> Bounces:
    """The bounces given (a Bounces or a mapping), never milder than the e-mail status says."""
    if isinstance(bounces, Mapping):
        bounces = Bounces(**bounces)
    if not isinstance(bounces, Bounces):
        # Nothing given: the e-mail status is the mailbox's summary of its bounces.
        bounces = Bounces(soft_recent=int(contact.email_status == "soft_bounced"))
    if contact.email_status == "hard_bounced" and not bounces.hard:
        bounces = dataclasses.replace(bounces, hard=1)
    return bounces


def bounce_counts(contacts, *, now) -> dict:
    """contact id -> Bounces recorded by the mailbox for the contact's current address.

    Bounces of an address the contact no longer uses (fixed since) do not count. Without the
    mailbox's bounce table the e-mail status stands in (an empty answer).
    """
    from django.apps import apps

    try:
        bounce_model = apps.get_model("crm_mailbox", "Bounce")
    except LookupError:
        return {}
    addresses = {c.pk: (c.email or "").lower() for c in contacts}
    if not addresses:
        return {}
    recent = now - datetime.timedelta(days=SOFT_BOUNCE_RECENT_DAYS)
    try:
        rows = list(
            bounce_model.objects.filter(contact_id__in=addresses)
            .filter(Q(kind="hard") | Q(kind="soft", counted=True, bounced_at__gte=recent))
            .values_list("contact_id", "email", "kind")
        )
    except FieldError:  # the bounce table changed shape: fall back to the e-mail status
        logger.warning("mailbox.Bounce has no contact/email/kind/counted/bounced_at", exc_info=True)
        return {}
    hard, soft = Counter(), Counter()
    for contact_id, email, kind in rows:
        if (email or "").lower() == addresses[contact_id]:
            (hard if kind == "hard" else soft)[contact_id] += 1
    return {pk: Bounces(hard=hard[pk], soft_recent=soft[pk]) for pk in set(hard) | set(soft)}


def last_replies(contact_ids) -> dict:
    """contact id -> when they last wrote to us (the latest "email_in"), in one query."""
    from followups.models import Interaction, InteractionKind

    ids = list(contact_ids)
    if not ids:
        return {}
    rows = (
        Interaction.objects.filter(contact_id__in=ids, kind=InteractionKind.EMAIL_IN)
        .values("contact_id")
        .annotate(last=Max("occurred_at"))
        .values_list("contact_id", "last")
    )
    return dict(rows)


def _recency_points(moment, now) -> int:
    if moment is None:
        return 0
    age = now - moment
    for days, points in REPLY_POINTS:
        if age <= datetime.timedelta(days=days):
            return points
    return 0


def address_points(contact, check) -> int:
    status = contact.email_status
    if status in CHECK_MAY_OVERWRITE and check.verdict != UNKNOWN:
        status = check.verdict  # a fresh check knows better than an old "unknown"
    points = ADDRESS_POINTS.get(status, ADDRESS_POINTS["unknown"])
    for reason in check.reasons:
        points -= ADDRESS_PENALTIES.get(reason, 0)
    return max(points, 0)


def health_score(contact, *, check=None, bounces=None, last_reply_at=_NOT_GIVEN, now=None) -> int:
    """The contact's health, 0-100 (weights in the module's table).

    `check` defaults to the quick flags of the stored address (the stored e-mail status says
    whether it is valid); `last_reply_at` to a query for the contact's last received e-mail
    (pass it when scoring many contacts).
    """
    now = now or timezone.now()
    check = check or flag_stored_address(contact.email)
    bounces = _bounces_for(contact, bounces)
    if last_reply_at is _NOT_GIVEN:
        last_reply_at = last_replies([contact.pk]).get(contact.pk) if contact.pk else None

    score = address_points(contact, check)
    if last_reply_at is not None:
        score += _recency_points(last_reply_at, now)
    else:
        score += _recency_points(contact.last_contacted_at, now) // 2
    if not contact.unsubscribed_at and contact.consent_basis:
        score += CONSENT_BASIS_POINTS
        if contact.consent_source or contact.consent_date:
            score += CONSENT_RECORD_POINTS
    score -= min(bounces.soft_recent * SOFT_BOUNCE_PENALTY, SOFT_BOUNCE_MAX_PENALTY)
    if contact.unsubscribed_at:
        score = min(score, UNSUBSCRIBED_CAP)
    if bounces.hard:
        score = min(score, HARD_BOUNCE_CAP)
    return max(0, min(100, score))


SCORED_FIELDS = (
    "email",
    "email_status",
    "last_contacted_at",
    "consent_basis",
    "consent_source",
    "consent_date",
    "unsubscribed_at",
    "health_score",
)


def refresh_health_scores(queryset, *, now=None, chunk_size=2000) -> int:
    """Recompute and store the score of every contact in `queryset`; returns how many changed.

    Chunked by primary key: per chunk one read, one reply query, one bounce query, and one
    UPDATE per distinct new score (at most 101), so 50,000 contacts take a few hundred queries
    and no model instances. Only the score column is written (updated_at stays).
    """
    from .models import Contact

    now = now or timezone.now()
    changed = 0
    last_pk = 0
    base = queryset.order_by("pk").values_list("pk", *SCORED_FIELDS)
    while True:
        chunk = [
            SimpleNamespace(pk=row[0], **dict(zip(SCORED_FIELDS, row[1:], strict=True)))
            for row in base.filter(pk__gt=last_pk)[:chunk_size]
        ]
        if not chunk:
            return changed
        last_pk = chunk[-1].pk
        replies = last_replies(c.pk for c in chunk)
        bounces = bounce_counts(chunk, now=now)
        by_score = defaultdict(list)
        for contact in chunk:
            score = health_score(
                contact,
                bounces=bounces.get(contact.pk),
                last_reply_at=replies.get(contact.pk),
                now=now,
            )
            if score != contact.health_score:
                by_score[score].append(contact.pk)
        for score, ids in by_score.items():
            changed += Contact.objects.filter(pk__in=ids).update(health_score=score)
