"""The scope matrix: every page that shows or changes contact/company data × every kind of actor.

One table per kind of page; each cell is the outcome an actor must get. Out-of-scope objects
answer 404 and show nothing of the record (never 403 with data); anonymous users are sent to the
login page; the Django admin is for the admin role only (others are sent to the admin login).
"""

import json

import pytest
from django.urls import reverse

from contacts.models import Contact

pytestmark = pytest.mark.django_db

# --- outcomes ---------------------------------------------------------------------------------
LOGIN = "302 → /login/"  # anonymous: sent to the login page, nothing shown, nothing changed
STAFF = "302 → /admin/login/"  # not an admin: sent to the admin login, nothing shown
OK = "200 with the record"
NF = "404 without the record"  # out of scope: indistinguishable from a missing record
SAVED = "302 → detail, change stored"

# --- the cast: the org's four contacts, named by who owns them ---------------------------------
A, B, C, P = "alice", "bob", "carol", "pool"
ALL = {A, B, C, P}
ACTORS = ("anonymous", "alice", "bob", "carol", "manager_north", "manager_europe", "admin")

# fmt: off
# Pages listing data: which of the four contacts (or their companies) each actor sees there.
#                               anonymous alice    bob      carol    mgr_north   mgr_europe  admin
LIST_PAGES = {
    "contact_list":             (LOGIN,   {A, P},  {B, P},  {C, P},  {A, B, P},  {C, P},     ALL),
    "company_list":             (LOGIN,   {A, P},  {B, P},  {C, P},  {A, B, P},  {C, P},     ALL),
    "dashboard":                (LOGIN,   {A, P},  {B, P},  {C, P},  {A, B, P},  {C, P},     ALL),
    "admin_contact_changelist": (STAFF,   STAFF,   STAFF,   STAFF,   STAFF,      STAFF,      ALL),
    "admin_company_changelist": (STAFF,   STAFF,   STAFF,   STAFF,   STAFF,      STAFF,      ALL),
    "admin_autocomplete":       (STAFF,   STAFF,   STAFF,   STAFF,   STAFF,      STAFF,      ALL),
}

# Pages about one record. alice (team North America) owns the first contact.
#                               anonymous alice    bob      carol    mgr_north   mgr_europe  admin
ALICE_CONTACT_PAGES = {
    "contact_detail":           (LOGIN,   OK,      NF,      NF,      OK,         NF,         OK),
    "contact_edit_get":         (LOGIN,   OK,      NF,      NF,      OK,         NF,         OK),
    "contact_edit_post":        (LOGIN,   SAVED,   NF,      NF,      SAVED,      NF,         SAVED),
    "company_detail":           (LOGIN,   OK,      NF,      NF,      OK,         NF,         OK),
    "admin_contact_change":     (STAFF,   STAFF,   STAFF,   STAFF,   STAFF,      STAFF,      OK),
    "admin_contact_history":    (STAFF,   STAFF,   STAFF,   STAFF,   STAFF,      STAFF,      OK),
    "admin_company_change":     (STAFF,   STAFF,   STAFF,   STAFF,   STAFF,      STAFF,      OK),
}

# carol (team Europe) owns this one: the mirror image.
CAROL_CONTACT_PAGES = {
    "contact_detail":           (LOGIN,   NF,      NF,      OK,      NF,         OK,         OK),
    "contact_edit_get":         (LOGIN,   NF,      NF,      OK,      NF,         OK,         OK),
    "contact_edit_post":        (LOGIN,   NF,      NF,      SAVED,   NF,         SAVED,      SAVED),
    "company_detail":           (LOGIN,   NF,      NF,      OK,      NF,         OK,         OK),
    "admin_contact_change":     (STAFF,   STAFF,   STAFF,   STAFF,   STAFF,      STAFF,      OK),
    "admin_company_change":     (STAFF,   STAFF,   STAFF,   STAFF,   STAFF,      STAFF,      OK),
}

# The public pool: everyone signed in reads it; only admins edit it (others claim it first).
POOL_CONTACT_PAGES = {
    "contact_detail":           (LOGIN,   OK,      OK,      OK,      OK,         OK,         OK),
    "contact_edit_get":         (LOGIN,   NF,      NF,      NF,      NF,         NF,         OK),
    "contact_edit_post":        (LOGIN,   NF,      NF,      NF,      NF,         NF,         SAVED),
    "company_detail":           (LOGIN,   OK,      OK,      OK,      OK,         OK,         OK),
    "admin_contact_change":     (STAFF,   STAFF,   STAFF,   STAFF,   STAFF,      STAFF,      OK),
}
# fmt: on

