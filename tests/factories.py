"""factory-boy factories for users, teams, companies and contacts."""

from types import SimpleNamespace

import factory
from django.contrib.auth import get_user_model

from accounts.models import Role, Team
from contacts.models import Company, Contact, Tag

PASSWORD = "test-pass-123"


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    name_en = factory.Faker("name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@crm.example")
    role = Role.REP
    language = "en"  # tests read English unless they switch
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    name = factory.Sequence(lambda n: f"Company {n} Ltd")
    country = "US"


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag{n}")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact
        skip_postgeneration_save = True

    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"buyer{n}@customer.example")
    company = factory.SubFactory(CompanyFactory)
    country = "US"
    stage = "inquiry"
    grade = "B"
    channel = "trade_fair"
    owner = factory.SubFactory(UserFactory)

    @factory.post_generation
    def tags(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.tags.set(extracted)


class OrgFactory:
    """Team North (manager + reps alice, bob) and team Europe (manager + rep carol), an admin."""

    @staticmethod
    def create():
        north, europe = TeamFactory(name="North America"), TeamFactory(name="Europe")
        manager_n = UserFactory(username="mgr_north", role=Role.MANAGER, team=north)
        manager_e = UserFactory(username="mgr_europe", role=Role.MANAGER, team=europe)
        north.managers.add(manager_n)
        europe.managers.add(manager_e)
        org = SimpleNamespace(
            north=north,
            europe=europe,
            manager_north=manager_n,
            manager_europe=manager_e,
            alice=UserFactory(username="alice", team=north),
            bob=UserFactory(username="bob", team=north),
            carol=UserFactory(username="carol", team=europe),
            admin=UserFactory(username="boss", role=Role.ADMIN),
        )
        org.alice_contact = ContactFactory(owner=org.alice, email="alice.buyer@customer.example")
        org.bob_contact = ContactFactory(owner=org.bob, email="bob.buyer@customer.example")
        org.carol_contact = ContactFactory(owner=org.carol, email="carol.buyer@customer.example")
        org.pool_contact = ContactFactory(
            owner=None, pool_state="public", email="pool.buyer@customer.example"
        )
        return org
