"""A one-off e-mail from a customer's page: sent with a matchable Message-ID, logged, guarded."""

import pytest
from django.core import mail
from django.urls import reverse

from followups.models import Interaction
from mailbox.models import OutgoingMessage

pytestmark = pytest.mark.django_db


def send(client, contact, **data):
    url = reverse("mailbox:send_one_off", args=[contact.pk])
    return client.post(
        url, {"subject": "Our new catalogue", "body": "Please see attached.", **data}
    )


def test_send_logs_and_records_the_message(client, org):
    client.force_login(org.alice)
    response = send(client, org.alice_contact)
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and org.alice_contact.email in mail.outbox[0].to[0]
    outgoing = OutgoingMessage.objects.get()
    assert outgoing.contact == org.alice_contact
    assert mail.outbox[0].extra_headers["Message-ID"] == outgoing.message_id
    interaction = Interaction.objects.get()
    assert (interaction.kind, interaction.summary) == ("email_out", "Our new catalogue")


def test_refused_addresses_and_header_injection_send_nothing(client, org):
    client.force_login(org.alice)
    send(client, org.alice_contact, subject="Hi\r\nBcc: victim@example.com")
    org.alice_contact.email_status = "hard_bounced"
    org.alice_contact.save()
    send(client, org.alice_contact)
    assert mail.outbox == [] and not Interaction.objects.exists()


def test_out_of_scope_is_404(client, org):
    client.force_login(org.carol)
    assert send(client, org.alice_contact).status_code == 404
    assert mail.outbox == []
