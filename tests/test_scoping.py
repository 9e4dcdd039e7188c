"""Data scoping at the queryset level: who may read and who may change which contacts.

DESIGN.md, "Data access — one rule": reps see what they own plus the public pool, managers what
the members of the teams they manage own (and their own), admins everything; anonymous and
inactive users nothing. The pool is visible to every signed-in user but only admins edit it.
"""

import re

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.models import Role
from contacts.filters import ContactFilter
from contacts.models import Company, Contact
from tests.factories import CompanyFactory, ContactFactory, TagFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

ALL = {"alice", "bob", "carol", "pool"}

# actor        -> (contacts visible,         contacts editable)
EXPECTED = {
    "anonymous": (set(), set()),
    "inactive": (set(), set()),  # alice after she left: nothing at all
    "alice": ({"alice", "pool"}, {"alice"}),  # the owning rep
    "bob": ({"bob", "pool"}, {"bob"}),  # another rep of the same team
    "carol": ({"carol", "pool"}, {"carol"}),  # a rep of the other team
    "manager_north": ({"alice", "bob", "pool"}, {"alice", "bob"}),  # the team's manager
    "manager_europe": ({"carol", "pool"}, {"carol"}),  # the other team's manager
    "admin": (ALL, ALL),
}


def actor(org, name):
    if name == "anonymous":
        return AnonymousUser()
    if name == "inactive":
        org.alice.is_active = False
        org.alice.save()
        return org.alice
    return getattr(org, name)


def keys(org, queryset):
    """The org contacts in a queryset, by their owner's name ("pool" for the public pool)."""
    by_pk = {
        org.alice_contact.pk: "alice",
        org.bob_contact.pk: "bob",
        org.carol_contact.pk: "carol",
        org.pool_contact.pk: "pool",
    }
    return {by_pk[pk] for pk in queryset.values_list("pk", flat=True) if pk in by_pk}


def companies_of(org, names):
    contacts = {
        "alice": org.alice_contact,
        "bob": org.bob_contact,
        "carol": org.carol_contact,
        "pool": org.pool_contact,
    }
    return {contacts[name].company_id for name in names}


@pytest.mark.parametrize("who", list(EXPECTED))
def test_contacts_visible_to(org, who):
    user = actor(org, who)
    assert keys(org, Contact.objects.visible_to(user)) == EXPECTED[who][0]


@pytest.mark.parametrize("who", list(EXPECTED))
def test_contacts_editable_by(org, who):
    user = actor(org, who)
    assert keys(org, Contact.objects.editable_by(user)) == EXPECTED[who][1]


@pytest.mark.parametrize("who", list(EXPECTED))
def test_editable_is_always_a_subset_of_visible(org, who):
    user = actor(org, who)
    visible = set(Contact.objects.visible_to(user).values_list("pk", flat=True))
    editable = set(Contact.objects.editable_by(user).values_list("pk", flat=True))
    assert editable <= visible


@pytest.mark.parametrize("who", list(EXPECTED))
def test_companies_visible_to(org, who):
    user = actor(org, who)
    visible = set(Company.objects.visible_to(user).values_list("pk", flat=True))
    assert visible == companies_of(org, EXPECTED[who][0])


@pytest.mark.parametrize("who", ["alice", "bob", "carol", "manager_north", "manager_europe"])
def test_public_pool_is_visible_to_every_signed_in_user_but_not_editable(org, who):
    user = getattr(org, who)
    assert Contact.objects.visible_to(user).filter(pk=org.pool_contact.pk).exists()
    assert not Contact.objects.editable_by(user).filter(pk=org.pool_contact.pk).exists()


def test_admin_may_edit_the_public_pool(org):
    assert Contact.objects.editable_by(org.admin).filter(pk=org.pool_contact.pk).exists()


def test_manager_sees_and_edits_their_own_contacts(org):
    own = ContactFactory(owner=org.manager_north)
    assert Contact.objects.visible_to(org.manager_north).filter(pk=own.pk).exists()
    assert Contact.objects.editable_by(org.manager_north).filter(pk=own.pk).exists()
    # ... and their own stay hidden from the reps of the team they manage.
    assert not Contact.objects.visible_to(org.alice).filter(pk=own.pk).exists()
    assert not Contact.objects.visible_to(org.manager_europe).filter(pk=own.pk).exists()


