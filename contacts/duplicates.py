"""Probable duplicates: two records that are likely the same customer.

Each finder is one grouped query (or an index lookup on the case-insensitive e-mail key), so
the cost grows with the number of contacts, not its square. Both records of a pair come from
the queryset the caller passes (always a `visible_to`/`editable_by` scope): a duplicate the
user may not see is never hinted at.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from django.db import connections
from django.db.models import CharField, Count, F, Window
from django.db.models.functions import Cast, Lower, Trim
from django.utils.translation import gettext_lazy

# Reason codes
OTHER_EMAIL = "other_email"  # one's address is among the other's other e-mail addresses
PHONE = "phone"  # the same phone number (E.164)
NAME_COMPANY = "name_company"  # the same name (case and spaces aside) at the same company

REASON_LABELS = {
    OTHER_EMAIL: gettext_lazy("address among the other's e-mail addresses"),
    PHONE: gettext_lazy("same phone"),
    NAME_COMPANY: gettext_lazy("same name and company"),
}

LOOKUP_CHUNK = 1000


@dataclasses.dataclass
class DuplicatePair:
    """Two contacts (first: the older record) and why they look like one customer."""

    first_id: int
    second_id: int
    reasons: set = dataclasses.field(default_factory=set)
    first: object = None
    second: object = None

    @property
    def reason_labels(self):
        return [REASON_LABELS[code] for code in sorted(self.reasons)]


def _star_pairs(groups):
    """A group of k records gives k-1 pairs, each with the group's oldest record."""
    for ids in groups:
        ids = sorted(set(ids))
        for other in ids[1:]:
            yield ids[0], other


def _grouped_ids(queryset, **keys):
    """Ids of the records sharing all `keys` (name -> expression) with another record, grouped.

    One query: a window count per key partition, keeping the rows whose partition has two or
    more records. Empty keys (blank text, no company) never match.
    """
    keyed = queryset.annotate(**keys)
    for name in keys:
        keyed = keyed.exclude(**{f"{name}__isnull": True}).exclude(**{name: ""})
    names = list(keys)
    rows = (
        keyed.annotate(dup_count=Window(Count("pk"), partition_by=[F(n) for n in names]))
        .filter(dup_count__gt=1)
        .order_by(*names, "pk")
        .values_list(*names, "pk")
    )
    groups = defaultdict(list)
    for *key, pk in rows:
        groups[tuple(key)].append(pk)
    return groups.values()


def same_phone(queryset):
    return _star_pairs(_grouped_ids(queryset, phone_key=F("phone")))


def same_name_and_company(queryset):
    return _star_pairs(
        _grouped_ids(
            queryset,
            name_key=Lower(Trim("name")),
            company_key=Cast("company_id", output_field=CharField()),
        )
    )


def address_in_other_emails(queryset):
    """Pairs where one record's address is listed among the other's other e-mail addresses."""
    if connections[queryset.db].vendor == "postgresql":
        return _other_email_pairs_sql(queryset)
    return _other_email_pairs_python(queryset)


def _other_email_pairs_sql(queryset):
    """One self-join: each listed address against the unique index on lower(email)."""
    connection = connections[queryset.db]
    table = connection.ops.quote_name(queryset.model._meta.db_table)
    scope, params = queryset.order_by().values("pk").query.sql_with_params()
    sql = f"""
        SELECT DISTINCT LEAST(h.id, o.id), GREATEST(h.id, o.id)
        FROM {table} h
        CROSS JOIN LATERAL jsonb_array_elements_text(
            CASE WHEN jsonb_typeof(h.other_emails) = 'array' THEN h.other_emails
                 ELSE '[]'::jsonb END
        ) AS listed(address)
        JOIN {table} o ON lower(o.email) = lower(btrim(listed.address)) AND o.id <> h.id
        WHERE h.other_emails <> '[]'::jsonb AND h.id IN ({scope}) AND o.id IN ({scope})
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, (*params, *params))
        return [tuple(row) for row in cursor.fetchall()]


def _other_email_pairs_python(queryset):
    """The same for other databases (SQLite, the embedded default): the records with other
    addresses are read, then their addresses looked up through the index in chunks."""
    holders = defaultdict(set)  # address -> ids of records listing it
    rows = queryset.exclude(other_emails=[]).values_list("pk", "other_emails").order_by("pk")
    for pk, others in rows.iterator(chunk_size=2000):
        for address in others if isinstance(others, list) else ():
            if isinstance(address, str) and address.strip():
                holders[address.strip().lower()].add(pk)
    addresses = sorted(holders)
    pairs = set()
    for start in range(0, len(addresses), LOOKUP_CHUNK):
        owners = (
            queryset.annotate(email_key=Lower("email"))
            .filter(email_key__in=addresses[start : start + LOOKUP_CHUNK])
            .order_by()
            .values_list("email_key", "pk")
        )
        for address, pk in owners:
            pairs.update((min(pk, h), max(pk, h)) for h in holders[address] if h != pk)
    return sorted(pairs)


FINDERS = (
    (OTHER_EMAIL, address_in_other_emails),
    (PHONE, same_phone),
    (NAME_COMPANY, same_name_and_company),
)


def probable_duplicates(queryset, *, limit=None, with_contacts=True):
    """Pairs of probable duplicates in `queryset`, oldest first, each with its reason codes.

    `limit` caps the pairs returned; `with_contacts` loads both records of each pair (company
    and owner too) in one more query.
    """
    pairs: dict[tuple[int, int], DuplicatePair] = {}
    for reason, finder in FINDERS:
        for first, second in finder(queryset):
            pair = pairs.setdefault((first, second), DuplicatePair(first, second))
            pair.reasons.add(reason)
    result = [pairs[key] for key in sorted(pairs)]
    if limit is not None:
        result = result[:limit]
    if with_contacts and result:
        ids = {pk for pair in result for pk in (pair.first_id, pair.second_id)}
        contacts = queryset.model.objects.select_related("company", "owner").in_bulk(ids)
        for pair in result:
            pair.first, pair.second = contacts.get(pair.first_id), contacts.get(pair.second_id)
        result = [p for p in result if p.first is not None and p.second is not None]
    return result
