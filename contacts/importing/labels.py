"""The import's codes in the user's language: column fields, rejection reasons, warnings.

The report keeps stable codes (`invalid_email`, `unknown_country`); pages and the downloadable
report show these texts instead. Field names are the contact model's own (translated) labels.
"""

from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

# Report field -> Contact model field whose label names it.
MODEL_FIELDS = {
    "name": "name",
    "company": "company",
    "country": "country",
    "email": "email",
    "phone": "phone",
    "job_title": "job_title",
    "linkedin_url": "linkedin_url",
    "channel": "channel",
    "first_contact_date": "first_contact_date",
    "first_product": "first_product",
    "stage": "stage",
    "grade": "grade",
    "purchase_cycle": "purchase_cycle",
    "last_contact_date": "last_contacted_at",
    "summary": "summary",
    "next_follow_up": "next_follow_up_plan",
    "tags": "tags",
    "owner": "owner",
    "referrer": "referrer",
    "notes": "notes",
    "other_emails": "other_emails",
}

REASONS = {
    "missing_email": _("No e-mail address: the row was not imported."),
    "invalid_email": _("No valid e-mail address: the row was not imported."),
    "duplicate_in_file": _(
        "The e-mail address is on an earlier row: no new contact, its values were added to the "
        "earlier row's contact."
    ),
    "unknown_country": _("Country or region not recognised: left empty."),
    "unparsed_phone": _("The phone number could not be read: kept as written."),
    "ambiguous_date": _("The date reads as day/month and as month/day: left empty."),
    "invalid_date": _("Not a date: left empty."),
    "unknown_stage": _("Stage not recognised: left empty."),
    "unknown_grade": _("Interest grade not recognised: left empty."),
    "unknown_channel": _("Acquisition channel not recognised: left empty."),
    "unknown_owner": _(
        "No CRM user has this name: the default owner, if one was chosen, owns the contact."
    ),
    "invalid_url": _("Not an http or https address: left empty."),
    "too_long": _("Longer than the field can hold: left empty."),
    "no_header_found": _(
        "No header row with an e-mail column in the first 30 rows: the sheet is not imported."
    ),
}


def field_label(name: str | None) -> str:
    """The translated label of a report field ("ignored" and unknown names as they are)."""
    if name == "ignored":
        return str(_("(not imported)"))
    model_field = MODEL_FIELDS.get(name or "")
    if model_field is None:
        return name or ""
    from contacts.models import Contact

    return str(capfirst(Contact._meta.get_field(model_field).verbose_name))


def reason_text(code: str | None) -> str:
    """A rejection reason or warning code as a sentence; an unknown code as it is."""
    text = REASONS.get(code or "")
    return str(text) if text is not None else (code or "")
