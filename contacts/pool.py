"""Dormancy and the public pool (公海): the daily sweep, claiming and assigning from the pool.

The sweep only updates rows that still match their condition, locked with SKIP LOCKED in
primary-key order, so two workers or two runs on the same day change each contact once.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Team
from accounts.services import record_audit
from followups.models import FollowUp, FollowUpStatus, Notification

from .models import Contact, PoolPolicy, PoolState

BATCH = 500


class PoolError(ValidationError):
    """A claim or assignment that cannot happen; the message is for the user."""


def _in_batches(queryset, apply):
    """Lock matching rows batch by batch (SKIP LOCKED) and apply a change; returns changed ids."""
    changed = []
    while True:
        with transaction.atomic():
            ids = list(
                queryset.select_for_update(skip_locked=True, of=("self",))
                .order_by("pk")
                .values_list("pk", flat=True)[:BATCH]
            )
            if not ids:
                return changed
            apply(ids)
        changed.extend(ids)


def make_dormant(*, now, policy):
    """Owned, active contacts without an interaction for N days become 'to be reactivated'."""
    cutoff = now - datetime.timedelta(days=policy.dormant_after_days)
    silent = Contact.objects.annotate(
        last_touch=Coalesce("last_contacted_at", "created_at")
    ).filter(pool_state=PoolState.ACTIVE, owner__isnull=False, last_touch__lt=cutoff)

    def apply(ids):
        Contact.objects.filter(pk__in=ids, pool_state=PoolState.ACTIVE).update(
            pool_state=PoolState.DORMANT, dormant_since=now, release_warned_at=None
        )
        record_audit(actor=None, action="dormant", object_type="contact", ids=ids)

    return _in_batches(silent, apply)


def warn_before_release(*, now, policy):
    """K days before release, the owner and their managers get one warning per contact."""
    warn_from = now - datetime.timedelta(
        days=policy.release_after_days - policy.warn_days_before_release
    )
    due = Contact.objects.filter(
        pool_state=PoolState.DORMANT, dormant_since__lte=warn_from, release_warned_at__isnull=True
    )

    def apply(ids):
        contacts = Contact.objects.filter(pk__in=ids).select_related("owner")
        managers = _active_managers_by_team({c.owner.team_id for c in contacts if c.owner})
        notes = []
        for contact in contacts:
            release_on = contact.dormant_since + datetime.timedelta(days=policy.release_after_days)
            for user in _owner_and_managers(contact.owner, managers):
                with translation.override(user.language):
                    text = _(
                        "Dormant customer %(name)s goes to the public pool on %(date)s "
                        "unless someone contacts them."
                    ) % {"name": contact.name or contact.email, "date": f"{release_on:%Y-%m-%d}"}
                notes.append(Notification(user=user, contact=contact, text=text[:500]))
        Notification.objects.bulk_create(notes)
        Contact.objects.filter(pk__in=ids).update(release_warned_at=now)

    return _in_batches(due, apply)


def _active_managers_by_team(team_ids):
    """team id → its active managers, in one query for the whole batch."""
    teams = Team.objects.filter(pk__in=team_ids - {None}).prefetch_related("managers")
    return {t.pk: [m for m in t.managers.all() if m.is_active] for t in teams}


def _owner_and_managers(owner, managers_by_team):
    if owner is None:
        return []
    managers = managers_by_team.get(owner.team_id, [])
    return [owner, *(m for m in managers if m.pk != owner.pk)]


def release_to_pool(*, now, policy):
    """Dormant for M more days: the owner is removed and the team's public pool takes them."""
    cutoff = now - datetime.timedelta(days=policy.release_after_days)
    due = Contact.objects.filter(pool_state=PoolState.DORMANT, dormant_since__lte=cutoff)

    def apply(ids):
        teams = dict(Contact.objects.filter(pk__in=ids).values_list("pk", "owner__team_id"))
        for team_id in set(teams.values()):
            Contact.objects.filter(
                pk__in=[pk for pk, t in teams.items() if t == team_id],
                pool_state=PoolState.DORMANT,
            ).update(owner=None, pool_state=PoolState.PUBLIC, pool_team_id=team_id, released_at=now)
        FollowUp.objects.filter(contact_id__in=ids, status=FollowUpStatus.OPEN).update(
            status=FollowUpStatus.CANCELLED, completed_at=now
        )
        record_audit(actor=None, action="release", object_type="contact", ids=ids)

    return _in_batches(due, apply)


