"""Users, teams and roles, plus the audit log every sensitive action writes to."""

import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


def validate_time_zone(value):
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("Unknown time zone: %(zone)s"), params={"zone": value})


class Role(models.TextChoices):
    REP = "rep", _("Sales rep")
    MANAGER = "manager", _("Manager")
    ADMIN = "admin", _("Administrator")


class Team(models.Model):
    """A sales team: its members own contacts, its managers see and reassign them."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    managers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="managed_teams",
        blank=True,
        verbose_name=_("managers"),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self):
        return self.name


class User(AbstractUser):
    """A CRM user. Chinese and English names and aliases let legacy sheets name the owner."""

    name_zh = models.CharField(_("Chinese name"), max_length=100, blank=True)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    aliases = models.JSONField(_("aliases"), default=list, blank=True)
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.REP)
    team = models.ForeignKey(
        Team,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=_("team"),
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Asia/Shanghai", validators=[validate_time_zone]
    )
    language = models.CharField(
        _("language"), max_length=10, choices=settings.LANGUAGES, default="zh-hans"
    )

    objects = UserManager()

    class Meta:
        ordering = ["username"]
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self):
        return self.display_name

    @property
    def display_name(self):
        """The name colleagues know: Chinese name, else English name, else the username."""
        return self.name_zh or self.name_en or self.get_full_name() or self.username

    @property
    def is_admin(self):
        return self.is_active and (self.role == Role.ADMIN or self.is_superuser)

    @property
    def is_manager(self):
        return self.is_active and self.role == Role.MANAGER

    def has_perm(self, perm, obj=None):
        # The admin role runs the Django admin like a superuser; ModelAdmins still refuse
        # what must go through audited services (deletion, editing the audit log).
        return self.is_admin or super().has_perm(perm, obj)

    def has_module_perms(self, app_label):
        return self.is_admin or super().has_module_perms(app_label)

    def save(self, *args, **kwargs):
        # Admins use the Django admin; nobody else gets in there.
        if self.role == Role.ADMIN:
            self.is_staff = True
        elif not self.is_superuser:
            self.is_staff = False
        super().save(*args, **kwargs)


class AuditEntry(models.Model):
    """Who did what to how many records, and when. Never edited; holds ids, not personal data."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    action = models.CharField(_("action"), max_length=32, db_index=True)
    object_type = models.CharField(_("object type"), max_length=32)
    count = models.PositiveIntegerField(_("count"), default=0)
    object_ids = models.JSONField(_("object ids"), default=list, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.object_type} ×{self.count}"


class Handover(models.Model):
    """A departing rep's customers handed to colleagues or the pool, for the summary page."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    departing = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="handovers_out"
    )
    released_to_pool = models.BooleanField(default=False)
    deactivated = models.BooleanField(default=False)
    # target user id (or "pool") → contact ids
    assignments = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("handover")
        verbose_name_plural = _("handovers")

    def __str__(self):
        return f"handover {self.pk} from user {self.departing_id}"

    def contact_ids_for(self, user):
        return self.assignments.get(str(user.pk), [])


class AuditedObject(models.Model):
    """One object an audit entry touched, so a contact's page can show its history."""

    entry = models.ForeignKey(AuditEntry, on_delete=models.CASCADE, related_name="targets")
    object_type = models.CharField(max_length=32)
    object_id = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self):
        return f"{self.object_type} {self.object_id}"
