"""The user's own preferences (language, time zone), and the manager's handover screen."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from contacts.models import Contact
from followups.models import FollowUp, Interaction

from . import handover
from .models import Handover, User
from .security import client_ip


@require_POST
def switch_language(request):
    """Switch the interface language; signed-in users keep it as their saved preference."""
    language = request.POST.get("language", "")
    if language not in dict(settings.LANGUAGES):
        language = settings.LANGUAGE_CODE
    next_url = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "/"
    if request.user.is_authenticated:
        request.user.language = language
        request.user.save(update_fields=["language"])
    translation.activate(language)
    response = HttpResponseRedirect(next_url)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME, language, max_age=365 * 24 * 3600, samesite="Lax"
    )
    return response


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["name_zh", "name_en", "email", "language", "time_zone"]


@login_required
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Your preferences were saved."))
        return redirect("profile")
    return render(request, "accounts/profile.html", {"form": form})


# --- handover: a manager's screen for a leaving rep ---


class HandoverForm(forms.Form):
    MODES = [
        ("one", gettext_lazy("Give everything to one member")),
        ("spread", gettext_lazy("Spread evenly among chosen members (companies stay together)")),
        ("pool", gettext_lazy("Release to the public pool")),
    ]
    departing = forms.ModelChoiceField(
        queryset=User.objects.none(), label=gettext_lazy("Leaving rep")
    )
    mode = forms.ChoiceField(
        choices=MODES, widget=forms.RadioSelect, initial="one", label=gettext_lazy("Where to")
    )
    targets = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(), required=False, label=gettext_lazy("New owners")
    )
    deactivate = forms.BooleanField(
        required=False, label=gettext_lazy("Deactivate the leaving rep now (ends their sessions)")
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        members = handover.members_managed_by(actor).exclude(pk=actor.pk).order_by("username")
        self.fields["departing"].queryset = members
        self.fields["targets"].queryset = members.filter(is_active=True)

    def clean(self):
        data = super().clean()
        mode, targets = data.get("mode"), list(data.get("targets") or [])
        if mode == "one" and len(targets) != 1:
            self.add_error("targets", _("Choose exactly one new owner."))
        if mode == "spread" and len(targets) < 2:
            self.add_error("targets", _("Choose at least two members to spread among."))
        if data.get("departing") in targets:
            self.add_error("targets", _("The leaving rep cannot take over their own customers."))
        return data

    def handover_kwargs(self):
        data = self.cleaned_data
        release = data["mode"] == "pool"
        return {
            "departing": data["departing"],
            "targets": [] if release else list(data["targets"]),
            "release_to_pool": release,
        }


@login_required
@require_http_methods(["GET", "POST"])
def handover_view(request):
    """Preview, then run, the handover of a leaving rep's customers."""
    if not (request.user.is_manager or request.user.is_admin):
        raise Http404
    form = HandoverForm(request.POST or None, actor=request.user)
    preview = None
    if request.method == "POST" and form.is_valid():
        try:
            if "confirm" in request.POST:
                result = handover.run_handover(
                    actor=request.user,
                    deactivate=form.cleaned_data["deactivate"],
                    ip_address=client_ip(request),
                    **form.handover_kwargs(),
                )
                messages.success(request, _("Handover done."))
                return redirect("handover_detail", pk=result.pk)
            preview = handover.plan_handover(actor=request.user, **form.handover_kwargs())
        except (PermissionDenied, ValidationError) as error:
            form.add_error(None, error.messages[0] if hasattr(error, "messages") else str(error))
    return render(request, "accounts/handover.html", {"form": form, "preview": preview})


@login_required
def handover_detail(request, pk):
    """The handover summary: per contact the viewer can see, its stage, last and next step."""
    record = get_object_or_404(Handover.objects.select_related("departing", "actor"), pk=pk)
    ids = [pk for ids in record.assignments.values() for pk in ids]
    contacts = (
        Contact.objects.visible_to(request.user)
        .filter(pk__in=ids)
        .for_list()
        .annotate(
            last_summary=Subquery(
                Interaction.objects.filter(contact=OuterRef("pk"))
                .order_by("-occurred_at")
                .values("summary")[:1]
            ),
            next_plan=Subquery(
                FollowUp.objects.filter(contact=OuterRef("pk"), status="open")
                .order_by("due_at")
                .values("plan")[:1]
            ),
        )
        .order_by("owner__username", "name")
    )
    if not contacts and not (request.user.is_admin or request.user == record.actor):
        raise Http404
    return render(
        request, "accounts/handover_detail.html", {"handover": record, "contacts": contacts}
    )
