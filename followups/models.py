"""The running story of a customer: interactions logged, follow-ups planned, reminders sent."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from .querysets import FollowUpQuerySet, InteractionQuerySet, NotificationQuerySet


class InteractionKind(models.TextChoices):
    EMAIL_IN = "email_in", _("E-mail received")
    EMAIL_OUT = "email_out", _("E-mail sent")
    CALL = "call", _("Call")
    MEETING = "meeting", _("Meeting")
    CHAT = "chat", _("Chat / IM")
    NOTE = "note", _("Note")
    INQUIRY = "inquiry", _("Inquiry")
    TRADE_FAIR = "trade_fair", _("Trade-fair meeting")


class Interaction(models.Model):
    """One e-mail, call, meeting, chat, note or inquiry with a customer. Edits keep a history."""

    contact = models.ForeignKey(
        "contacts.Contact",
        on_delete=models.CASCADE,
        related_name="interactions",
        verbose_name=_("customer"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=InteractionKind.choices)
    occurred_at = models.DateTimeField(_("when"), db_index=True)
    summary = models.CharField(_("summary"), max_length=500)
    body = models.TextField(_("details"), blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="interactions",
        verbose_name=_("author"),
    )
    created_at = models.DateTimeField(_("logged"), auto_now_add=True)
    edited_at = models.DateTimeField(_("last edited"), null=True, blank=True)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("last edited by"),
    )

    objects = InteractionQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        indexes = [models.Index(fields=["contact", "-occurred_at"])]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.summary}"


class InteractionRevision(models.Model):
    """The values an interaction had before an edit, with who changed them and when."""

    interaction = models.ForeignKey(Interaction, on_delete=models.CASCADE, related_name="revisions")
    kind = models.CharField(max_length=16, choices=InteractionKind.choices)
    occurred_at = models.DateTimeField()
    summary = models.CharField(max_length=500)
    body = models.TextField(blank=True)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    edited_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-edited_at", "-id"]

    def __str__(self):
        return f"revision of interaction {self.interaction_id} at {self.edited_at:%Y-%m-%d %H:%M}"


class FollowUpStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class FollowUp(models.Model):
    """A planned next step with a customer, due at a moment in the assignee's time zone."""

    contact = models.ForeignKey(
        "contacts.Contact",
        on_delete=models.CASCADE,
        related_name="follow_ups",
        verbose_name=_("customer"),
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="follow_ups",
        verbose_name=_("assignee"),
    )
    due_at = models.DateTimeField(_("due"))
    all_day = models.BooleanField(
        _("all day"), default=False, help_text=_("Due on a date rather than at a time.")
    )
    plan = models.CharField(_("plan"), max_length=500)
    status = models.CharField(
        _("status"), max_length=10, choices=FollowUpStatus.choices, default=FollowUpStatus.OPEN
    )
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    completion_note = models.TextField(_("completion note"), blank=True)
    # The due time a reminder has been issued for; a new due time earns a new reminder.
    reminded_for = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = FollowUpQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "id"]
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        indexes = [
            # The reminder sweep: open follow-ups whose due time has come and is not reminded.
            models.Index(
                fields=["due_at"],
                name="followup_due_unreminded",
                condition=Q(status="open")
                & (Q(reminded_for__isnull=True) | ~Q(reminded_for=F("due_at"))),
            ),
            models.Index(fields=["assignee", "status", "due_at"]),
            models.Index(fields=["contact", "status", "due_at"]),
        ]

    def __str__(self):
        return self.plan

    @property
    def is_open(self):
        return self.status == FollowUpStatus.OPEN


class Reminder(models.Model):
    """One reminder per follow-up per due time: the unique pair is the delivery key."""

    follow_up = models.ForeignKey(FollowUp, on_delete=models.CASCADE, related_name="reminders")
    due_at = models.DateTimeField()
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["follow_up", "due_at"], name="one_reminder_per_due_time"
            )
        ]
        indexes = [
            models.Index(
                fields=["id"],
                name="reminder_email_pending",
                condition=Q(email_sent_at__isnull=True),
            )
        ]

    def __str__(self):
        return f"reminder for follow-up {self.follow_up_id} due {self.due_at:%Y-%m-%d %H:%M}"


class Notification(models.Model):
    """An in-app message behind the bell."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    reminder = models.OneToOneField(
        Reminder, on_delete=models.CASCADE, null=True, blank=True, related_name="notification"
    )
    follow_up = models.ForeignKey(
        FollowUp, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    handover = models.ForeignKey(
        "accounts.Handover", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    text = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["user"], name="notification_unread", condition=Q(read_at__isnull=True)
            )
        ]

    def __str__(self):
        return self.text or f"notification {self.pk}"


class DigestDelivery(models.Model):
    """The daily digest for a user and a local date: at most one, even with two beats."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    local_date = models.DateField()
    item_count = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "local_date"], name="one_digest_per_day")
        ]

    def __str__(self):
        return f"digest for user {self.user_id} on {self.local_date}"


def new_calendar_token():
    return secrets.token_urlsafe(32)


class CalendarFeed(models.Model):
    """The secret behind a user's calendar subscription URL; resetting it revokes the old URL."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    token = models.CharField(max_length=64, unique=True, default=new_calendar_token)
    created_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"calendar feed of user {self.user_id}"