def sweep_dormancy(*, now=None):
    """The daily job: dormant, warned, released. Safe to run twice or on two workers."""
    now = now or timezone.now()
    policy = PoolPolicy.current()
    return {
        "dormant": len(make_dormant(now=now, policy=policy)),
        "warned": len(warn_before_release(now=now, policy=policy)),
        "released": len(release_to_pool(now=now, policy=policy)),
    }


@transaction.atomic
def move_to_dormant(*, actor, contact_id, now=None, ip_address=None) -> bool:
    """Park an active customer in the dormant pool by hand (the cleaning worklist), as the sweep
    would. Only a contact `actor` may edit; False when it is not (or no longer) active."""
    now = now or timezone.now()
    changed = (
        Contact.objects.editable_by(actor)
        .filter(pk=contact_id, pool_state=PoolState.ACTIVE, owner__isnull=False)
        .update(pool_state=PoolState.DORMANT, dormant_since=now, release_warned_at=None)
    )
    if changed:
        record_audit(
            actor=actor,
            action="dormant",
            object_type="contact",
            ids=[contact_id],
            ip_address=ip_address,
        )
    return bool(changed)


def reactivate(contact):
    """An interaction brings a dormant customer back to active for its owner."""
    Contact.objects.filter(pk=contact.pk, pool_state=PoolState.DORMANT).update(
        pool_state=PoolState.ACTIVE, dormant_since=None, release_warned_at=None
    )


def claims_today(user, now=None):
    from accounts.models import AuditEntry

    now = now or timezone.now()
    start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return AuditEntry.objects.filter(actor=user, action="claim", created_at__gte=start).count()


@transaction.atomic
def claim_from_pool(*, user, contact_id, ip_address=None) -> Contact:
    """A rep takes a customer from the pool. With two at once, one wins; the other is told."""
    policy = PoolPolicy.current()
    # The row lock makes a second concurrent claim wait, then see the new owner.
    contact = Contact.objects.select_for_update(of=("self",)).filter(pk=contact_id).first()
    visible = Contact.objects.visible_to(user).filter(pk=contact_id).exists()
    if contact is None or not visible or contact.pool_state != PoolState.PUBLIC:
        raise PoolError(_("This customer is no longer in the pool: someone else claimed it."))
    if claims_today(user) >= policy.claims_per_day:
        raise PoolError(
            _("You have reached today's limit of %(n)s claims.") % {"n": policy.claims_per_day}
        )
    if Contact.objects.filter(owner=user).count() >= policy.max_owned_contacts:
        raise PoolError(
            _("You already own %(n)s customers, the most allowed.")
            % {"n": policy.max_owned_contacts}
        )
    _take(contact, user)
    record_audit(
        actor=user, action="claim", object_type="contact", ids=[contact.pk], ip_address=ip_address
    )
    return contact


@transaction.atomic
def assign_from_pool(*, actor, contact_ids, target, ip_address=None) -> int:
    """A manager hands pool customers to a member of their teams."""
    from accounts.handover import check_may_move

    check_may_move(actor, sources=[], targets=[target])
    ids = sorted(set(contact_ids))
    contacts = list(
        Contact.objects.select_for_update(of=("self",))
        .filter(pk__in=ids, pool_state=PoolState.PUBLIC)
        .order_by("pk")
    )
    visible = set(Contact.objects.visible_to(actor).filter(pk__in=ids).values_list("pk", flat=True))
    if len(contacts) != len(ids) or visible != set(ids):
        raise PoolError(
            _("Some of these customers are no longer in the pool; nothing was assigned.")
        )
    for contact in contacts:
        _take(contact, target)
    record_audit(
        actor=actor,
        action="assign_from_pool",
        object_type="contact",
        ids=ids,
        ip_address=ip_address,
        detail={"to": target.pk},
    )
    return len(contacts)


def _take(contact, owner):
    contact.owner = owner
    contact.pool_state = PoolState.ACTIVE
    contact.pool_team = None
    contact.dormant_since = contact.release_warned_at = contact.released_at = None
    contact.save(
        update_fields=[
            "owner",
            "pool_state",
            "pool_team",
            "dormant_since",
            "release_warned_at",
            "released_at",
            "updated_at",
        ]
    )


def pool_for(user):
    """What the user sees of the public pool, oldest release first."""
    return (
        Contact.objects.visible_to(user)
        .filter(pool_state=PoolState.PUBLIC)
        .for_list()
        .order_by("released_at", "pk")
    )
