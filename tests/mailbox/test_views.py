"""The unmatched list: attach a reply to a customer, or make one from it, within one's scope."""

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.models import Contact
from followups.models import Interaction
from mailbox.models import IncomingMessage, Mailbox, MessageKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def unmatched(db):
    mailbox = Mailbox.objects.create(name="sales", host="imap.example", username="sales")
    return IncomingMessage.objects.create(
        mailbox=mailbox,
        folder="INBOX",
        uidvalidity=1,
        uid=7,
        message_id="<r7@buyer.example>",
        raw_sha256="0" * 64,
        received_at=timezone.now(),
        sender="new.buyer@buyer.example",
        sender_name="Katarzyna Nowak",
        subject="RE: Proforma invoice PI-2024-118",
        body_text="We confirm the PI. PO attached.",
        kind=MessageKind.HUMAN_REPLY,
        matched=False,
        processed_at=timezone.now(),
    )


def test_signed_in_users_see_the_unmatched_list(client, org, unmatched):
    assert client.get(reverse("mailbox:unmatched_list")).status_code == 302  # to the login
    client.force_login(org.alice)
    page = client.get(reverse("mailbox:unmatched_list")).content.decode()
    assert "new.buyer@buyer.example" in page and "Proforma invoice" in page
    detail = client.get(reverse("mailbox:unmatched_detail", args=[unmatched.pk]))
    assert "We confirm the PI" in detail.content.decode()


def test_attach_to_an_own_contact_logs_the_email(client, org, unmatched):
    client.force_login(org.alice)
    found = client.get(
        reverse("mailbox:unmatched_detail", args=[unmatched.pk]), {"q": "buyer"}
    ).content.decode()
    assert org.alice_contact.email in found
    assert org.bob_contact.email not in found  # another rep's customer is never offered

    response = client.post(
        reverse("mailbox:attach", args=[unmatched.pk]), {"contact": org.alice_contact.pk}
    )

    assert response.status_code == 302
    interaction = Interaction.objects.get(contact=org.alice_contact)
    assert interaction.kind == "email_in" and interaction.author == org.alice
    assert interaction.summary == "RE: Proforma invoice PI-2024-118"
    unmatched.refresh_from_db()
    assert unmatched.matched and unmatched.contact == org.alice_contact
    assert unmatched.resolved_by == org.alice
    assert "new.buyer" not in client.get(reverse("mailbox:unmatched_list")).content.decode()


def test_attaching_to_a_contact_outside_ones_scope_is_a_404(client, org, unmatched):
    client.force_login(org.alice)
    url = reverse("mailbox:attach", args=[unmatched.pk])
    for other in (org.bob_contact, org.carol_contact, org.pool_contact):
        response = client.post(url, {"contact": other.pk})
        assert response.status_code == 404
    assert not Interaction.objects.exists()
    unmatched.refresh_from_db()
    assert not unmatched.matched and unmatched.resolved_at is None


def test_a_manager_may_attach_to_a_team_members_contact(client, org, unmatched):
    client.force_login(org.manager_north)
    response = client.post(
        reverse("mailbox:attach", args=[unmatched.pk]), {"contact": org.bob_contact.pk}
    )
    assert response.status_code == 302
    assert Interaction.objects.get().contact == org.bob_contact


def test_create_a_contact_from_the_email(client, org, unmatched):
    client.force_login(org.alice)
    url = reverse("mailbox:create_contact", args=[unmatched.pk])
    form = client.get(url).content.decode()
    assert 'value="new.buyer@buyer.example"' in form and 'value="Katarzyna Nowak"' in form

    response = client.post(
        url, {"name": "Katarzyna Nowak", "email": "new.buyer@buyer.example", "country": "PL"}
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    contact = Contact.objects.get(email="new.buyer@buyer.example")
    assert contact.owner == org.alice
    assert Interaction.objects.get(contact=contact).kind == "email_in"
    unmatched.refresh_from_db()
    assert unmatched.contact == contact and unmatched.matched


def test_dismiss_takes_it_off_the_list_and_twice_is_harmless(client, org, unmatched):
    client.force_login(org.bob)
    url = reverse("mailbox:dismiss", args=[unmatched.pk])
    assert client.post(url).status_code == 302
    assert client.post(url).status_code == 404  # no longer on the list
    unmatched.refresh_from_db()
    assert unmatched.resolved_by == org.bob and not Interaction.objects.exists()


def test_admins_see_the_mailbox_admin_with_its_last_error_and_nobody_else(client, org, unmatched):
    Mailbox.objects.filter(pk=unmatched.mailbox_id).update(
        last_error="connect imap.example:993: error: [AUTHENTICATIONFAILED] Authentication failed."
    )
    client.force_login(org.admin)
    page = client.get(reverse("admin:crm_mailbox_mailbox_changelist")).content.decode()
    assert "AUTHENTICATIONFAILED" in page
    add = client.get(reverse("admin:crm_mailbox_mailbox_add")).content.decode()
    assert 'type="password"' in add
    for name in ("incomingmessage", "bounce", "outgoingmessage"):
        assert client.get(reverse(f"admin:crm_mailbox_{name}_changelist")).status_code == 200
    client.force_login(org.manager_north)
    response = client.get(reverse("admin:crm_mailbox_mailbox_changelist"))
    assert response.status_code in (302, 403)
