"""Reads of contact data. Every path goes through `visible_to(user)`: deny by default."""

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Q


def owners_visible_to(user):
    """Subquery of user ids whose contacts `user` may see, or None for 'everyone' (admins).

    A manager sees what members of the teams they manage own, and their own contacts.
    """
    if user.is_admin:
        return None
    User = get_user_model()
    if user.is_manager:
        return User.objects.filter(
            Q(pk=user.pk) | Q(team__in=user.managed_teams.values("pk"))
        ).values("pk")
    return User.objects.filter(pk=user.pk).values("pk")


def pool_visible_to(user):
    """The public pool a user sees: everyone's, their own team's, and the teams they manage."""
    teams = Q(pool_team__isnull=True)
    if user.team_id:
        teams |= Q(pool_team_id=user.team_id)
    if user.is_manager:
        teams |= Q(pool_team__in=user.managed_teams.values("pk"))
    return Q(pool_state="public") & teams


def _is_signed_in(user):
    return user is not None and user.is_authenticated and user.is_active


class ContactQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Contacts `user` may read: own (or team's, or all for admins) plus the public pool."""
        if not _is_signed_in(user):
            return self.none()
        owners = owners_visible_to(user)
        if owners is None:
            return self.all()
        return self.filter(Q(owner_id__in=owners) | pool_visible_to(user))

    def editable_by(self, user):
        """Contacts `user` may change: the visible ones, minus the public pool for non-admins.

        Pool contacts are claimed first, then edited.
        """
        if not _is_signed_in(user):
            return self.none()
        owners = owners_visible_to(user)
        if owners is None:
            return self.all()
        return self.filter(owner_id__in=owners)

    def search(self, text):
        """Free text over name, e-mail, company and phone; safe for any input (ORM-escaped)."""
        text = (text or "").replace("\x00", "").strip()
        if not text:
            return self
        phone_digits = "".join(ch for ch in text if ch.isdigit())
        q = (
            Q(name__icontains=text)
            | Q(email__icontains=text)
            | Q(company__name__icontains=text)
            | Q(phone__icontains=text)
        )
        if len(phone_digits) >= 4:
            q |= Q(phone__contains=phone_digits)
        return self.filter(q)

    def with_next_follow_up(self):
        """Annotate `next_follow_up_at`: the earliest open follow-up (the one definition)."""
        from followups.models import FollowUp

        earliest = (
            FollowUp.objects.filter(contact=models.OuterRef("pk"), status="open")
            .order_by("due_at")
            .values("due_at")[:1]
        )
        return self.annotate(next_follow_up_at=models.Subquery(earliest))

    def for_list(self):
        """What the list page shows, in a constant number of queries."""
        return (
            self.select_related("company", "owner").prefetch_related("tags").with_next_follow_up()
        )


class CompanyQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Companies where `user` can see at least one contact."""
        if not _is_signed_in(user):
            return self.none()
        if user.is_admin:
            return self.all()
        from .models import Contact

        return self.filter(
            pk__in=Contact.objects.visible_to(user)
            .filter(company__isnull=False)
            .values("company_id")
        )