OBJECT_PAGES = {A: ALICE_CONTACT_PAGES, C: CAROL_CONTACT_PAGES, P: POOL_CONTACT_PAGES}

# Distinctive data on each contact: none of it may leak to an actor outside the scope.
MARKERS = {
    A: ("Amara Northwind", "Aurora Lamps Ltd", "+14155550101"),
    B: ("Bruno Bayfield", "Beacon Fixtures Inc", "+14155550102"),
    C: ("Clara Rhinehart", "Castell Licht GmbH", "+493012345678"),
    P: ("Pia Poolman", "Pelican Trading Co", "+61290001234"),
}


@pytest.fixture
def cast(org):
    org.contacts = {
        A: org.alice_contact,
        B: org.bob_contact,
        C: org.carol_contact,
        P: org.pool_contact,
    }
    for key, contact in org.contacts.items():
        name, company, phone = MARKERS[key]
        contact.name, contact.phone = name, phone
        contact.save()
        contact.company.name = company
        contact.company.save()
    return org


def markers(cast, key):
    contact = cast.contacts[key]
    return (contact.email, *MARKERS[key])


def sign_in(client, cast, who):
    if who != "anonymous":
        client.force_login(getattr(cast, who))


def edit_data(contact, new_name):
    """A valid edit form; `owner` is ignored where the form has no owner field (reps, pool)."""
    return {
        "name": new_name,
        "email": contact.email,
        "country": contact.country,
        "company_name": contact.company.name,
        "stage": contact.stage,
        "grade": contact.grade,
        "channel": contact.channel,
        "owner": contact.owner_id or "",
    }


def url_of(page, contact):
    return {
        "contact_list": reverse("contacts:contact_list"),
        "company_list": reverse("contacts:company_list"),
        "dashboard": reverse("dashboard"),
        "admin_contact_changelist": reverse("admin:contacts_contact_changelist"),
        "admin_company_changelist": reverse("admin:contacts_company_changelist"),
        "admin_autocomplete": reverse("admin:autocomplete")
        + "?app_label=contacts&model_name=contact&field_name=referred_by",
        "contact_detail": reverse("contacts:contact_detail", args=[getattr(contact, "pk", 0)]),
        "contact_edit_get": reverse("contacts:contact_update", args=[getattr(contact, "pk", 0)]),
        "contact_edit_post": reverse("contacts:contact_update", args=[getattr(contact, "pk", 0)]),
        "company_detail": reverse(
            "contacts:company_detail", args=[getattr(contact, "company_id", 0)]
        ),
        "admin_contact_change": reverse(
            "admin:contacts_contact_change", args=[getattr(contact, "pk", 0)]
        ),
        "admin_contact_history": reverse(
            "admin:contacts_contact_history", args=[getattr(contact, "pk", 0)]
        ),
        "admin_company_change": reverse(
            "admin:contacts_company_change", args=[getattr(contact, "company_id", 0)]
        ),
    }[page]


def assert_redirected_without_data(client, response, cast, expected, url):
    assert response.status_code == 302, response.status_code
    if expected == LOGIN:
        assert response["Location"].startswith("/login/?next=")
    else:
        assert response["Location"].startswith("/admin/login/?next=")
        # The admin login page itself must not show anything either.
        response = client.get(response["Location"])
        assert response.status_code == 200
    text = response.content.decode()
    for key in ALL:
        for marker in markers(cast, key):
            assert marker not in text, f"{url} leaks {marker!r}"


def shown_keys(cast, page, response):
    """Which of the four contacts a list page shows (each marker checked both ways)."""
    if page == "admin_autocomplete":
        ids = {int(item["id"]) for item in json.loads(response.content)["results"]}
        return {key for key, contact in cast.contacts.items() if contact.pk in ids}
    text = response.content.decode()
    shown = set()
    for key in ALL:
        present = [marker in text for marker in markers(cast, key)]
        if any(present):
            shown.add(key)
    return shown


