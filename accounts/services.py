"""Writes on users and teams, and the audit log helper every sensitive action calls."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext_lazy

from crm.bulk import insert_rows

from .models import AuditedObject, AuditEntry, Role, Team

USER_FIELDS = ("name_zh", "name_en", "aliases", "email", "time_zone", "language")


def record_audit(*, actor, action, object_type, ids=(), detail=None, ip_address=None):
    """One audit row: who did what to how many of which objects. Ids only, no personal data."""
    ids = list(ids)
    entry = AuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        object_type=object_type,
        count=len(ids),
        object_ids=ids,
        detail=detail or {},
        ip_address=ip_address,
    )
    # An import audits tens of thousands of ids: COPY, not one quoted INSERT per 2,000.
    insert_rows(
        AuditedObject,
        {"entry": [entry.pk] * len(ids), "object_type": [object_type] * len(ids), "object_id": ids},
        held_references=["entry"],  # written just now, in this transaction when there is one
    )
    return entry


# How each audited action reads on a record's history (codes stay in the database).
ACTION_LABELS = {
    "import": gettext_lazy("Imported"),
    "export": gettext_lazy("Exported"),
    "handover": gettext_lazy("Handed over"),
    "reassign": gettext_lazy("Reassigned"),
    "claim": gettext_lazy("Claimed from the pool"),
    "assign_from_pool": gettext_lazy("Assigned from the pool"),
    "dormant": gettext_lazy("Became dormant"),
    "release": gettext_lazy("Released to the public pool"),
    "merge": gettext_lazy("Merged"),
    "fix_email": gettext_lazy("E-mail address corrected"),
    "delete": gettext_lazy("Deleted"),
    "erasure": gettext_lazy("Erased"),
    "revert_import": gettext_lazy("Import reverted"),
}


def history_of(object_type, object_id, limit=50):
    """The audit entries that touched one object, newest first."""
    return (
        AuditEntry.objects.filter(targets__object_type=object_type, targets__object_id=object_id)
        .select_related("actor")
        .order_by("-created_at", "-id")[:limit]
    )


@transaction.atomic
def upsert_user(*, username, role=None, team=None, password=None, manages=(), **fields):
    """Create or update one user from a people file; unchanged data writes nothing.

    Returns (user, created, changed).
    """
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    created = user is None
    if created:
        user = User(username=username)
    changed = created
    values = {k: v for k, v in fields.items() if k in USER_FIELDS and v is not None}
    if role is not None:
        values["role"] = Role(role).value
    if team is not None:
        values["team"] = Team.objects.get_or_create(name=team)[0]
    for name, value in values.items():
        if getattr(user, name) != value:
            setattr(user, name, value)
            changed = True
    if password is not None and (created or not user.check_password(password)):
        user.set_password(password)
        changed = True
    if created and password is None:
        user.set_unusable_password()
    if changed:
        user.full_clean(exclude=["password"])
        user.save()
    for team_name in manages:
        team_obj = Team.objects.get_or_create(name=team_name)[0]
        if not team_obj.managers.filter(pk=user.pk).exists():
            team_obj.managers.add(user)
            changed = True
    return user, created, changed
