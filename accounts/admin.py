from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from .models import AuditEntry, Team, User
from .security import client_ip


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "name_zh", "name_en", "role", "team", "is_active")
    list_filter = ("role", "team", "is_active")
    search_fields = ("username", "name_zh", "name_en", "email")
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        (
            _("Trade CRM"),
            {"fields": ("name_zh", "name_en", "aliases", "role", "team", "time_zone", "language")},
        ),
    )
    add_fieldsets = (
        *BaseUserAdmin.add_fieldsets,
        (
            _("Trade CRM"),
            {"fields": ("name_zh", "name_en", "role", "team", "time_zone", "language")},
        ),
    )

    def save_model(self, request, obj, form, change):
        # accounts.security audits a role change with these, and ends a deactivated user's
        # sessions, whoever saves the user.
        obj._audit_actor = request.user
        obj._audit_ip = client_ip(request)
        super().save_model(request, obj, form, change)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name",)
    filter_horizontal = ("managers",)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: nobody edits the audit log, superusers included."""

    list_display = ("created_at", "actor", "action", "object_type", "count", "ip_address")
    list_filter = (
        "action",
        "object_type",
        ("actor", admin.RelatedOnlyFieldListFilter),
        "created_at",
    )
    list_select_related = ("actor",)
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
