"""Mailboxes, ingested messages, bounces and the mail the CRM sent (see the mailbox issue).

An IncomingMessage is keyed twice: by its place on the server (mailbox, folder, UIDVALIDITY,
UID) and by what it is (its Message-ID, or the SHA-256 of its bytes when it has none). A sync
that crashed, a re-sync after UIDVALIDITY changed, or a copy of the same message in a second
folder therefore never ingests a message twice.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from . import crypto


def strip_nul(instance):
    """PostgreSQL text cannot hold NUL: mail is bad input, so text fields lose it on save."""
    for field in instance._meta.concrete_fields:
        if isinstance(field, models.CharField | models.TextField):
            value = getattr(instance, field.attname)
            if isinstance(value, str) and "\x00" in value:
                setattr(instance, field.attname, value.replace("\x00", ""))


def default_folders():
    return ["INBOX"]


class Security(models.TextChoices):
    SSL = "ssl", _("SSL/TLS (IMAPS, usually port 993)")
    STARTTLS = "starttls", _("STARTTLS (usually port 143)")
    NONE = "none", _("None (only for a server on this machine)")


class Mailbox(models.Model):
    """An IMAP mailbox the CRM reads (never changes): bounces, auto-replies, customer replies."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    host = models.CharField(_("IMAP host"), max_length=255)
    port = models.PositiveIntegerField(_("port"), default=993)
    security = models.CharField(
        _("connection security"), max_length=10, choices=Security.choices, default=Security.SSL
    )
    username = models.CharField(_("user name"), max_length=255)
    password_encrypted = models.TextField(_("password (encrypted)"), blank=True, editable=False)
    folders = models.JSONField(
        _("folders"),
        default=default_folders,
        help_text=_('The folders to read, e.g. ["INBOX"]. Nothing is ever moved or deleted.'),
    )
    is_active = models.BooleanField(_("active"), default=True)
    last_synced_at = models.DateTimeField(_("last synced"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("mailbox")
        verbose_name_plural = _("mailboxes")

    def __str__(self):
        return self.name

    def set_password(self, raw_password: str):
        self.password_encrypted = crypto.encrypt(raw_password) if raw_password else ""

    def get_password(self) -> str:
        """The IMAP password; raises crypto.InvalidToken when the key no longer opens it."""
        return crypto.decrypt(self.password_encrypted) if self.password_encrypted else ""


class MailboxFolderState(models.Model):
    """How far one folder has been read: UIDs are only meaningful under one UIDVALIDITY."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="folder_states")
    folder = models.CharField(_("folder"), max_length=255)
    uidvalidity = models.BigIntegerField(_("UIDVALIDITY"), null=True, blank=True)
    last_uid = models.BigIntegerField(_("last UID read"), default=0)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("folder state")
        verbose_name_plural = _("folder states")
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "folder"], name="one_state_per_folder"),
        ]

    def __str__(self):
        return f"{self.mailbox_id}:{self.folder} @{self.uidvalidity}/{self.last_uid}"


class MessageKind(models.TextChoices):
    HARD_BOUNCE = "hard_bounce", _("Hard bounce")
    SOFT_BOUNCE = "soft_bounce", _("Soft bounce")
    AUTO_REPLY = "auto_reply", _("Auto-reply")
    HUMAN_REPLY = "human_reply", _("Reply")
    OTHER = "other", _("Other")
    QUARANTINED = "quarantined", _("Quarantined (unreadable)")


class IncomingMessage(models.Model):
    """One message read from a mailbox, what it was classified as, and what it was matched to."""

    mailbox = models.ForeignKey(
        Mailbox, on_delete=models.CASCADE, related_name="messages", verbose_name=_("mailbox")
    )
    folder = models.CharField(_("folder"), max_length=255)
    uidvalidity = models.BigIntegerField(_("UIDVALIDITY"))
    uid = models.BigIntegerField(_("UID"))
    message_id = models.CharField(_("Message-ID"), max_length=998, blank=True)
    raw_sha256 = models.CharField(_("SHA-256 of the message"), max_length=64)
    size = models.PositiveIntegerField(_("size (bytes)"), default=0)
    received_at = models.DateTimeField(_("received"), db_index=True)
    sender = models.CharField(_("sender"), max_length=254, blank=True, db_index=True)
    sender_name = models.CharField(_("sender name"), max_length=255, blank=True)
    subject = models.CharField(_("subject"), max_length=500, blank=True)
    body_text = models.TextField(_("reply text"), blank=True)
    # Message-ID tokens of mail the CRM sent that this message refers to (threading, VERP,
    # the returned original inside a bounce).
    outgoing_tokens = models.JSONField(_("CRM messages referred to"), default=list, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=MessageKind.choices, db_index=True)
    failed_recipient = models.CharField(_("failed recipient"), max_length=254, blank=True)
    status_code = models.CharField(_("status code"), max_length=16, blank=True)
    diagnostic = models.TextField(_("diagnostic"), blank=True)
    return_date = models.DateField(_("back on"), null=True, blank=True)
    is_delay_warning = models.BooleanField(_("delay warning"), default=False)
    contact = models.ForeignKey(
        "contacts.Contact",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="incoming_messages",
        verbose_name=_("customer"),
    )
    matched = models.BooleanField(_("matched"), default=False, db_index=True)
    quarantined = models.BooleanField(_("quarantined"), default=False)
    error = models.TextField(_("error"), blank=True)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)
    # Set when a person dealt with an unmatched message (attached, created a contact, dismissed).
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    created_at = models.DateTimeField(_("ingested"), auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("incoming message")
        verbose_name_plural = _("incoming messages")
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "folder", "uidvalidity", "uid"], name="incoming_once_per_uid"
            ),
            models.UniqueConstraint(
                fields=["mailbox", "message_id"],
                condition=~Q(message_id=""),
                name="incoming_once_per_message_id",
            ),
            models.UniqueConstraint(
                fields=["mailbox", "raw_sha256"],
                condition=Q(message_id=""),
                name="incoming_once_per_digest_without_message_id",
            ),
        ]
        indexes = [
            models.Index(
                fields=["-received_at"],
                name="incoming_unmatched_replies",
                condition=Q(matched=False, kind="human_reply", resolved_at__isnull=True),
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.subject or self.message_id or self.uid}"

    def save(self, *args, **kwargs):
        strip_nul(self)
        super().save(*args, **kwargs)


class BounceKind(models.TextChoices):
    HARD = "hard", _("Hard")
    SOFT = "soft", _("Soft")


class Bounce(models.Model):
    """A delivery failure reported for an address, kept on the contact it belongs to."""

    contact = models.ForeignKey(
        "contacts.Contact",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="bounces",
        verbose_name=_("customer"),
    )
    email = models.CharField(_("e-mail address"), max_length=254, db_index=True)
    kind = models.CharField(_("kind"), max_length=4, choices=BounceKind.choices)
    status_code = models.CharField(_("status code"), max_length=16, blank=True)
    diagnostic = models.TextField(_("diagnostic"), blank=True)
    bounced_at = models.DateTimeField(_("bounced"), db_index=True)
    incoming = models.OneToOneField(
        IncomingMessage,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="bounce",
        verbose_name=_("message"),
    )
    outgoing = models.ForeignKey(
        "OutgoingMessage",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="bounces",
        verbose_name=_("message sent"),
    )
    # A soft bounce counts towards "N within D days"; a delay warning ("still trying") does not.
    counted = models.BooleanField(_("counted"), default=False)
    # Its effect on the contact has been applied (status, follow-up).
    applied = models.BooleanField(_("applied"), default=False)
    follow_up = models.ForeignKey(
        "followups.FollowUp",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("fix e-mail follow-up"),
    )
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    class Meta:
        ordering = ["-bounced_at", "-id"]
        verbose_name = _("bounce")
        verbose_name_plural = _("bounces")
        indexes = [
            models.Index(fields=["contact", "kind", "bounced_at"]),
            models.Index(fields=["id"], name="bounce_unapplied", condition=Q(applied=False)),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.email} {self.status_code}".strip()

    def save(self, *args, **kwargs):
        strip_nul(self)
        super().save(*args, **kwargs)


class Purpose(models.TextChoices):
    REMINDER = "reminder", _("Reminder")
    ONE_OFF = "one_off", _("One-off e-mail")
    CAMPAIGN = "campaign", _("Campaign")


class OutgoingMessage(models.Model):
    """An e-mail the CRM sent: its Message-ID and return path let a bounce or reply find it."""

    token = models.CharField(max_length=32, unique=True, editable=False)
    message_id = models.CharField(_("Message-ID"), max_length=255, unique=True)
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices)
    contact = models.ForeignKey(
        "contacts.Contact",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="outgoing_messages",
        verbose_name=_("customer"),
    )
    to_email = models.CharField(_("to"), max_length=254, db_index=True)
    subject = models.CharField(_("subject"), max_length=500, blank=True)
    envelope_sender = models.CharField(_("return path"), max_length=254, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("sent by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("sent message")
        verbose_name_plural = _("sent messages")

    def __str__(self):
        return self.message_id
