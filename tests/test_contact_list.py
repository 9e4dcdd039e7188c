"""The contact list page: filters, search, sorting, pagination, hostile input, htmx, query count.

Bad or unknown parameters never raise an error: an unreadable value drops its own filter only.
"""

import datetime
import re

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contacts.models import Company, Contact
from tests.factories import CompanyFactory, ContactFactory, TagFactory

pytestmark = pytest.mark.django_db

URL = reverse("contacts:contact_list")
SHANGHAI = timezone.get_default_timezone()


def at(day, hour=10, tz=SHANGHAI):
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=tz)


D = datetime.date


@pytest.fixture
def book(org):
    """alice's book (three customers plus her org contact) and the public pool, all distinct.

    keys: de, fr, us, zoe (org.alice_contact), pool (org.pool_contact). All users read English.
    """
    for user in (org.alice, org.bob, org.carol, org.manager_north, org.manager_europe, org.admin):
        user.language = "en"
        user.save()
    led, distributor = TagFactory(name="LED"), TagFactory(name="Distributor")
    org.tags = {"LED": led, "Distributor": distributor}
    org.book = {
        "de": ContactFactory(
            owner=org.alice,
            name="Dieter Brandt",
            email="dieter@lichtwerk.example",
            company=CompanyFactory(name="Lichtwerk GmbH", country="DE"),
            country="DE",
            phone="+4915109995916",
            stage="deal",
            grade="A",
            channel="trade_fair",
            email_status="valid",
            first_contact_date=D(2025, 1, 10),
            last_contacted_at=at(D(2025, 3, 1)),
            tags=[led],
        ),
        "fr": ContactFactory(
            owner=org.alice,
            name="Amélie Durand",
            email="amelie@lumiere.example",
            company=CompanyFactory(name="Lumière SARL", country="FR"),
            country="FR",
            phone="+33612345678",
            stage="sample",
            grade="B",
            channel="alibaba",
            email_status="hard_bounced",
            first_contact_date=D(2025, 2, 15),
            last_contacted_at=at(D(2025, 4, 10)),
            tags=[distributor],
        ),
        "us": ContactFactory(
            owner=org.alice,
            name="John Miller",
            email="john@brightlamps.example",
            company=CompanyFactory(name="Bright Lamps Inc", country="US"),
            country="US",
            phone="+14155552671",
            stage="inquiry",
            grade="C",
            channel="website",
            email_status="unknown",
            first_contact_date=D(2025, 3, 20),
            last_contacted_at=at(D(2025, 5, 5)),
            tags=[led, distributor],
        ),
        "zoe": org.alice_contact,
        "pool": org.pool_contact,
    }
    Contact.objects.filter(pk=org.alice_contact.pk).update(
        name="Zoe Zimmer",
        phone="+12025550143",
        first_contact_date=D(2024, 12, 1),
        last_contacted_at=at(D(2025, 2, 1)),
    )
    Company.objects.filter(pk=org.alice_contact.company_id).update(name="Zenith Imports")
    Contact.objects.filter(pk=org.pool_contact.pk).update(
        name="Pia Pool",
        stage="prospect",
        first_contact_date=D(2024, 11, 1),
        last_contacted_at=at(D(2025, 1, 15)),
    )
    Company.objects.filter(pk=org.pool_contact.company_id).update(name="Pelican Trading")
    for contact in org.book.values():
        contact.refresh_from_db()
    org.by_email = {c.email: key for key, c in org.book.items()}
    return org


ALICE_SEES = {"de", "fr", "us", "zoe", "pool"}


def emails_in(response):
    return re.findall(r'<td class="email">(.*?)</td>', response.content.decode())


def listed(book, response):
    """Keys of the listed contacts in page order; contacts outside the book appear as e-mails."""
    assert response.status_code == 200
    return [book.by_email.get(email, email) for email in emails_in(response)]


def shown(book, response):
    keys = listed(book, response)
    assert len(keys) == len(set(keys)), f"a contact is listed twice: {keys}"
    return set(keys)


@pytest.fixture
def as_alice(client, book):
    client.force_login(book.alice)
    return client


