"""Create/edit forms. Values go through the same normalisers as the spreadsheet import."""

import zoneinfo

from django import forms
from django.contrib.auth import get_user_model
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from . import normalizers
from .models import Contact, PoolState, country_choices
from .querysets import owners_visible_to


class ContactForm(forms.ModelForm):
    company_name = forms.CharField(label=_("Company name"), required=False, max_length=255)
    tag_names = forms.CharField(
        label=_("Tags"),
        required=False,
        help_text=_("Separate tags with commas, e.g. North America, LED, Distributor."),
    )
    country = forms.TypedChoiceField(
        label=_("Country/region"), choices=(), required=False, empty_value=""
    )

    class Meta:
        model = Contact
        fields = [
            "name",
            "email",
            "other_emails",
            "phone",
            "country",
            "time_zone",
            "job_title",
            "linkedin_url",
            "channel",
            "first_contact_date",
            "first_product",
            "referrer",
            "inquiry_text",
            "stage",
            "grade",
            "purchase_cycle",
            "summary",
            "next_follow_up_plan",
            "notes",
            "owner",
            "consent_basis",
            "consent_source",
            "consent_date",
        ]
        widgets = {
            "first_contact_date": forms.DateInput(attrs={"type": "date"}),
            "consent_date": forms.DateInput(attrs={"type": "date"}),
            "inquiry_text": forms.Textarea(attrs={"rows": 4}),
            "summary": forms.Textarea(attrs={"rows": 3}),
            "next_follow_up_plan": forms.Textarea(attrs={"rows": 2}),
            "notes": forms.Textarea(attrs={"rows": 3}),
            "email": forms.TextInput(attrs={"autocomplete": "off"}),
            "linkedin_url": forms.TextInput(),
        }

    other_emails = forms.CharField(
        label=_("Other e-mail addresses"),
        required=False,
        help_text=_("Separate several addresses with commas."),
    )
    linkedin_url = forms.CharField(label=_("LinkedIn URL"), required=False, max_length=500)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["country"].choices = [("", "---------"), *country_choices()]
        if self.instance.pk:
            self.initial.setdefault("company_name", getattr(self.instance.company, "name", ""))
            self.initial.setdefault(
                "tag_names", ", ".join(t.name for t in self.instance.tags.all())
            )
            self.initial["other_emails"] = ", ".join(self.instance.other_emails or [])
        owners = owners_visible_to(user)
        if self.instance.pk and self.instance.pool_state == PoolState.PUBLIC:
            # A pool contact has no owner; it leaves the pool by being claimed or reassigned.
            del self.fields["owner"]
        elif owners is None or user.is_manager:
            users = get_user_model().objects.filter(is_active=True)
            if owners is not None:
                users = users.filter(pk__in=owners)
            self.fields["owner"].queryset = users
            self.fields["owner"].required = True
            self.fields["owner"].initial = self.instance.owner_id or user.pk
        else:
            # A rep always owns what they create or edit.
            del self.fields["owner"]

    # --- field cleaning through the shared normalisers ---

    def clean_email(self):
        email = normalizers.normalize_email(self.cleaned_data.get("email"))
        if not email:
            raise forms.ValidationError(_("Enter a valid e-mail address."))
        clash = Contact.objects.filter(email__iexact=email).exclude(pk=self.instance.pk)
        existing = clash.select_related("owner").first()
        if existing is not None:
            raise forms.ValidationError(self._duplicate_message(existing))
        return email

    def _duplicate_message(self, existing):
        """Say who holds the address; show the record only if the user may see it."""
        if Contact.objects.visible_to(self.user).filter(pk=existing.pk).exists():
            return format_html(
                '{} <a href="{}">{}</a>',
                _("A contact with this e-mail already exists:"),
                existing.get_absolute_url(),
                existing,
            )
        if existing.owner is None:
            return _("This e-mail address is already taken by a contact in the public pool.")
        return _("This e-mail address is already taken by %(owner)s.") % {
            "owner": existing.owner.display_name
        }

    def clean_other_emails(self):
        raw = self.cleaned_data.get("other_emails") or ""
        primary, others, error = normalizers.normalize_emails(raw)
        if error == "invalid_email":
            raise forms.ValidationError(_("Enter valid e-mail addresses, separated by commas."))
        return [e for e in [primary, *others] if e]

    def clean_phone(self):
        raw = self.cleaned_data.get("phone")
        result = normalizers.normalize_phone(raw, self.data.get(self.add_prefix("country")) or None)
        if result.warning:
            raise forms.ValidationError(
                _(
                    "This is not a valid phone number. Use the international format "
                    "(+86 138 0013 8000) or choose the country first."
                )
            )
        return result.value or ""

    def clean_linkedin_url(self):
        result = normalizers.normalize_linkedin_url(self.cleaned_data.get("linkedin_url"))
        if result.warning:
            raise forms.ValidationError(_("Enter a web address starting with http:// or https://."))
        return result.value or ""

    def clean_time_zone(self):
        value = (self.cleaned_data.get("time_zone") or "").strip()
        if value and value not in zoneinfo.available_timezones():
            raise forms.ValidationError(_("Unknown time zone, e.g. Europe/Berlin."))
        return value

    def clean_tag_names(self):
        return normalizers.normalize_tags(self.cleaned_data.get("tag_names"))

    def clean_company_name(self):
        return normalizers.normalize_text(self.cleaned_data.get("company_name")) or ""
