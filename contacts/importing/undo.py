"""Undo an import: remove the contacts it created, empty the fields it filled.

Only what nobody touched since: a contact changed after the import finished (its updated_at is
later than the job's finished_at; the import itself stamps updated_at before finished_at), or one
with an interaction or follow-up logged since, is skipped and listed, never reverted. One
transaction, one audit entry; a job is reverted once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models.functions import Lower
from django.utils.translation import gettext

from accounts.services import record_audit
from contacts.models import Company, Contact, ImportedContact, ImportJob, ImportStatus, Tag
from followups.models import FollowUp, Interaction

from .saving import SIMPLE_FIELDS

IMPORT_PERMISSION = "contacts.import_contacts"


class RevertRefused(Exception):
    """The import cannot be undone; `message` is translated."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class RevertResult:
    deleted: list = field(default_factory=list)  # contacts the import created, now removed
    emptied: list = field(default_factory=list)  # contacts whose filled fields were emptied
    skipped: list = field(default_factory=list)  # changed since the import: left as they are
    companies_deleted: list = field(default_factory=list)


def revert_import(*, job: ImportJob, actor, ip_address=None) -> RevertResult:
    if not actor.has_perm(IMPORT_PERMISSION):
        raise PermissionDenied
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)  # one revert at a time
        if job.status == ImportStatus.REVERTED:
            raise RevertRefused(gettext("This import has already been undone."))
        if job.status != ImportStatus.DONE or job.dry_run or job.finished_at is None:
            raise RevertRefused(gettext("Only a finished import can be undone."))
        records = list(job.imported_contacts.order_by("contact_id"))
        ids = [record.contact_id for record in records]
        # Locked in id order, like the import and the handover: no deadlock with them.
        locked = Contact.objects.select_for_update(of=("self",)).filter(pk__in=ids)
        contacts = {contact.pk: contact for contact in locked.order_by("pk")}
        touched = _touched_since(job, ids, [r.contact_id for r in records if r.created])
        result = RevertResult()
        company_ids = set()
        for record in records:
            contact = contacts.get(record.contact_id)
            if contact is None:
                continue  # deleted meanwhile
            if contact.pk in touched or contact.updated_at > job.finished_at:
                result.skipped.append(contact.pk)
            elif record.created:
                result.deleted.append(contact.pk)
                company_ids.add(contact.company_id)
            else:
                if "company" in record.filled_fields:
                    company_ids.add(contact.company_id)
                _empty_filled_fields(contact, record)
                result.emptied.append(contact.pk)
        Contact.objects.filter(pk__in=result.deleted).delete()
        company_ids.discard(None)
        result.companies_deleted = _remove_companies_left_empty(job, company_ids)
        job.status = ImportStatus.REVERTED
        job.save(update_fields=["status"])
        record_audit(
            actor=actor,
            action="revert_import",
            object_type="contact",
            ids=[*result.deleted, *result.emptied],
            detail={
                "job": job.pk,
                "file": job.file_name,
                "deleted": result.deleted,
                "emptied": result.emptied,
                "skipped": result.skipped,
                "companies_deleted": result.companies_deleted,
            },
            ip_address=ip_address,
        )
    return result


def _touched_since(job: ImportJob, ids: list, created_ids: list) -> set:
    """Contacts with activity since the import: interactions or follow-ups logged after it,
    anything at all pointing at a contact it created, or a later import's record."""
    since = job.finished_at
    touched = set(
        Interaction.objects.filter(contact_id__in=ids, created_at__gt=since).values_list(
            "contact_id", flat=True
        )
    )
    touched |= set(
        FollowUp.objects.filter(contact_id__in=ids, created_at__gt=since).values_list(
            "contact_id", flat=True
        )
    )
    touched |= set(
        ImportedContact.objects.filter(contact_id__in=ids)
        .exclude(job=job)
        .values_list("contact_id", flat=True)
    )
    # A new contact did not exist before the import: any row referring to it (a message, a
    # referral, a reminder ...) was made since, and deleting the contact would take it along.
    for relation in Contact._meta.related_objects:
        if relation.many_to_many or relation.related_model is ImportedContact:
            continue
        column = relation.field.attname
        touched |= set(
            relation.related_model._base_manager.filter(**{f"{column}__in": created_ids})
            .values_list(column, flat=True)
            .distinct()
        )
    return touched


def _empty_filled_fields(contact: Contact, record: ImportedContact) -> None:
    """The fields the import filled on an existing contact go back to empty."""
    changed = {"updated_at"}
    for name in record.filled_fields:
        if name in SIMPLE_FIELDS:
            setattr(contact, SIMPLE_FIELDS[name], "")
            changed.add(SIMPLE_FIELDS[name])
        elif name == "company":
            contact.company = None
            changed.add("company")
        elif name == "first_contact_date":
            contact.first_contact_date = None
            changed.add("first_contact_date")
        elif name == "last_contact_date":
            contact.last_contacted_at = None
            changed.add("last_contacted_at")
        elif name == "owner":
            contact.owner = None
            changed.add("owner")
    if record.other_emails_added:
        added = set(record.other_emails_added)
        contact.other_emails = [e for e in contact.other_emails or [] if e not in added]
        changed.add("other_emails")
    if record.tags_added:
        names = [tag.lower() for tag in record.tags_added]
        tags = Tag.objects.annotate(key=Lower("name")).filter(key__in=names)
        Contact.tags.through.objects.filter(contact=contact, tag__in=tags).delete()
    contact.save(update_fields=sorted(changed))


def _remove_companies_left_empty(job: ImportJob, company_ids: set) -> list:
    """Companies the reverted contacts had from the import, created by it (not before it
    started), that nobody uses any more."""
    if not company_ids:
        return []
    started = job.queued_at or job.created_at
    companies = Company.objects.filter(
        pk__in=company_ids,
        created_at__gte=started,
        created_at__lte=job.finished_at,
        contacts__isnull=True,
        website="",
        notes="",
    )
    removed = sorted(companies.values_list("pk", flat=True))
    Company.objects.filter(pk__in=removed).delete()
    return removed