def results(client, params=None):
    """Only the results (the htmx partial): the same view and filters, without the cost of
    rendering the filter form's ~250 countries. Full pages are tested on their own below."""
    return client.get(URL, params or {}, headers={"HX-Request": "true"})


# --- filters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ALICE_SEES),
        ({"country": "DE"}, {"de"}),
        ({"country": ["DE", "FR"]}, {"de", "fr"}),
        ({"country": "US"}, {"us", "zoe", "pool"}),
        ({"stage": "deal"}, {"de"}),
        ({"stage": ["sample", "deal"]}, {"de", "fr"}),
        ({"stage": "prospect"}, {"pool"}),
        ({"grade": "A"}, {"de"}),
        ({"grade": ["A", "C"]}, {"de", "us"}),
        ({"channel": "alibaba"}, {"fr"}),
        ({"channel": ["website", "alibaba"]}, {"fr", "us"}),
        ({"pool_state": "public"}, {"pool"}),
        ({"pool_state": "active"}, {"de", "fr", "us", "zoe"}),
        ({"email_status": "hard_bounced"}, {"fr"}),
        ({"email_status": "valid"}, {"de"}),
        ({"first_contact_after": "2025-02-15"}, {"fr", "us"}),  # inclusive
        ({"first_contact_before": "2025-02-15"}, {"de", "fr", "zoe", "pool"}),  # inclusive
        ({"first_contact_after": "2025-01-11", "first_contact_before": "2025-03-19"}, {"fr"}),
        ({"first_contact_after": "2025-01-10", "first_contact_before": "2025-01-10"}, {"de"}),
        ({"last_contact_after": "2025-03-01"}, {"de", "fr", "us"}),
        ({"last_contact_before": "2025-03-01"}, {"de", "zoe", "pool"}),
        (
            {"last_contact_after": "2025-02-01", "last_contact_before": "2025-04-10"},
            {"de", "fr", "zoe"},
        ),
        ({"country": "US", "stage": "inquiry", "grade": "C"}, {"us"}),  # filters combine (AND)
        ({"country": "DE", "stage": "sample"}, set()),
    ],
    ids=lambda value: (
        "&".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else None
    ),
)
def test_filters(as_alice, book, params, expected):
    assert shown(book, results(as_alice, params)) == expected


def test_date_inputs_carry_the_parameter_names_the_filters_read(as_alice, book):
    """Regression: a plain RangeWidget renamed them *_min/*_max, so links using the
    DateFromToRangeFilter names (*_after/*_before) were silently ignored."""
    text = as_alice.get(URL).content.decode()
    for name in (
        "first_contact_after",
        "first_contact_before",
        "last_contact_after",
        "last_contact_before",
    ):
        assert f'name="{name}"' in text
    for prefix in ("first_contact", "last_contact"):
        assert f"{prefix}_min" not in text and f"{prefix}_max" not in text


def test_tag_filter_lists_each_contact_once(as_alice, book):
    led, distributor = book.tags["LED"], book.tags["Distributor"]
    assert shown(book, as_alice.get(URL, {"tags": led.pk})) == {"de", "us"}
    response = as_alice.get(URL, {"tags": [led.pk, distributor.pk]})
    assert shown(book, response) == {"de", "fr", "us"}  # us carries both tags, listed once
    assert response.context["page"].paginator.count == 3
    assert '<span id="result-count">3 customers</span>' in response.content.decode()


def test_owner_filter_for_a_manager(client, book):
    bob_contact = book.bob_contact
    client.force_login(book.manager_north)
    response = client.get(URL, {"owner": book.bob.pk})
    assert emails_in(response) == [bob_contact.email]
    response = client.get(URL, {"owner": book.alice.pk})
    assert set(emails_in(response)) == {c.email for k, c in book.book.items() if k != "pool"}


def test_owner_filter_cannot_reach_outside_the_scope(as_alice, client, book):
    """A rep naming another owner gets the filter dropped, never that owner's contacts."""
    assert shown(book, as_alice.get(URL, {"owner": book.alice.pk})) == ALICE_SEES - {"pool"}
    response = as_alice.get(URL, {"owner": book.bob.pk})
    assert shown(book, response) == ALICE_SEES
    assert book.bob_contact.email not in response.content.decode()
    client.force_login(book.manager_north)
    response = client.get(URL, {"owner": book.carol.pk})
    assert book.carol_contact.email not in response.content.decode()


