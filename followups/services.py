"""Writes on the running story: log an interaction, plan, complete, snooze or move a follow-up.

`log_interaction` is the one path that updates a contact's last-contacted time and key summary:
the contact page, the import, the mailbox and the API all call it.
"""

import datetime
import zoneinfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from contacts.models import Contact
from contacts.pool import reactivate

from .models import FollowUp, FollowUpStatus, Interaction, InteractionRevision

WORKDAY_START = datetime.time(9, 0)


def user_zone(user):
    try:
        return zoneinfo.ZoneInfo(user.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        return timezone.get_default_timezone()


def aware_local(day, at, zone):
    """A wall-clock time in `zone` as an aware datetime; a time skipped by DST moves forward."""
    naive = datetime.datetime.combine(day, at)
    aware = naive.replace(tzinfo=zone)
    # Round-trip through UTC: a non-existent wall time (spring forward) becomes the real instant.
    return aware.astimezone(datetime.UTC).astimezone(zone)


def due_moment(*, day, at, user):
    """The due instant for a date (start of the working day) or a date and time, in user's zone."""
    return aware_local(day, at or WORKDAY_START, user_zone(user))


@transaction.atomic
def log_interaction(*, contact, author, kind, summary, body="", occurred_at=None) -> Interaction:
    """Record what happened and keep the contact's running story current."""
    interaction = Interaction(
        contact=contact,
        author=author,
        kind=kind,
        summary=(summary or "").strip(),
        body=body or "",
        occurred_at=occurred_at or timezone.now(),
    )
    interaction.full_clean()
    interaction.save()
    # Lock the contact row so two concurrent logs cannot interleave their updates.
    locked = Contact.objects.select_for_update().get(pk=contact.pk)
    if locked.last_contacted_at is None or interaction.occurred_at >= locked.last_contacted_at:
        locked.last_contacted_at = interaction.occurred_at
        locked.summary = interaction.summary
        locked.save(update_fields=["last_contacted_at", "summary", "updated_at"])
        contact.last_contacted_at, contact.summary = locked.last_contacted_at, locked.summary
    if locked.pool_state == "dormant":
        reactivate(locked)
    return interaction


@transaction.atomic
def edit_interaction(*, interaction, editor, **changes) -> Interaction:
    """Change an interaction, keeping its previous values, the editor and the time."""
    allowed = {"kind", "summary", "body", "occurred_at"}
    if set(changes) - allowed:
        raise ValueError(f"cannot edit {sorted(set(changes) - allowed)}")
    interaction = Interaction.objects.select_for_update().get(pk=interaction.pk)
    if all(getattr(interaction, k) == v for k, v in changes.items()):
        return interaction
    InteractionRevision.objects.create(
        interaction=interaction,
        kind=interaction.kind,
        occurred_at=interaction.occurred_at,
        summary=interaction.summary,
        body=interaction.body,
        edited_by=editor,
    )
    for name, value in changes.items():
        setattr(interaction, name, value)
    interaction.edited_at = timezone.now()
    interaction.edited_by = editor
    interaction.full_clean()
    interaction.save()
    return interaction


@transaction.atomic
def plan_follow_up(*, contact, plan, due_at, created_by, assignee=None, all_day=False) -> FollowUp:
    """Plan the next step; it goes to the contact's owner unless someone else is named."""
    assignee = assignee or contact.owner or created_by
    if timezone.is_naive(due_at):
        raise ValidationError(_("The due time needs a time zone."))
    follow_up = FollowUp(
        contact=contact,
        assignee=assignee,
        plan=(plan or "").strip(),
        due_at=due_at,
        all_day=all_day,
        created_by=created_by,
    )
    follow_up.full_clean()
    follow_up.save()
    return follow_up


def _lock_open(follow_up):
    locked = FollowUp.objects.select_for_update().get(pk=follow_up.pk)
    if locked.status != FollowUpStatus.OPEN:
        raise ValidationError(_("This follow-up is already closed."))
    return locked


@transaction.atomic
def complete_follow_up(
    *, follow_up, user, note="", log_kind=None, next_plan="", next_due_at=None, next_all_day=False
):
    """Close a follow-up; optionally log what was done and plan the next step in one go.

    Returns (follow_up, interaction or None, next follow-up or None).
    """
    follow_up = _lock_open(follow_up)
    follow_up.status = FollowUpStatus.DONE
    follow_up.completed_at = timezone.now()
    follow_up.completion_note = (note or "").strip()
    follow_up.save(update_fields=["status", "completed_at", "completion_note"])
    interaction = None
    if log_kind:
        interaction = log_interaction(
            contact=follow_up.contact,
            author=user,
            kind=log_kind,
            summary=follow_up.completion_note or follow_up.plan,
        )
    next_follow_up = None
    if next_plan and next_due_at:
        next_follow_up = plan_follow_up(
            contact=follow_up.contact,
            plan=next_plan,
            due_at=next_due_at,
            all_day=next_all_day,
            created_by=user,
            assignee=follow_up.assignee,
        )
    return follow_up, interaction, next_follow_up


@transaction.atomic
def cancel_follow_up(*, follow_up, user) -> FollowUp:
    follow_up = _lock_open(follow_up)
    follow_up.status = FollowUpStatus.CANCELLED
    follow_up.completed_at = timezone.now()
    follow_up.save(update_fields=["status", "completed_at"])
    return follow_up


@transaction.atomic
def reschedule_follow_up(*, follow_up, due_at, all_day=False) -> FollowUp:
    """Move the due time; the new time earns a fresh reminder."""
    follow_up = _lock_open(follow_up)
    follow_up.due_at = due_at
    follow_up.all_day = all_day
    follow_up.save(update_fields=["due_at", "all_day"])
    return follow_up


SNOOZE_OPTIONS = ("1h", "tomorrow", "next_week")


def snooze_until(option, *, user, now=None):
    """1 h from now, tomorrow at 09:00, or next Monday at 09:00 — in the assignee's zone."""
    now = (now or timezone.now()).astimezone(user_zone(user))
    if option == "1h":
        return now + datetime.timedelta(hours=1)
    if option == "tomorrow":
        return aware_local(now.date() + datetime.timedelta(days=1), WORKDAY_START, now.tzinfo)
    if option == "next_week":
        days = 7 - now.weekday()
        return aware_local(now.date() + datetime.timedelta(days=days), WORKDAY_START, now.tzinfo)
    raise ValidationError(_("Unknown snooze option."))


def snooze_follow_up(*, follow_up, option, now=None) -> FollowUp:
    due_at = snooze_until(option, user=follow_up.assignee, now=now)
    return reschedule_follow_up(follow_up=follow_up, due_at=due_at, all_day=False)