def test_manager_outside_the_team_they_manage_still_sees_their_own(org):
    """Own contacts come from `pk=user`, not from team membership."""
    manager = UserFactory(username="floating_mgr", role=Role.MANAGER, team=None)
    org.europe.managers.add(manager)
    own = ContactFactory(owner=manager)
    assert keys(org, Contact.objects.visible_to(manager)) == {"carol", "pool"}
    assert Contact.objects.visible_to(manager).filter(pk=own.pk).exists()
    assert Contact.objects.editable_by(manager).filter(pk=own.pk).exists()


def test_manager_role_without_a_managed_team_sees_only_own_and_pool(org):
    manager = UserFactory(username="mgr_nobody", role=Role.MANAGER, team=org.north)
    own = ContactFactory(owner=manager)
    visible = set(Contact.objects.visible_to(manager).values_list("pk", flat=True))
    assert visible == {own.pk, org.pool_contact.pk}


def test_manager_who_manages_two_teams_sees_both(org):
    org.europe.managers.add(org.manager_north)
    assert keys(org, Contact.objects.visible_to(org.manager_north)) == ALL


def test_manager_keeps_seeing_contacts_of_a_departed_team_member(org):
    """A rep who left (inactive) still owns contacts; the manager must see them to hand over."""
    org.bob.is_active = False
    org.bob.save()
    assert keys(org, Contact.objects.visible_to(org.manager_north)) == {"alice", "bob", "pool"}
    assert keys(org, Contact.objects.editable_by(org.manager_north)) == {"alice", "bob"}


def test_rep_moving_team_moves_their_contacts_to_the_new_manager(org):
    org.bob.team = org.europe
    org.bob.save()
    assert keys(org, Contact.objects.visible_to(org.manager_north)) == {"alice", "pool"}
    assert keys(org, Contact.objects.visible_to(org.manager_europe)) == {"bob", "carol", "pool"}


def test_manager_removed_from_team_loses_access(org):
    org.north.managers.remove(org.manager_north)
    assert keys(org, Contact.objects.visible_to(org.manager_north)) == {"pool"}


def test_superuser_sees_everything_whatever_the_role(org):
    root = UserFactory(username="root", role=Role.REP, is_superuser=True)
    assert keys(org, Contact.objects.visible_to(root)) == ALL
    assert keys(org, Contact.objects.editable_by(root)) == ALL


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER])
def test_inactive_admin_or_manager_sees_nothing(org, role):
    user = org.admin if role == Role.ADMIN else org.manager_north
    user.is_active = False
    user.save()
    assert not Contact.objects.visible_to(user).exists()
    assert not Contact.objects.editable_by(user).exists()
    assert not Company.objects.visible_to(user).exists()


def test_unowned_dormant_contact_is_for_admins_only(org):
    orphan = ContactFactory(owner=None, pool_state="dormant")
    for who in ("alice", "bob", "carol", "manager_north", "manager_europe"):
        assert not Contact.objects.visible_to(getattr(org, who)).filter(pk=orphan.pk).exists()
    assert Contact.objects.visible_to(org.admin).filter(pk=orphan.pk).exists()


def test_company_shared_by_two_teams_is_visible_to_both_once(org):
    shared = CompanyFactory(name="Shared Importers GmbH")
    ContactFactory(owner=org.alice, company=shared)
    ContactFactory(owner=org.alice, company=shared)
    ContactFactory(owner=org.carol, company=shared)
    for who in ("alice", "carol", "manager_north", "manager_europe", "admin"):
        companies = Company.objects.visible_to(getattr(org, who)).filter(name=shared.name)
        assert companies.count() == 1
        assert len(companies) == 1
    assert not Company.objects.visible_to(org.bob).filter(pk=shared.pk).exists()