def test_owner_choices_only_offer_people_in_scope(client, book):
    client.force_login(book.manager_north)
    response = client.get(URL)
    offered = set(response.context["filter"].form.fields["owner"].queryset)
    assert offered == {book.manager_north, book.alice, book.bob}


@pytest.mark.parametrize(
    ("zone", "params", "included"),
    [
        # The contact was last reached on 2025-03-05 02:00 UTC: 03-04 in New York, 03-05 in
        # Shanghai and Tokyo. First contact on 2025-03-05 (a plain date, no time zone).
        ("America/New_York", {"last_contact_before": "2025-03-04"}, True),
        ("America/New_York", {"last_contact_before": "2025-03-03"}, False),
        ("America/New_York", {"last_contact_after": "2025-03-05"}, False),
        ("America/New_York", {"first_contact_before": "2025-03-04"}, False),
        ("America/New_York", {"first_contact_after": "2025-03-05"}, True),
        ("America/New_York", {"first_contact_before": "2025-03-05"}, True),
        ("Asia/Tokyo", {"first_contact_after": "2025-03-06"}, False),
        ("Asia/Tokyo", {"first_contact_after": "2025-03-05"}, True),
        ("Asia/Tokyo", {"last_contact_after": "2025-03-06"}, False),
        (
            "Asia/Shanghai",
            {"last_contact_after": "2025-03-05", "last_contact_before": "2025-03-05"},
            True,
        ),
    ],
)
def test_date_filters_use_the_calendar_days_the_user_sees(client, book, zone, params, included):
    """Regression: dates were turned into datetimes in the user's zone, then read in the
    server's zone, so users outside Asia/Shanghai got ranges one day off."""
    book.alice.time_zone = zone
    book.alice.save()
    contact = ContactFactory(
        owner=book.alice,
        email="edge@timezones.example",
        first_contact_date=D(2025, 3, 5),
        last_contacted_at=datetime.datetime(2025, 3, 5, 2, 0, tzinfo=datetime.UTC),
    )
    client.force_login(book.alice)
    assert (contact.email in emails_in(client.get(URL, params))) is included


# --- search -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dieter", {"de"}),
        ("dieter brandt", {"de"}),  # case-insensitive
        ("Amélie", {"fr"}),
        ("lumiere.example", {"fr"}),  # e-mail
        ("JOHN@BRIGHTLAMPS", {"us"}),
        ("Bright Lamps", {"us"}),  # company name
        ("lichtwerk gmbh", {"de"}),
        ("+14155552671", {"us"}),  # phone as stored
        ("+1 (415) 555-2671", {"us"}),  # phone as typed
        ("555 2671", {"us"}),
        ("Zenith", {"zoe"}),
        ("Pelican", {"pool"}),
        ("  Dieter  ", {"de"}),  # surrounding blanks
        ("nobody-like-this", set()),
    ],
)
def test_search(as_alice, book, text, expected):
    assert shown(book, results(as_alice, {"q": text})) == expected


def test_search_never_reaches_outside_the_scope(as_alice, book):
    for text in (book.bob_contact.email, book.carol_contact.email, book.bob_contact.company.name):
        assert shown(book, results(as_alice, {"q": text})) == set()


