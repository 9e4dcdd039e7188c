"""Dormancy sweep, warnings, release to the team pool, claims and their race."""

import datetime
import threading

import pytest
from django.db import close_old_connections
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from contacts import pool
from contacts.models import Contact, PoolPolicy
from followups import services
from followups.models import FollowUp, Notification
from tests.factories import ContactFactory

DAY = datetime.timedelta(days=1)


def silent_contact(owner, days):
    contact = ContactFactory(owner=owner)
    Contact.objects.filter(pk=contact.pk).update(
        last_contacted_at=timezone.now() - days * DAY, created_at=timezone.now() - 400 * DAY
    )
    return contact


@pytest.mark.django_db
def test_sweep_moves_silent_customers_through_dormant_warned_released(org):
    policy = PoolPolicy.current()  # 90 days dormant, 30 more to release, warn 7 before
    quiet = silent_contact(org.alice, 100)
    recent = silent_contact(org.alice, 10)
    follow_up = services.plan_follow_up(
        contact=quiet, plan="x", due_at=timezone.now() + DAY, created_by=org.alice
    )
    now = timezone.now()
    assert pool.sweep_dormancy(now=now) == {"dormant": 1, "warned": 0, "released": 0}
    assert pool.sweep_dormancy(now=now) == {"dormant": 0, "warned": 0, "released": 0}
    quiet.refresh_from_db()
    assert quiet.pool_state == "dormant" and quiet.owner == org.alice
    assert Contact.objects.get(pk=recent.pk).pool_state == "active"

    warn_day = now + (policy.release_after_days - policy.warn_days_before_release) * DAY
    assert pool.sweep_dormancy(now=warn_day)["warned"] == 1
    assert pool.sweep_dormancy(now=warn_day)["warned"] == 0
    warned = set(Notification.objects.filter(contact=quiet).values_list("user", flat=True))
    assert warned == {org.alice.pk, org.manager_north.pk}

    release_day = now + policy.release_after_days * DAY
    assert pool.sweep_dormancy(now=release_day)["released"] == 1
    assert pool.sweep_dormancy(now=release_day)["released"] == 0
    quiet.refresh_from_db()
    assert (quiet.owner, quiet.pool_state, quiet.pool_team) == (None, "public", org.north)
    assert FollowUp.objects.get(pk=follow_up.pk).status == "cancelled"
    assert set(AuditEntry.objects.values_list("action", flat=True)) == {"dormant", "release"}
    # The team's pool: north sees it, Europe does not.
    assert Contact.objects.visible_to(org.bob).filter(pk=quiet.pk).exists()
    assert not Contact.objects.visible_to(org.carol).filter(pk=quiet.pk).exists()


@pytest.mark.django_db
def test_an_interaction_reactivates_a_dormant_customer(org):
    quiet = silent_contact(org.alice, 100)
    pool.sweep_dormancy()
    services.log_interaction(contact=quiet, author=org.alice, kind="call", summary="back")
    quiet.refresh_from_db()
    assert quiet.pool_state == "active" and quiet.dormant_since is None


@pytest.mark.django_db
def test_claim_limits_and_gone(org):
    policy = PoolPolicy.current()
    policy.claims_per_day = 1
    policy.save()
    other = ContactFactory(owner=None, pool_state="public")
    claimed = pool.claim_from_pool(user=org.alice, contact_id=org.pool_contact.pk)
    assert claimed.owner == org.alice and claimed.pool_state == "active"
    with pytest.raises(pool.PoolError, match="limit"):
        pool.claim_from_pool(user=org.alice, contact_id=other.pk)
    with pytest.raises(pool.PoolError, match="no longer in the pool"):
        pool.claim_from_pool(user=org.bob, contact_id=org.pool_contact.pk)
    policy.claims_per_day, policy.max_owned_contacts = 10, 1
    policy.save()
    with pytest.raises(pool.PoolError, match="own"):
        pool.claim_from_pool(user=org.alice, contact_id=other.pk)
    with pytest.raises(pool.PoolError):
        pool.claim_from_pool(user=org.alice, contact_id=org.carol_contact.pk)  # not in the pool
    assert AuditEntry.objects.filter(action="claim").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_reps_claiming_at_once_exactly_one_wins(org):
    contact = ContactFactory(owner=None, pool_state="public")
    barrier = threading.Barrier(2)
    outcomes = {}

    def claim(user):
        try:
            barrier.wait()
            pool.claim_from_pool(user=user, contact_id=contact.pk)
            outcomes[user.username] = "won"
        except pool.PoolError:
            outcomes[user.username] = "gone"
        finally:
            close_old_connections()

    threads = [threading.Thread(target=claim, args=(u,)) for u in (org.alice, org.bob)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["gone", "won"]
    winner = next(name for name, result in outcomes.items() if result == "won")
    assert Contact.objects.get(pk=contact.pk).owner.username == winner
    assert AuditEntry.objects.filter(action="claim").count() == 1


@pytest.mark.django_db
def test_pool_page_claim_and_manager_assign(client, org):
    client.force_login(org.alice)
    page = client.get(reverse("contacts:pool")).content.decode()
    assert org.pool_contact.email not in page or org.pool_contact.name in page
    assert 'id="pool-target"' not in page  # reps do not assign
    response = client.post(reverse("contacts:claim", args=[org.pool_contact.pk]))
    assert response.status_code == 302
    assert Contact.objects.get(pk=org.pool_contact.pk).owner == org.alice
    assert client.get(reverse("contacts:claim", args=[org.pool_contact.pk])).status_code == 405
    other = ContactFactory(owner=None, pool_state="public")
    client.force_login(org.manager_north)
    client.post(reverse("contacts:pool_assign"), {"selected": [other.pk], "target": org.carol.pk})
    assert Contact.objects.get(pk=other.pk).owner is None  # carol is not in their teams
    client.post(reverse("contacts:pool_assign"), {"selected": [other.pk], "target": org.bob.pk})
    assert Contact.objects.get(pk=other.pk).owner == org.bob
    assert AuditEntry.objects.filter(action="assign_from_pool").count() == 1
