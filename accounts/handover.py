"""Handing a departing rep's customers over, and reassigning contacts in bulk.

Both run in one transaction, check the same bounds (a manager moves contacts only between
members of the teams they manage), and write one audit entry with the ids.
"""

import dataclasses
from collections import defaultdict

from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from contacts.models import Contact, PoolState
from followups.models import FollowUp, FollowUpStatus, Notification

from .models import Handover
from .services import record_audit


def members_managed_by(actor):
    """Users whose contacts `actor` may move: everyone for admins, team members for managers."""
    User = get_user_model()
    if actor.is_admin:
        return User.objects.all()
    if actor.is_manager:
        return User.objects.filter(Q(team__in=actor.managed_teams.values("pk")) | Q(pk=actor.pk))
    return User.objects.none()


def check_may_move(actor, *, sources, targets):
    allowed = set(members_managed_by(actor).values_list("pk", flat=True))
    for user in [*sources, *targets]:
        if user is not None and user.pk not in allowed:
            raise PermissionDenied(
                _("You can only move customers between members of the teams you manage.")
            )
    for user in targets:
        if user is not None and not user.is_active:
            raise ValidationError(_("%(name)s is deactivated.") % {"name": user.display_name})


@dataclasses.dataclass
class HandoverPlan:
    departing: object
    assignments: dict  # target user (None = public pool) -> [contact ids]
    open_follow_ups: dict  # target -> count
    pending_reminders: dict  # target -> count of open follow-ups still to be reminded

    @property
    def total(self):
        return sum(len(ids) for ids in self.assignments.values())

    def rows(self):
        return [
            {
                "target": target,
                "contacts": len(ids),
                "open_follow_ups": self.open_follow_ups.get(target, 0),
                "pending_reminders": self.pending_reminders.get(target, 0),
            }
            for target, ids in self.assignments.items()
        ]


def spread_by_company(contacts, targets):
    """Balance by count, keeping each company's contacts with one target (largest first)."""
    groups = defaultdict(list)
    for pk, company_id in contacts:
        groups[company_id or f"solo-{pk}"].append(pk)
    assignments = {target: [] for target in targets}
    for ids in sorted(groups.values(), key=lambda ids: (-len(ids), ids[0])):
        target = min(targets, key=lambda t: (len(assignments[t]), targets.index(t)))
        assignments[target].extend(ids)
    return assignments


def plan_handover(*, actor, departing, targets=(), release_to_pool=False) -> HandoverPlan:
    """Who gets which of the departing rep's contacts, with the follow-ups that move along."""
    targets = [] if release_to_pool else list(targets)
    if not release_to_pool and not targets:
        raise ValidationError(_("Choose who takes over, or release the customers to the pool."))
    if departing in targets:
        raise ValidationError(_("The departing rep cannot take over their own customers."))
    check_may_move(actor, sources=[departing], targets=targets)
    contacts = list(
        Contact.objects.filter(owner=departing).order_by("pk").values_list("pk", "company_id")
    )
    if release_to_pool:
        assignments = {None: [pk for pk, _ in contacts]}
    else:
        assignments = spread_by_company(contacts, targets)
    owner_of = {pk: target for target, ids in assignments.items() for pk in ids}
    open_counts, reminder_counts = defaultdict(int), defaultdict(int)
    rows = FollowUp.objects.filter(contact_id__in=owner_of, status=FollowUpStatus.OPEN).values_list(
        "contact_id", "due_at", "reminded_for"
    )
    for contact_id, due_at, reminded_for in rows:
        target = owner_of[contact_id]
        open_counts[target] += 1
        if reminded_for != due_at:
            reminder_counts[target] += 1
    return HandoverPlan(departing, assignments, dict(open_counts), dict(reminder_counts))


def end_sessions(user):
    """Log a user out everywhere at once (sessions are in the database)."""
    user_id = str(user.pk)
    stale = [
        s.pk
        for s in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if s.get_decoded().get("_auth_user_id") == user_id
    ]
    Session.objects.filter(pk__in=stale).delete()