@pytest.fixture
def oddities(book):
    """Contacts whose data holds the characters LIKE and SQL treat specially."""
    return {
        "percent": ContactFactory(
            owner=book.alice, name="Percy 100% Pure", email="percy@pure.example"
        ),
        "underscore": ContactFactory(owner=book.alice, name="Una", email="una_ward@odd.example"),
        "quote": ContactFactory(owner=book.alice, name="Seán O'Brien", email="sean@obrien.example"),
        "backslash": ContactFactory(owner=book.alice, name=r"Back\Slash", email="bs@odd.example"),
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("%", {"percent"}),
        ("100%", {"percent"}),
        ("%%", set()),
        ("_", {"underscore"}),
        ("a_w", {"underscore"}),
        ("O'Brien", {"quote"}),
        ("'", {"quote"}),
        ("\\", {"backslash"}),
        ('"', set()),
        ("' OR '1'='1", set()),
        ("'; DROP TABLE contacts_contact; --", set()),
        ("*", set()),
        (".*", set()),
        ("Dieter\x00", {"de"}),  # NUL bytes are dropped, the rest still searched
        ("Die\x00ter", {"de"}),
    ],
)
def test_search_with_hostile_text_is_literal(as_alice, book, oddities, text, expected):
    by_email = {c.email: key for key, c in oddities.items()}
    by_email.update({c.email: key for key, c in book.book.items()})
    response = results(as_alice, {"q": text})
    assert response.status_code == 200
    found = {by_email.get(email, email) for email in emails_in(response)}
    assert found == expected
    assert len(found) < len(by_email)  # never "everything"
    assert Contact.objects.count() > 0  # and the table is still there


def test_search_with_10000_characters(as_alice, book):
    response = as_alice.get(URL, {"q": "x" * 10_000})
    assert shown(book, response) == set()
    # The text is cut to the search limit: that is what the search box shows.
    assert response.context["filter"].form["q"].value() == "x" * settings.SEARCH_MAX_LENGTH


def test_search_with_10000_characters_starting_with_a_match(as_alice, book):
    """Cut to the limit, never an error: the kept prefix is what is searched."""
    response = as_alice.get(URL, {"q": "Dieter" + " " * 10_000 + "zzz"})
    assert shown(book, response) == {"de"}


def test_search_of_only_a_nul_byte_is_an_empty_search(as_alice, book):
    assert shown(book, as_alice.get(URL, {"q": "\x00"})) == ALICE_SEES


# --- sorting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("name", ["fr", "de", "us", "pool", "zoe"]),  # Amélie, Dieter, John, Pia, Zoe
        ("-name", ["zoe", "pool", "us", "de", "fr"]),
        # Companies: Bright Lamps, Lichtwerk, Lumière, Pelican, Zenith
        ("company", ["us", "de", "fr", "pool", "zoe"]),
        ("-company", ["zoe", "pool", "fr", "de", "us"]),
        ("last_contacted", ["pool", "zoe", "de", "fr", "us"]),
        ("-last_contacted", ["us", "fr", "de", "zoe", "pool"]),
        ("first_contact", ["pool", "zoe", "de", "fr", "us"]),
        ("-first_contact", ["us", "fr", "de", "zoe", "pool"]),
        # Ties are broken by the newest first (-id): us > fr > de > pool > zoe.
        ("grade", ["de", "fr", "pool", "zoe", "us"]),  # A, B, B, B, C
        ("-grade", ["us", "fr", "pool", "zoe", "de"]),
        ("country", ["de", "fr", "us", "pool", "zoe"]),  # DE, FR, then the three US
        ("-country,name", ["us", "pool", "zoe", "fr", "de"]),  # several keys
        ("country,-name", ["de", "fr", "zoe", "pool", "us"]),
        # Stages sort in pipeline order: prospect, inquiry ×2, sample, deal.
        ("stage", ["pool", "us", "zoe", "fr", "de"]),
        ("-stage", ["de", "fr", "us", "zoe", "pool"]),
    ],
)
def test_sorting(as_alice, book, sort, order):
    assert listed(book, results(as_alice, {"sort": sort})) == order


def test_sort_by_created_follows_creation(as_alice, book):
    newest_first = listed(book, results(as_alice, {"sort": "-created"}))
    oldest_first = listed(book, results(as_alice, {"sort": "created"}))
    assert newest_first == oldest_first[::-1]
    assert newest_first[:3] == ["us", "fr", "de"]
    assert listed(book, as_alice.get(URL)) == newest_first  # the default order


def test_sort_header_links_toggle_and_keep_filters(as_alice, book):
    text = as_alice.get(URL, {"sort": "name", "stage": "deal"}).content.decode()
    assert 'href="?stage=deal&sort=-name"' in text
    assert 'href="?stage=deal&sort=company"' in text


