"""The start page: a small overview of what the user can see."""

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import render

from contacts.models import Contact, Stage


@login_required
def dashboard(request):
    visible = Contact.objects.visible_to(request.user)
    by_stage = dict(
        visible.exclude(stage="").values_list("stage").annotate(n=Count("id")).order_by()
    )
    context = {
        "total": visible.count(),
        "stages": [(value, label, by_stage.get(value, 0)) for value, label in Stage.choices],
        "recent": visible.for_list().order_by("-created_at", "-id")[:10],
    }
    return render(request, "dashboard.html", context)
