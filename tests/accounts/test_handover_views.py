"""The manager's handover screen and bulk reassignment from the contact list."""

import pytest
from django.urls import reverse

from accounts.models import AuditEntry, Handover
from contacts.models import Contact
from followups.models import Notification

pytestmark = pytest.mark.django_db


def test_handover_preview_then_confirm(client, org):
    client.force_login(org.manager_north)
    data = {"departing": org.alice.pk, "mode": "one", "targets": [org.bob.pk]}
    page = client.post(reverse("handover"), {**data, "preview": "1"})
    assert page.status_code == 200
    assert b'id="handover-preview"' in page.content
    assert Contact.objects.get(pk=org.alice_contact.pk).owner == org.alice  # preview moves nothing
    response = client.post(reverse("handover"), {**data, "confirm": "1", "deactivate": "on"})
    record = Handover.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("handover_detail", args=[record.pk])
    assert Contact.objects.get(pk=org.alice_contact.pk).owner == org.bob
    org.alice.refresh_from_db()
    assert not org.alice.is_active
    client.force_login(org.bob)
    summary = client.get(reverse("handover_detail", args=[record.pk]))
    assert org.alice_contact.name.encode() in summary.content
    assert Notification.objects.filter(user=org.bob, handover=record).exists()
    assert b"handovers/" in client.get(reverse("followups:notifications")).content


def test_handover_screen_is_for_managers_and_bounded(client, org):
    client.force_login(org.alice)
    assert client.get(reverse("handover")).status_code == 404
    client.force_login(org.manager_europe)
    page = client.get(reverse("handover")).content.decode()
    assert f'value="{org.carol.pk}"' in page and f'value="{org.alice.pk}"' not in page
    response = client.post(
        reverse("handover"),
        {"departing": org.alice.pk, "mode": "one", "targets": [org.carol.pk], "confirm": "1"},
    )
    assert response.status_code == 200  # form error: alice is not a choice for this manager
    assert Contact.objects.get(pk=org.alice_contact.pk).owner == org.alice
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    "data, error",
    [
        ({"mode": "one", "targets": []}, "exactly one"),
        ({"mode": "spread", "targets": ["bob"]}, "at least two"),
        ({"mode": "one", "targets": ["alice"]}, "cannot take over"),
    ],
)
def test_handover_form_errors_change_nothing(client, org, data, error):
    client.force_login(org.manager_north)
    data = {**data, "targets": [getattr(org, t).pk for t in data["targets"]]}
    response = client.post(reverse("handover"), {"departing": org.alice.pk, "confirm": "1", **data})
    assert response.status_code == 200 and error in response.content.decode()
    assert not Handover.objects.exists()


def test_handover_summary_is_scoped(client, org):
    client.force_login(org.manager_north)
    client.post(
        reverse("handover"),
        {"departing": org.alice.pk, "mode": "one", "targets": [org.bob.pk], "confirm": "1"},
    )
    record = Handover.objects.get()
    client.force_login(org.carol)
    assert client.get(reverse("handover_detail", args=[record.pk])).status_code == 404


def test_bulk_reassign_selected_and_all_matching(client, org):
    client.force_login(org.manager_north)
    url = reverse("contacts:bulk_reassign")
    response = client.post(url, {"selected": [org.alice_contact.pk], "target": org.bob.pk})
    assert response.status_code == 302
    assert Contact.objects.get(pk=org.alice_contact.pk).owner == org.bob
    # All matching the current filter (owner=bob) go back to alice.
    response = client.post(
        url,
        {
            "select_all_matching": "1",
            "filter_query": f"owner={org.bob.pk}",
            "target": org.alice.pk,
        },
    )
    assert set(Contact.objects.filter(owner=org.alice).values_list("pk", flat=True)) == {
        org.alice_contact.pk,
        org.bob_contact.pk,
    }
    assert AuditEntry.objects.filter(action="reassign").count() == 2


def test_bulk_reassign_bounds(client, org):
    url = reverse("contacts:bulk_reassign")
    client.force_login(org.alice)
    assert (
        client.post(url, {"selected": [org.alice_contact.pk], "target": org.bob.pk}).status_code
        == 404
    )
    client.force_login(org.manager_north)
    client.post(url, {"selected": [org.alice_contact.pk], "target": org.carol.pk})
    client.post(url, {"selected": ["x"], "target": "y"})
    assert Contact.objects.get(pk=org.alice_contact.pk).owner == org.alice
    assert not AuditEntry.objects.exists()
    # A forged id among real ones: the in-scope row moves, the forged one is reported.
    response = client.post(
        url,
        {"selected": [org.alice_contact.pk, org.carol_contact.pk], "target": org.bob.pk},
        follow=True,
    )
    assert Contact.objects.get(pk=org.alice_contact.pk).owner == org.bob
    assert Contact.objects.get(pk=org.carol_contact.pk).owner == org.carol
    assert "1 of the chosen customers are not yours to move" in response.content.decode()
