"""The cleaning worklist (the quarterly cleaning day): what needs fixing in one's own records.

Reads take the acting user and start from `editable_by`, so a rep sees their own customers, a
manager their teams', an admin everyone's; the public pool is nobody's to clean.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.handover import members_managed_by
from accounts.services import record_audit

from .duplicates import probable_duplicates
from .models import Contact, EmailStatus, PoolState
from .normalizers import normalize_email

BOUNCED_STATUSES = (EmailStatus.HARD_BOUNCED, EmailStatus.INVALID, EmailStatus.SOFT_BOUNCED)


def silent_days() -> int:
    return int(getattr(settings, "CLEANING_SILENT_DAYS", 180))


def cleaning_members(user):
    """Whose worklist `user` may open besides the whole scope: team members for managers,
    everyone for admins, nobody else for reps."""
    if not (user.is_manager or user.is_admin):
        return members_managed_by(user).none()
    return members_managed_by(user).filter(is_active=True).order_by("username")


def cleaning_scope(user, member=None):
    """The contacts on `user`'s worklist, optionally only those `member` owns."""
    scope = Contact.objects.editable_by(user)
    if member is not None:
        scope = scope.filter(owner=member)
    return scope


def bounced_or_invalid(scope):
    return scope.filter(email_status__in=BOUNCED_STATUSES).order_by("email_status", "pk")


def silent_for(scope, *, days=None, now=None):
    """Active customers without an interaction (or, never contacted, created) for N days."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(days=days if days is not None else silent_days())
    return (
        scope.filter(pool_state=PoolState.ACTIVE, owner__isnull=False)
        .annotate(last_touch=Coalesce("last_contacted_at", "created_at"))
        .filter(last_touch__lt=cutoff)
        .order_by("last_touch", "pk")
    )


def incomplete(scope):
    """Records missing a country, a company or a stage."""
    return scope.filter(Q(country="") | Q(company__isnull=True) | Q(stage="")).order_by("pk")


def duplicates(scope, *, limit=None):
    return probable_duplicates(scope, limit=limit)


@transaction.atomic
def fix_email(*, actor, contact_id, new_email, ip_address=None) -> Contact:
    """Replace a bounced or invalid address: the old one stays among the other addresses, the
    status starts again at unknown. Raises Contact.DoesNotExist outside `actor`'s scope."""
    contact = Contact.objects.editable_by(actor).select_for_update(of=("self",)).get(pk=contact_id)
    address = normalize_email(new_email)
    if address is None:
        raise ValidationError(_("Enter a valid e-mail address."))
    if address == contact.email:
        raise ValidationError(_("This is already the customer's address."))
    taken = (
        Contact.objects.annotate(email_key=Lower("email"))
        .filter(email_key=address)
        .exclude(pk=contact.pk)
        .exists()
    )
    if taken:
        raise ValidationError(
            _("Another customer already has this address: merge the two records instead.")
        )
    old = contact.email
    others = [e for e in contact.other_emails or [] if isinstance(e, str) and e.lower() != address]
    if old and old not in others:
        others.append(old)
    contact.email = address
    contact.other_emails = others
    contact.email_status = EmailStatus.UNKNOWN
    contact.email_checked_at = None
    contact.save(
        update_fields=["email", "other_emails", "email_status", "email_checked_at", "updated_at"]
    )
    from .health import refresh_health_scores

    refresh_health_scores(Contact.objects.filter(pk=contact.pk))
    record_audit(
        actor=actor,
        action="fix_email",
        object_type="contact",
        ids=[contact.pk],
        ip_address=ip_address,
    )
    return contact
