"""Admin pages for customer data, scoped by the same rule as every other page."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.http import HttpResponseRedirect
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from . import export_jobs
from .exporting import ExportError, export_contacts
from .models import Company, Contact, PoolPolicy, Tag
from .querysets import owners_visible_to


class ScopedAdminMixin:
    """The admin reads through visible_to(user) like every other path."""

    def get_queryset(self, request):
        return self.model.objects.visible_to(request.user)


@admin.register(Contact)
class ContactAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("email", "name", "company", "country", "stage", "grade", "owner", "pool_state")
    list_filter = ("stage", "grade", "channel", "pool_state", "email_status")
    search_fields = ("email", "name", "company__name", "phone")
    list_select_related = ("company", "owner")
    autocomplete_fields = ("company", "referred_by")
    filter_horizontal = ("tags",)
    readonly_fields = ("created_at", "updated_at", "created_by")
    actions = ("export_xlsx", "export_csv", "export_json")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "owner":
            users = get_user_model().objects.filter(is_active=True)
            owners = owners_visible_to(request.user)
            kwargs["queryset"] = users if owners is None else users.filter(pk__in=owners)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        # Deletion and erasure go through audited services, not the raw admin.
        return False

    @admin.action(description=_("Export selected (xlsx)"))
    def export_xlsx(self, request, queryset):
        return self.export_selected(request, queryset, "xlsx")

    @admin.action(description=_("Export selected (csv)"))
    def export_csv(self, request, queryset):
        return self.export_selected(request, queryset, "csv")

    @admin.action(description=_("Export selected (json)"))
    def export_json(self, request, queryset):
        return self.export_selected(request, queryset, "json")

    def export_selected(self, request, queryset, fmt):
        """The list page's export, audited, re-scoped here as well as in export_contacts."""
        from .views import export_response

        scoped = Contact.objects.visible_to(request.user).filter(pk__in=queryset.values("pk"))
        export = {
            "user": request.user,
            "queryset": scoped.order_by("-created_at", "-id"),
            "fmt": fmt,
            "language": get_language() or "",
            "filter_query": request.GET.urlencode(),
            "source": "admin",
            "ip_address": request.META.get("REMOTE_ADDR"),
        }
        try:
            if export_jobs.is_large(user=request.user, queryset=scoped):
                # Too many for one request: the job page shows progress and the download.
                job = export_jobs.start_export_job(**export)
                return HttpResponseRedirect(job.get_absolute_url())
            filename, content_type, content = export_contacts(**export)
        except ExportError as error:
            self.message_user(request, error.message, level=messages.ERROR)
            return None
        return export_response(filename, content_type, content)


@admin.register(Company)
class CompanyAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "country")
    search_fields = ("name",)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ("name",)


@admin.register(PoolPolicy)
class PoolPolicyAdmin(admin.ModelAdmin):
    """One row of rules; it cannot be deleted, only changed."""

    def has_add_permission(self, request):
        return not PoolPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
