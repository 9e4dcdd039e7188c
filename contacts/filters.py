"""The contact list's filters. Unknown parameters are ignored; invalid values are dropped."""

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Case, F, Value, When
from django.utils.translation import gettext_lazy as _

from .models import Channel, Contact, EmailStatus, Grade, PoolState, Stage, Tag, country_choices
from .querysets import owners_visible_to

SORT_FIELDS = (
    ("name", "name"),
    ("company__name", "company"),
    ("country", "country"),
    ("stage", "stage"),
    ("grade", "grade"),
    ("first_contact_date", "first_contact"),
    ("last_contacted_at", "last_contacted"),
    ("created_at", "created"),
)


class CalendarDateRangeField(django_filters.fields.DateRangeField):
    """Keep the typed dates as dates: django-filter's own field turns them into datetimes in the
    user's time zone, which the database then reads in the server's zone (one day off)."""

    def compress(self, data_list):
        return slice(*data_list) if data_list else None


class CalendarDateRangeFilter(django_filters.DateFromToRangeFilter):
    field_class = CalendarDateRangeField


STAGE_ORDER = Case(
    *(When(stage=value, then=Value(rank)) for rank, value in enumerate(Stage.values)),
    default=Value(len(Stage.values)),
)


class ContactOrderingFilter(django_filters.OrderingFilter):
    """Stages sort in pipeline order, and empty values always sort last."""

    def filter(self, qs, value):
        if not value:
            return qs
        ordering = []
        for param in value:
            descending = param.startswith("-")
            field = self.param_map.get(param.lstrip("-"))
            if field is None:
                continue
            expression = STAGE_ORDER if field == "stage" else F(field)
            ordering.append(
                expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)
            )
        return qs.order_by(*ordering)


class ContactFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_search", label=_("Search"))
    country = django_filters.MultipleChoiceFilter(
        choices=country_choices, label=_("Country/region")
    )
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices, label=_("Stage"))
    grade = django_filters.MultipleChoiceFilter(choices=Grade.choices, label=_("Interest grade"))
    channel = django_filters.MultipleChoiceFilter(choices=Channel.choices, label=_("Channel"))
    tags = django_filters.ModelMultipleChoiceFilter(
        queryset=Tag.objects.all(), method="filter_tags", label=_("Tags")
    )
    owner = django_filters.ModelChoiceFilter(queryset=None, label=_("Owner"))
    pool_state = django_filters.ChoiceFilter(choices=PoolState.choices, label=_("Pool"))
    email_status = django_filters.ChoiceFilter(
        choices=EmailStatus.choices, label=_("E-mail status")
    )
    health_min = django_filters.NumberFilter(
        field_name="health_score", lookup_expr="gte", label=_("Health score from")
    )
    health_max = django_filters.NumberFilter(
        field_name="health_score", lookup_expr="lte", label=_("Health score to")
    )
    first_contact = CalendarDateRangeFilter(
        field_name="first_contact_date",
        label=_("First contact"),
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )
    last_contact = CalendarDateRangeFilter(
        field_name="last_contacted_at__date",
        label=_("Last contact"),
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )
    sort = ContactOrderingFilter(fields=SORT_FIELDS, label=_("Sort by"))

    class Meta:
        model = Contact
        fields = []

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        # Choice fields only offer people whose contacts the user may see.
        owners = owners_visible_to(user)
        users = get_user_model().objects.filter(is_active=True)
        if owners is not None:
            users = users.filter(pk__in=owners)
        self.filters["owner"].queryset = users
        self.form.fields["owner"].queryset = users
        # Only tags in use on contacts the user can see.
        used = Contact.tags.through.objects.filter(
            contact_id__in=Contact.objects.visible_to(user).values("pk")
        ).values("tag_id")
        tags = Tag.objects.filter(pk__in=used)
        self.filters["tags"].queryset = tags
        self.form.fields["tags"].queryset = tags

    def filter_search(self, queryset, name, value):
        return queryset.search(value)

    def filter_tags(self, queryset, name, value):
        if not value:
            return queryset
        # A subquery instead of a join: no duplicates, no DISTINCT.
        through = Contact.tags.through.objects.filter(tag__in=value).values("contact_id")
        return queryset.filter(pk__in=through)