@transaction.atomic
def run_handover(
    *, actor, departing, targets=(), release_to_pool=False, deactivate=False, ip_address=None
) -> Handover:
    """Move every contact of `departing` (and their open follow-ups) in one transaction."""
    # Lock the departing rep's contacts first, in primary-key order, so the plan cannot drift.
    list(Contact.objects.select_for_update().filter(owner=departing).order_by("pk").values("pk"))
    plan = plan_handover(
        actor=actor, departing=departing, targets=targets, release_to_pool=release_to_pool
    )
    now = timezone.now()
    for target, ids in plan.assignments.items():
        if target is None:
            Contact.objects.filter(pk__in=ids).update(
                owner=None, pool_state=PoolState.PUBLIC, updated_at=now
            )
            FollowUp.objects.filter(contact_id__in=ids, status=FollowUpStatus.OPEN).update(
                status=FollowUpStatus.CANCELLED, completed_at=now
            )
        else:
            Contact.objects.filter(pk__in=ids).update(owner=target, updated_at=now)
            FollowUp.objects.filter(contact_id__in=ids, status=FollowUpStatus.OPEN).update(
                assignee=target
            )
    if deactivate:
        departing.is_active = False
        departing.save(update_fields=["is_active"])
        end_sessions(departing)
    all_ids = sorted(pk for ids in plan.assignments.values() for pk in ids)
    handover = Handover.objects.create(
        actor=actor,
        departing=departing,
        released_to_pool=release_to_pool,
        deactivated=deactivate,
        assignments={str(t.pk if t else "pool"): ids for t, ids in plan.assignments.items()},
    )
    for target, ids in plan.assignments.items():
        if target is not None and ids:
            with translation.override(target.language):
                text = _("%(count)s customers were handed over to you from %(name)s.") % {
                    "count": len(ids),
                    "name": departing.display_name,
                }
            Notification.objects.create(user=target, handover=handover, text=text)
    record_audit(
        actor=actor,
        action="handover",
        object_type="contact",
        ids=all_ids,
        ip_address=ip_address,
        detail={
            "handover": handover.pk,
            "from": departing.pk,
            "to": {str(t.pk if t else "pool"): len(ids) for t, ids in plan.assignments.items()},
            "open_follow_ups": sum(plan.open_follow_ups.values()),
            "deactivated": deactivate,
        },
    )
    return handover


@dataclasses.dataclass
class ReassignResult:
    moved: list  # ids now owned by the target
    skipped: list  # ids outside the actor's scope (forged, gone, or in the pool): untouched


@transaction.atomic
def reassign_contacts(*, actor, contact_ids, target, ip_address=None) -> ReassignResult:
    """Give the chosen contacts to `target`.

    Ids outside what the actor may edit are skipped and reported; a target outside the
    actor's teams refuses the whole request (nothing moves).
    """
    contact_ids = sorted(set(contact_ids))
    contacts = list(
        Contact.objects.editable_by(actor)
        .select_for_update(of=("self",))
        .filter(pk__in=contact_ids)
        .select_related("owner")
        .order_by("pk")
    )
    check_may_move(actor, sources=[c.owner for c in contacts], targets=[target])
    in_scope = {c.pk for c in contacts}
    moved = [c.pk for c in contacts if c.owner_id != target.pk]
    Contact.objects.filter(pk__in=moved).update(owner=target, updated_at=timezone.now())
    FollowUp.objects.filter(contact_id__in=moved, status=FollowUpStatus.OPEN).update(
        assignee=target
    )
    skipped = [pk for pk in contact_ids if pk not in in_scope]
    record_audit(
        actor=actor,
        action="reassign",
        object_type="contact",
        ids=moved,
        ip_address=ip_address,
        detail={"to": target.pk, "skipped": len(skipped)},
    )
    return ReassignResult(moved=moved, skipped=skipped)


def team_workload(actor):
    """Contacts per member of the actor's teams, for choosing targets."""
    return (
        members_managed_by(actor)
        .filter(is_active=True)
        .annotate(contact_count=Count("contacts"))
        .order_by("username")
    )