@pytest.mark.parametrize("sort", ["bogus", "password", "owner__password", "-", ",", "name;drop"])
def test_unknown_sort_keys_are_ignored(as_alice, book, sort):
    response = results(as_alice, {"sort": sort})
    assert listed(book, response) == listed(book, results(as_alice))


# --- pagination -------------------------------------------------------------------------------


def add_contacts(owner, count, **fields):
    """Many contacts at once (bulk insert, no company) for paging tests."""
    return Contact.objects.bulk_create(
        Contact(owner=owner, email=f"bulk{i:05d}.{owner.username}@bulk.example", **fields)
        for i in range(count)
    )


def page_rows(response):
    return len(re.findall(r'class="row-select"', response.content.decode()))


def test_default_page_size_and_pages(as_alice, book):
    add_contacts(book.alice, 30)  # 35 visible in all
    first = as_alice.get(URL)
    assert page_rows(first) == settings.CONTACT_LIST_PAGE_SIZE == 25
    assert "Page 1 of 2" in first.content.decode()
    second = as_alice.get(URL, {"page": 2})
    assert page_rows(second) == 10
    assert not set(emails_in(first)) & set(emails_in(second))


def test_per_page(as_alice, book):
    add_contacts(book.alice, 30)
    assert page_rows(as_alice.get(URL, {"per_page": 10})) == 10
    assert page_rows(as_alice.get(URL, {"per_page": 10, "page": 4})) == 5


def test_page_size_is_capped(as_alice, book):
    cap = settings.CONTACT_LIST_MAX_PAGE_SIZE
    add_contacts(book.alice, cap + 5)
    response = as_alice.get(URL, {"per_page": 100000})
    assert response.status_code == 200
    assert page_rows(response) == cap
    assert response.context["page"].paginator.per_page == cap


@pytest.mark.parametrize(
    ("per_page", "rows"),
    [("abc", 25), ("", 25), ("1e9", 25), ("9" * 5000, 25), ("0", 1), ("-5", 1), ("\x00", 25)],
)
def test_unreadable_page_sizes_fall_back(as_alice, book, per_page, rows):
    add_contacts(book.alice, 30)
    assert page_rows(as_alice.get(URL, {"per_page": per_page})) == rows


@pytest.mark.parametrize(
    ("page", "number"), [("x", 1), ("", 1), ("2", 2), ("999", 2), ("-1", 2), ("0", 2)]
)
def test_unreadable_page_numbers_never_error(as_alice, book, page, number):
    add_contacts(book.alice, 30)
    response = as_alice.get(URL, {"page": page})
    assert response.status_code == 200
    assert response.context["page"].number == number


def test_pagination_links_keep_the_filters(as_alice, book):
    add_contacts(book.alice, 30, stage="inquiry", country="US")
    text = as_alice.get(URL, {"stage": "inquiry", "country": "US", "page": 1}).content.decode()
    assert 'href="?stage=inquiry&amp;country=US&page=2"' in text


@pytest.mark.parametrize("sort", ["stage", "grade", "-country", "-last_contacted"])
def test_paging_through_a_sorted_list_shows_every_contact_once(as_alice, book, sort):
    """Regression: sorting on a column most rows share made pages overlap and skip rows."""
    grades = "ABC"
    Contact.objects.bulk_create(
        Contact(
            owner=book.alice,
            email=f"tie{i:03d}@ties.example",
            stage="inquiry",
            grade=grades[i % 3],
            country="US",
        )
        for i in range(97)
    )
    expected = set(Contact.objects.visible_to(book.alice).values_list("email", flat=True))
    seen = []
    for page in range(1, 7):
        seen += emails_in(results(as_alice, {"sort": sort, "per_page": 20, "page": page}))
    assert len(seen) == len(expected) == 102
    assert set(seen) == expected


# --- unknown and invalid parameters -----------------------------------------------------------


def test_unknown_parameters_are_ignored(as_alice, book):
    response = as_alice.get(
        URL, {"stage": "deal", "foo": "bar", "utm_source": "mail", "owner__id": 1}
    )
    assert shown(book, response) == {"de"}


