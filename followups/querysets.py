"""Reads of interactions, follow-ups and notifications, scoped through the contact rule."""

from django.db import models


def _visible_contact_ids(user):
    from contacts.models import Contact

    return Contact.objects.visible_to(user).values("pk")


class InteractionQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Interactions of contacts the user may see, whoever wrote them."""
        return self.filter(contact_id__in=_visible_contact_ids(user))


class FollowUpQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(contact_id__in=_visible_contact_ids(user))

    def open(self):
        return self.filter(status="open")

    def assigned_to(self, user):
        return self.filter(assignee=user)


class NotificationQuerySet(models.QuerySet):
    def unread(self):
        return self.filter(read_at__isnull=True)