def primary_markers(cast, page, key):
    """What a list page must show for each visible contact."""
    email, name, company, _phone = markers(cast, key)
    return {
        "contact_list": (email, name, company),
        "company_list": (company,),
        "dashboard": (name,),
        "admin_contact_changelist": (email, name),
        "admin_company_changelist": (company,),
    }[page]


@pytest.mark.parametrize(
    ("page", "who", "expected"),
    [(page, who, row[i]) for page, row in LIST_PAGES.items() for i, who in enumerate(ACTORS)],
    ids=[f"{page}-{who}" for page in LIST_PAGES for who in ACTORS],
)
def test_list_pages(client, cast, page, who, expected):
    sign_in(client, cast, who)
    url = url_of(page, None)
    response = client.get(url)
    if expected in (LOGIN, STAFF):
        assert_redirected_without_data(client, response, cast, expected, url)
        return
    assert response.status_code == 200
    assert shown_keys(cast, page, response) == expected
    if page != "admin_autocomplete":
        text = response.content.decode()
        for key in expected:
            for marker in primary_markers(cast, page, key):
                assert marker in text, f"{page} for {who} misses {marker!r}"
    if page == "dashboard":
        assert response.context["total"] == len(expected)
        by_stage = {value: count for value, _label, count in response.context["stages"]}
        assert by_stage["inquiry"] == len(expected)  # every cast contact is an inquiry
        assert sum(by_stage.values()) == len(expected)


def object_cases():
    for target, table in OBJECT_PAGES.items():
        for page, row in table.items():
            for i, who in enumerate(ACTORS):
                yield pytest.param(target, page, who, row[i], id=f"{target}-{page}-{who}")


@pytest.mark.parametrize(("target", "page", "who", "expected"), list(object_cases()))
def test_object_pages(client, cast, target, page, who, expected):
    sign_in(client, cast, who)
    contact = cast.contacts[target]
    url = url_of(page, contact)
    before = Contact.objects.values().get(pk=contact.pk)
    if page == "contact_edit_post":
        response = client.post(url, edit_data(contact, f"Renamed by {who}"))
    else:
        response = client.get(url)

    if expected in (LOGIN, STAFF):
        assert_redirected_without_data(client, response, cast, expected, url)
    elif expected == NF:
        assert response.status_code == 404
        text = response.content.decode()
        for marker in markers(cast, target):
            assert marker not in text, f"404 page leaks {marker!r}"
    elif expected == OK:
        assert response.status_code == 200
        text = response.content.decode()
        email, name, company, _phone = markers(cast, target)
        wanted = (company,) if page in ("company_detail", "admin_company_change") else (email,)
        if page in ("contact_detail", "company_detail", "contact_edit_get"):
            wanted += (name,)
        for marker in wanted:
            assert marker in text, f"{page} for {who} misses {marker!r}"
    elif expected == SAVED:
        assert response.status_code == 302, response.context and response.context["form"].errors
        assert response["Location"] == contact.get_absolute_url()
        contact.refresh_from_db()
        assert contact.name == f"Renamed by {who}"
        assert contact.owner_id == before["owner_id"]
        assert contact.pool_state == before["pool_state"]
        return
    else:  # pragma: no cover - a typo in the tables
        pytest.fail(f"unknown outcome {expected!r}")

    if page == "contact_edit_post":
        assert Contact.objects.values().get(pk=contact.pk) == before, "out-of-scope write stored"


def test_matrix_covers_every_actor_and_page():
    """The tables stay complete: one outcome per actor, every data page listed for alice."""
    for table in (LIST_PAGES, *OBJECT_PAGES.values()):
        for page, row in table.items():
            assert len(row) == len(ACTORS), page
    assert set(ALICE_CONTACT_PAGES) >= set(CAROL_CONTACT_PAGES) | set(POOL_CONTACT_PAGES)


@pytest.mark.parametrize("who", ["bob", "carol", "manager_europe"])
def test_missing_and_forbidden_records_look_the_same(client, cast, who):
    """A 404 for someone else's record is byte-for-byte the 404 for a record that never existed."""
    sign_in(client, cast, who)
    missing_pk = Contact.objects.order_by("-pk").first().pk + 1000
    forbidden = client.get(reverse("contacts:contact_detail", args=[cast.alice_contact.pk]))
    missing = client.get(reverse("contacts:contact_detail", args=[missing_pk]))
    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.content == missing.content
