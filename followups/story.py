"""What the contact page shows of a customer's story: timeline, open follow-ups, quick log."""

from django.core.paginator import Paginator

from contacts.models import Contact

from .forms import QuickLogForm
from .models import FollowUp, Interaction, InteractionKind

TIMELINE_PAGE_SIZE = 20


def story_context(contact, user, *, kind="", page_number=1, quick_log_form=None):
    """Everything the contact page shows about interactions and follow-ups."""
    interactions = (
        Interaction.objects.visible_to(user)
        .filter(contact=contact)
        .select_related("author", "edited_by")
    )
    if kind in InteractionKind.values:
        interactions = interactions.filter(kind=kind)
    follow_ups = (
        FollowUp.objects.visible_to(user)
        .filter(contact=contact)
        .select_related("assignee")
        .order_by("status", "due_at")
    )
    return {
        "contact": contact,
        "timeline": Paginator(interactions, TIMELINE_PAGE_SIZE).get_page(page_number),
        "timeline_kind": kind,
        "kinds": InteractionKind.choices,
        "follow_ups": [f for f in follow_ups if f.is_open],
        "closed_follow_ups": [f for f in follow_ups if not f.is_open][:10],
        "quick_log_form": quick_log_form or QuickLogForm(),
        "can_edit": Contact.objects.editable_by(user).filter(pk=contact.pk).exists(),
    }
