"""Writes that span models: saving a contact with its company and tags."""

from django.db import transaction

from .models import Company, Contact, Tag


def get_or_create_company(name, *, country=""):
    """One company per name, whatever its letter case."""
    if not name:
        return None
    company = Company.objects.filter(name__iexact=name).first()
    if company is None:
        company = Company.objects.create(name=name, country=country or "")
    return company


def set_tags(contact, names):
    tags = []
    for name in names:
        tag = Tag.objects.filter(name__iexact=name).first() or Tag.objects.create(name=name)
        tags.append(tag)
    contact.tags.set(tags)


@transaction.atomic
def save_contact(*, form, user) -> Contact:
    """Save a validated ContactForm: company by name, tags by name, owner by role."""
    contact = form.save(commit=False)
    data = form.cleaned_data
    contact.company = get_or_create_company(data.get("company_name"), country=contact.country)
    if contact.pk is None:
        contact.created_by = user
        if "owner" not in form.fields:  # reps own what they create
            contact.owner = user
    contact.full_clean(exclude=["owner", "company"])
    contact.save()
    set_tags(contact, data.get("tag_names") or [])
    return contact
