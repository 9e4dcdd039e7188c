"""Merging two records of one customer: everything of the merged record moves to the kept one.

Every row that points at a contact moves (interactions, follow-ups, notifications, import
provenance, mailbox messages and bounces, tags, referrals), found through the models' own
foreign keys, so a model added later moves too. Where a unique constraint allows only one row
per contact (a tag link, one import record per job), the kept record's row stands for both
(import records are combined first). One transaction, one audit entry.
"""

from __future__ import annotations

from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, UniqueConstraint
from django.utils.translation import gettext as _

from accounts.services import record_audit

from .models import Contact, ImportedContact

# Filled from the merged record only where the kept one is empty.
FILLED_FIELDS = (
    "name",
    "company",
    "country",
    "time_zone",
    "phone",
    "job_title",
    "linkedin_url",
    "channel",
    "first_product",
    "referrer",
    "inquiry_text",
    "stage",
    "grade",
    "purchase_cycle",
    "next_follow_up_plan",
    "consent_basis",
    "consent_source",
    "consent_date",
)


def contact_links():
    """(model, foreign key) for every concrete foreign key or one-to-one to Contact, including
    many-to-many link tables (Contact.tags) and Contact.referred_by."""
    links = []
    for model in apps.get_models(include_auto_created=True):
        if model._meta.proxy or not model._meta.managed:
            continue
        for field in model._meta.local_fields:
            if field.is_relation and field.remote_field and field.remote_field.model is Contact:
                links.append((model, field))
    return links


def _unique_groups(model, field):
    """For each uniqueness rule involving `field`: (other field names, condition or None)."""
    groups = []
    if field.unique:
        groups.append(((), None))
    for names in model._meta.unique_together:
        if field.name in names:
            groups.append((tuple(n for n in names if n != field.name), None))
    for constraint in model._meta.constraints:
        if isinstance(constraint, UniqueConstraint) and field.name in (constraint.fields or ()):
            others = tuple(n for n in constraint.fields if n != field.name)
            groups.append((others, constraint.condition))
    return groups


def _combine_import_records(kept_row, merged_row):
    """One import record per job and contact: the kept record's absorbs the merged one's."""
    for name in ("filled_fields", "tags_added", "other_emails_added"):
        values = list(getattr(kept_row, name) or [])
        values += [v for v in getattr(merged_row, name) or [] if v not in values]
        setattr(kept_row, name, values)
    if merged_row.created and not kept_row.created:
        kept_row.created, kept_row.sheet, kept_row.row = True, merged_row.sheet, merged_row.row
    kept_row.save(
        update_fields=[
            "filled_fields",
            "tags_added",
            "other_emails_added",
            "created",
            "sheet",
            "row",
        ]
    )


def _drop_collisions(model, field, keep, merge) -> int:
    """Remove the merged record's rows that would break a unique rule once moved."""
    dropped = 0
    for others, condition in _unique_groups(model, field):
        condition = condition or Q()
        kept_rows = model._default_manager.filter(condition, **{field.attname: keep.pk})
        merged_rows = model._default_manager.filter(condition, **{field.attname: merge.pk})
        attnames = [model._meta.get_field(name).attname for name in others]
        kept_by_key = {tuple(getattr(row, a) for a in attnames): row for row in kept_rows}
        for row in merged_rows:
            kept_row = kept_by_key.get(tuple(getattr(row, a) for a in attnames))
            if kept_row is None:
                continue
            if model is ImportedContact:
                _combine_import_records(kept_row, row)
            row.delete()
            dropped += 1
    return dropped


def _merged_emails(keep, merge):
    addresses = []
    for address in [*(keep.other_emails or []), merge.email, *(merge.other_emails or [])]:
        address = (address or "").strip().lower() if isinstance(address, str) else ""
        if address and address != keep.email and address not in addresses:
            addresses.append(address)
    return addresses