def test_company_without_contacts_is_for_admins_only(org):
    empty = CompanyFactory(name="Nobody Here Ltd")
    assert not Company.objects.visible_to(org.manager_north).filter(pk=empty.pk).exists()
    assert not Company.objects.visible_to(org.alice).filter(pk=empty.pk).exists()
    assert Company.objects.visible_to(org.admin).filter(pk=empty.pk).exists()


def test_company_visible_through_the_public_pool(org):
    for who in ("alice", "carol", "manager_europe"):
        user = getattr(org, who)
        assert Company.objects.visible_to(user).filter(pk=org.pool_contact.company_id).exists()


def test_anonymous_sees_no_company(org):
    assert not Company.objects.visible_to(AnonymousUser()).exists()
    assert not Company.objects.visible_to(None).exists()


def test_none_user_sees_nothing(org):
    assert not Contact.objects.visible_to(None).exists()
    assert not Contact.objects.editable_by(None).exists()


# --- no JOIN duplication ---------------------------------------------------------------------


@pytest.fixture
def tagged(org):
    """Several of the manager's team's contacts carrying several tags each."""
    led, distributor, hot = (
        TagFactory(name="LED"),
        TagFactory(name="Distributor"),
        TagFactory(name="Hot"),
    )
    contacts = [
        ContactFactory(owner=org.alice, tags=[led, distributor, hot]),
        ContactFactory(owner=org.alice, tags=[led, distributor]),
        ContactFactory(owner=org.bob, tags=[led]),
        ContactFactory(owner=None, pool_state="public", tags=[distributor, hot]),
        ContactFactory(owner=org.carol, tags=[led, distributor, hot]),  # other team
    ]
    return [led, distributor, hot], contacts


@pytest.mark.parametrize("who", ["alice", "manager_north", "admin"])
def test_tag_filter_on_scoped_queryset_has_no_duplicates(org, tagged, who):
    tags, contacts = tagged
    user = getattr(org, who)
    visible = Contact.objects.visible_to(user)
    expected = {c.pk for c in contacts if visible.filter(pk=c.pk).exists()}
    # The naive join would repeat contacts carrying several of the tags: the data can catch it.
    assert visible.filter(tags__in=tags).count() > len(expected)

    data = {"tags": [str(t.pk) for t in tags]}
    qs = ContactFilter(data, queryset=visible.for_list(), user=user).qs
    ids = list(qs.values_list("pk", flat=True))
    assert qs.count() == len(ids) == len(set(ids))
    assert set(ids) == expected
    assert not qs.query.distinct  # no DISTINCT needed to hide duplicates


@pytest.mark.parametrize("who", ["alice", "manager_north", "manager_europe", "admin"])
def test_visible_to_scopes_with_subqueries_not_joins(org, who):
    """The outer query reads the contact table alone: the scope is an `owner_id IN (...)`."""
    qs = Contact.objects.visible_to(getattr(org, who))
    outer_from = re.search(r" FROM (.*?)(?: WHERE | ORDER BY |$)", str(qs.query)).group(1)
    assert outer_from == f'"{Contact._meta.db_table}"'
    assert not qs.query.distinct
    ids = list(qs.values_list("pk", flat=True))
    assert qs.count() == len(ids) == len(set(ids))


def test_manager_of_two_teams_sees_each_contact_once(org):
    """Managing several teams must not multiply rows (team membership is a subquery)."""
    org.europe.managers.add(org.manager_north)
    extra_team = TeamFactory(name="Middle East")
    extra_team.managers.add(org.manager_north)
    qs = Contact.objects.visible_to(org.manager_north)
    ids = list(qs.values_list("pk", flat=True))
    assert qs.count() == len(ids) == len(set(ids)) == 4


def test_company_scope_has_no_duplicates_with_many_contacts_per_company(org):
    company = org.alice_contact.company
    for _ in range(3):
        ContactFactory(owner=org.alice, company=company)
    qs = Company.objects.visible_to(org.manager_north)
    ids = list(qs.values_list("pk", flat=True))
    assert qs.count() == len(ids) == len(set(ids))
    assert company.pk in ids