INVALID = [
    {"stage": "bogus"},
    {"stage": ["bogus", "deal"]},  # one bad value spoils the whole stage filter, nothing else
    {"grade": "Z"},
    {"channel": "carrier-pigeon"},
    {"country": "ZZ"},
    {"country": "\x00"},
    {"tags": "abc"},
    {"tags": "99999999"},
    {"tags": "\x00"},
    {"owner": "abc"},
    {"owner": "99999999"},
    {"owner": "\x00"},
    {"pool_state": "nowhere"},
    {"email_status": "\x00"},
    {"first_contact_after": "2025-99-99"},
    {"first_contact_before": "2025-02-30"},
    {"last_contact_after": "yesterday"},
    {"last_contact_before": "2025-99-99"},
    {"last_contact_after": "\x00"},
    {"first_contact_after": "99999-01-01"},
    {"sort": "\x00"},
    {"page": "x"},
    {"page": "\x00"},
    {"per_page": "abc"},
    {"q": ""},
]


@pytest.mark.parametrize("params", INVALID, ids=lambda p: repr(p))
def test_invalid_values_never_error_and_drop_only_their_filter(as_alice, book, params):
    assert shown(book, as_alice.get(URL, params)) == ALICE_SEES
    # The same junk next to a valid filter: the valid one still applies.
    assert shown(book, as_alice.get(URL, {**params, "country": "FR"})) == {"fr"}


def test_invalid_values_through_htmx_never_error(as_alice, book):
    response = as_alice.get(
        URL, {"stage": "bogus", "first_contact_after": "2025-99-99"}, headers={"HX-Request": "true"}
    )
    assert shown(book, response) == ALICE_SEES


# --- htmx -------------------------------------------------------------------------------------


def test_htmx_request_gets_the_results_partial(as_alice, book):
    response = as_alice.get(URL, {"stage": "deal"}, headers={"HX-Request": "true"})
    text = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in text and "<body" not in text
    assert 'id="contact-table"' in text
    assert 'id="contact-filters"' not in text  # the filter form stays where it is
    assert shown(book, response) == {"de"}
    assert "HX-Request" in response["Vary"]


def test_plain_request_gets_the_whole_page(as_alice, book):
    response = as_alice.get(URL)
    text = response.content.decode()
    assert "<html" in text and 'id="contact-filters"' in text and 'id="contact-results"' in text
    assert "HX-Request" in response["Vary"]  # so a cached partial is never shown as the page


def test_htmx_history_restore_gets_the_whole_page(as_alice, book):
    """On a history cache miss htmx reloads the URL and swaps in the whole body."""
    response = as_alice.get(
        URL, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in response.content.decode()


# --- query count ------------------------------------------------------------------------------


def fill_team_book(book, numbers):
    """Contacts of the manager's team, each with its own company and two tags."""
    tags = [TagFactory(name=f"Tag {i}") for i in range(4)]
    owners = [book.alice, book.bob]
    for i in numbers:
        ContactFactory(
            owner=owners[i % 2],
            email=f"team{i:03d}@volume.example",
            tags=[tags[i % 4], tags[(i + 1) % 4]],
        )


def list_queries(client, book):
    client.force_login(book.manager_north)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL, {"per_page": 100, "sort": "name"})
    assert response.status_code == 200
    return response, len(queries)


# session, user, the count, the page, its tags, and the owner and tag choices of the filter form
MAX_LIST_QUERIES = 10


def test_list_page_query_count_does_not_grow_with_rows(client, book, django_assert_max_num_queries):
    Contact.objects.exclude(pk=book.pool_contact.pk).delete()
    fill_team_book(book, range(4))
    small, small_count = list_queries(client, book)
    assert page_rows(small) == 5  # four of the team's + the pool contact

    fill_team_book(book, range(4, 59))
    large, large_count = list_queries(client, book)
    assert page_rows(large) == 60
    assert large_count == small_count, (small_count, large_count)
    print(f"\ncontact list queries: {small_count} with 5 rows, {large_count} with 60 rows")

    with django_assert_max_num_queries(MAX_LIST_QUERIES):
        assert client.get(URL, {"per_page": 100, "sort": "name"}).status_code == 200