def _fill_fields(keep, merge):
    """Copy what the kept record lacks; keep the newer story, the earlier dates."""
    for name in FILLED_FIELDS:
        field = Contact._meta.get_field(name)
        attname = field.attname
        if getattr(keep, attname) in (None, "") and getattr(merge, attname) not in (None, ""):
            setattr(keep, attname, getattr(merge, attname))
    if keep.referred_by_id is None and merge.referred_by_id not in (None, keep.pk):
        keep.referred_by_id = merge.referred_by_id
    if merge.notes and merge.notes not in keep.notes:
        keep.notes = f"{keep.notes}\n\n{merge.notes}" if keep.notes else merge.notes
    if merge.first_contact_date and (
        keep.first_contact_date is None or merge.first_contact_date < keep.first_contact_date
    ):
        keep.first_contact_date = merge.first_contact_date
    if merge.last_contacted_at and (
        keep.last_contacted_at is None or merge.last_contacted_at > keep.last_contacted_at
    ):
        keep.last_contacted_at, keep.summary = merge.last_contacted_at, merge.summary
    elif not keep.summary:
        keep.summary = merge.summary
    # An unsubscribe is the person's wish, whichever address they used.
    if merge.unsubscribed_at and (
        keep.unsubscribed_at is None or merge.unsubscribed_at < keep.unsubscribed_at
    ):
        keep.unsubscribed_at = merge.unsubscribed_at
    if merge.away_until and (keep.away_until is None or merge.away_until > keep.away_until):
        keep.away_until = merge.away_until
    keep.other_emails = _merged_emails(keep, merge)


@transaction.atomic
def merge_contacts(*, actor, keep, merge, ip_address=None) -> Contact:
    """Fold `merge` into `keep` and delete it. Both must be editable by `actor`; a record the
    actor may not edit is refused exactly like a missing one (PermissionDenied)."""
    from followups.models import FollowUp, FollowUpStatus

    from .health import refresh_health_scores

    keep_id, merge_id = getattr(keep, "pk", keep), getattr(merge, "pk", merge)
    if keep_id == merge_id:
        raise ValidationError(_("A customer cannot be merged with itself."))
    # Lock both in primary-key order (as the import and the handover do): no deadlocks.
    locked = {
        c.pk: c
        for c in Contact.objects.select_for_update(of=("self",))
        .filter(pk__in=[keep_id, merge_id])
        .order_by("pk")
    }
    editable = set(
        Contact.objects.editable_by(actor)
        .filter(pk__in=[keep_id, merge_id])
        .values_list("pk", flat=True)
    )
    if editable != {keep_id, merge_id} or len(locked) != 2:
        raise PermissionDenied(_("This customer does not exist or is not yours to change."))
    keep, merge = locked[keep_id], locked[merge_id]

    # Open follow-ups go to whoever now looks after the customer.
    if keep.owner_id and merge.owner_id != keep.owner_id:
        FollowUp.objects.filter(
            contact=merge, status=FollowUpStatus.OPEN, assignee_id=merge.owner_id
        ).update(assignee_id=keep.owner_id)

    moved, dropped = {}, {}
    for model, field in contact_links():
        label = f"{model._meta.label_lower}.{field.name}"
        dropped_here = _drop_collisions(model, field, keep, merge)
        count = model._default_manager.filter(**{field.attname: merge.pk}).update(
            **{field.attname: keep.pk}
        )
        if count:
            moved[label] = count
        if dropped_here:
            dropped[label] = dropped_here

    keep.refresh_from_db(fields=["referred_by"])  # it may have pointed at the merged record
    if keep.referred_by_id == keep.pk:
        keep.referred_by_id = None
    _fill_fields(keep, merge)
    merge.delete()
    keep.save()
    refresh_health_scores(Contact.objects.filter(pk=keep.pk))
    record_audit(
        actor=actor,
        action="merge",
        object_type="contact",
        ids=[keep.pk, merge_id],
        ip_address=ip_address,
        detail={"kept": keep.pk, "merged": merge_id, "moved": moved, "combined": dropped},
    )
    keep.refresh_from_db()
    return keep
