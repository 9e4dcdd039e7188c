"""Mailbox settings for admins, and read-only views of what the sync read and what was sent."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from .models import Bounce, IncomingMessage, Mailbox, OutgoingMessage


class MailboxForm(forms.ModelForm):
    """The password is write-only: typed in, stored encrypted, never shown again."""

    password = forms.CharField(
        label=_("Password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Stored encrypted. Leave empty to keep the current password."),
    )

    class Meta:
        model = Mailbox
        fields = ["name", "host", "port", "security", "username", "folders", "is_active"]

    def clean_folders(self):
        folders = self.cleaned_data["folders"]
        if (
            not isinstance(folders, list)
            or not folders
            or not all(isinstance(f, str) and f.strip() for f in folders)
        ):
            raise forms.ValidationError(_('Give a list of folder names, e.g. ["INBOX"].'))
        if any(ch in f for f in folders for ch in "\r\n\x00"):
            raise forms.ValidationError(_("Folder names may not contain line breaks."))
        return [f.strip() for f in folders]

    def clean(self):
        data = super().clean()
        if not self.instance.password_encrypted and not data.get("password"):
            self.add_error("password", _("Enter the mailbox password."))
        return data

    def save(self, commit=True):
        mailbox = super().save(commit=False)
        if self.cleaned_data.get("password"):
            mailbox.set_password(self.cleaned_data["password"])
        if commit:
            mailbox.save()
        return mailbox


class AdminsOnly:
    """Mailbox settings and the mail itself are for admins only (whatever else is staff)."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_admin

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_admin


@admin.register(Mailbox)
class MailboxAdmin(AdminsOnly, admin.ModelAdmin):
    form = MailboxForm
    list_display = ("name", "username", "host", "is_active", "last_synced_at", "last_error_short")
    list_filter = ("is_active",)
    readonly_fields = ("last_synced_at", "last_error", "last_error_at")
    actions = ("sync_now",)

    @admin.display(description=_("last error"))
    def last_error_short(self, obj):
        return (obj.last_error or "")[:120]

    @admin.action(description=_("Sync the selected mailboxes now"))
    def sync_now(self, request, queryset):
        from .tasks import sync_one_mailbox

        ids = list(queryset.filter(is_active=True).values_list("pk", flat=True))
        for mailbox_id in ids:
            sync_one_mailbox.delay(mailbox_id)
        messages.info(request, _("%(count)s mailboxes queued for a sync.") % {"count": len(ids)})

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_admin

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_admin

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_admin


class ReadOnlyAdmin(AdminsOnly, admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(IncomingMessage)
class IncomingMessageAdmin(ReadOnlyAdmin):
    list_display = (
        "received_at",
        "mailbox",
        "kind",
        "sender",
        "subject",
        "failed_recipient",
        "status_code",
        "contact",
        "matched",
        "quarantined",
    )
    list_filter = ("kind", "matched", "quarantined", "mailbox", "folder")
    search_fields = ("sender", "subject", "failed_recipient", "message_id")
    list_select_related = ("mailbox", "contact")
    date_hierarchy = "received_at"


@admin.register(Bounce)
class BounceAdmin(ReadOnlyAdmin):
    list_display = ("bounced_at", "email", "kind", "status_code", "contact", "counted", "applied")
    list_filter = ("kind", "counted", "applied")
    search_fields = ("email", "status_code", "diagnostic")
    list_select_related = ("contact",)


@admin.register(OutgoingMessage)
class OutgoingMessageAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "purpose", "to_email", "subject", "sent_at", "contact")
    list_filter = ("purpose",)
    search_fields = ("to_email", "message_id", "subject")
    list_select_related = ("contact",)
