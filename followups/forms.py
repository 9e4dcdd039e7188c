"""Forms for the one-minute habit: log what happened, plan what comes next."""

import datetime

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import InteractionKind
from .services import due_moment

DATE = forms.DateInput(attrs={"type": "date"})
TIME = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
# Due dates a time zone can convert both ways: 9999-12-31 in a zone behind UTC, or 0001-01-01
# ahead of it, would overflow when the due moment is computed (a 500 instead of a field error).
FIRST_DUE_DATE = datetime.date(1900, 1, 1)
LAST_DUE_DATE = datetime.date(9998, 12, 31)


class DueDateField(forms.DateField):
    default_validators = [
        MinValueValidator(FIRST_DUE_DATE, _("Enter a date no earlier than %(limit_value)s.")),
        MaxValueValidator(LAST_DUE_DATE, _("Enter a date no later than %(limit_value)s.")),
    ]

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", DATE)
        super().__init__(**kwargs)


class NextStepMixin(forms.Form):
    """Optional 'next follow-up' fields: a plan and a date, with an optional time."""

    next_plan = forms.CharField(label=_("Next follow-up"), max_length=500, required=False)
    next_due_date = DueDateField(label=_("Due date"), required=False)
    next_due_time = forms.TimeField(label=_("Time"), required=False, widget=TIME)

    def clean(self):
        data = super().clean()
        plan, day = data.get("next_plan"), data.get("next_due_date")
        if plan and not day:
            self.add_error("next_due_date", _("Choose when to follow up."))
        elif day and not plan:
            self.add_error("next_plan", _("Say what the next step is."))
        return data

    def next_due_at(self, user):
        day = self.cleaned_data.get("next_due_date")
        if not (self.cleaned_data.get("next_plan") and day):
            return None
        return due_moment(day=day, at=self.cleaned_data.get("next_due_time"), user=user)

    @property
    def next_all_day(self):
        return not self.cleaned_data.get("next_due_time")


class QuickLogForm(NextStepMixin):
    field_order = ["kind", "summary", "body", "occurred_at", "next_plan", "next_due_date"]

    kind = forms.ChoiceField(label=_("Kind"), choices=InteractionKind.choices, initial="email_out")
    summary = forms.CharField(label=_("Summary"), max_length=500)
    body = forms.CharField(
        label=_("Details"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    occurred_at = forms.DateTimeField(
        label=_("When"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Leave empty for now."),
    )

    def clean_occurred_at(self):
        value = self.cleaned_data.get("occurred_at")
        if value and value > timezone.now() + datetime.timedelta(minutes=5):
            raise forms.ValidationError(_("An interaction cannot be in the future."))
        return value


class CompleteForm(NextStepMixin):
    field_order = ["note", "log_kind", "next_plan", "next_due_date", "next_due_time"]

    note = forms.CharField(label=_("What happened"), max_length=500, required=False)
    log_kind = forms.ChoiceField(
        label=_("Log it as"),
        choices=[("", _("Do not log")), *InteractionKind.choices],
        required=False,
    )


class RescheduleForm(forms.Form):
    due_date = DueDateField(label=_("Due date"))
    due_time = forms.TimeField(label=_("Time"), required=False, widget=TIME)

    def due_at(self, user):
        return due_moment(
            day=self.cleaned_data["due_date"], at=self.cleaned_data.get("due_time"), user=user
        )


class PlanForm(forms.Form):
    plan = forms.CharField(label=_("Plan"), max_length=500)
    due_date = DueDateField(label=_("Due date"))
    due_time = forms.TimeField(label=_("Time"), required=False, widget=TIME)
