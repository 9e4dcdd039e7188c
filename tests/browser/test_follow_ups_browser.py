"""The daily habit in a real browser: log a call with the next step, find it on My day, finish it;
and a manager's handover of a leaving rep."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Handover
from contacts.models import Contact
from followups import services
from followups.models import FollowUp, Interaction

pytestmark = pytest.mark.browser


def test_log_a_call_with_next_follow_up_then_complete_it_on_my_day(org, new_context):
    contact = org.alice_contact
    page = new_context(user=org.alice).new_page()
    page.goto(f"/contacts/{contact.pk}/")
    form = page.locator("#quick-log-form")
    form.locator("select[name=kind]").select_option("call")
    form.locator("input[name=summary]").fill("Called about the LED panel order")
    form.locator("input[name=next_plan]").fill("Send the proforma invoice")
    today = timezone.localdate().isoformat()
    form.locator("input[name=next_due_date]").fill(today)
    form.locator("#quick-log-submit").click()
    # htmx swaps the story in place: the call is on the timeline, the follow-up is open.
    expect(page.locator("#timeline")).to_contain_text("Called about the LED panel order")
    expect(page.locator("#follow-ups")).to_contain_text("Send the proforma invoice")
    assert Interaction.objects.get(contact=contact).kind == "call"
    follow_up = FollowUp.objects.get(contact=contact)

    page.locator("#nav-my-day").click()
    row = page.locator(f"#today #follow-up-{follow_up.pk}")
    expect(row).to_contain_text("Send the proforma invoice")
    expect(row).to_contain_text(contact.name)
    row.locator("input[name=note]").fill("PI sent")
    row.locator(".complete-button").click()
    expect(page.locator(f"#follow-up-{follow_up.pk}")).to_have_class("follow-up status-done")
    follow_up.refresh_from_db()
    assert follow_up.status == "done" and follow_up.completion_note == "PI sent"
    page.reload()
    expect(page.locator(f"#follow-up-{follow_up.pk}")).to_have_count(0)


def test_done_on_my_day_logs_the_call_and_plans_the_next_step_in_one_submit(org, new_context):
    contact = org.alice_contact
    follow_up = FollowUp.objects.create(
        contact=contact,
        assignee=org.alice,
        plan="Ask about the sample",
        due_at=timezone.now() - datetime.timedelta(minutes=5),
    )
    zone = services.user_zone(org.alice)
    tomorrow = (timezone.now().astimezone(zone) + datetime.timedelta(days=1)).date().isoformat()
    page = new_context(user=org.alice).new_page()
    page.goto("/my-day/")
    row = page.locator(f"#follow-up-{follow_up.pk}")
    row.locator("input[name=note]").fill("Sample approved by phone")
    row.locator("select[name=log_kind]").select_option("call")
    next_step = row.locator("details.next-step")
    expect(next_step.locator("input[name=next_plan]")).to_be_hidden()  # folded until asked for
    next_step.locator("summary").click()
    next_step.locator("input[name=next_plan]").fill("Send the proforma invoice")

    # Without a date: the error shows in the row, what was typed stays, nothing changes.
    row.locator(".complete-button").click()
    errors = page.locator(f"#follow-up-{follow_up.pk} .complete-errors")
    expect(errors).to_contain_text("Choose when to follow up.")
    row = page.locator(f"#follow-up-{follow_up.pk}")
    expect(row).to_have_class("follow-up status-open")
    expect(row).to_contain_text(contact.name)
    expect(row.locator("input[name=note]")).to_have_value("Sample approved by phone")
    expect(row.locator("input[name=next_plan]")).to_have_value("Send the proforma invoice")
    follow_up.refresh_from_db()
    assert follow_up.status == "open" and not Interaction.objects.exists()

    row.locator("input[name=next_due_date]").fill(tomorrow)
    row.locator("input[name=next_due_time]").fill("10:30")
    row.locator(".complete-button").click()
    row = page.locator(f"#follow-up-{follow_up.pk}")
    expect(row).to_have_class("follow-up status-done")
    expect(row.locator(".next-planned")).to_contain_text(
        f"Send the proforma invoice, due {tomorrow} 10:30"
    )
    assert Interaction.objects.get(contact=contact).summary == "Sample approved by phone"
    following = FollowUp.objects.get(contact=contact, status="open")
    assert following.assignee == org.alice

    page.reload()
    expect(page.locator(f"#follow-up-{follow_up.pk}")).to_have_count(0)
    expect(page.locator(f"#upcoming #follow-up-{following.pk}")).to_contain_text(
        "Send the proforma invoice"
    )
    expect(page.locator(f"#upcoming #follow-up-{following.pk} .when")).to_have_text(
        f"{tomorrow} 10:30"
    )


def test_snooze_moves_a_follow_up_off_today(org, new_context):
    due = timezone.now() - datetime.timedelta(minutes=5)
    follow_up = FollowUp.objects.create(
        contact=org.alice_contact, assignee=org.alice, plan="Chase the sample feedback", due_at=due
    )
    page = new_context(user=org.alice).new_page()
    page.goto("/my-day/")
    row = page.locator(f"#follow-up-{follow_up.pk}")
    row.locator("button[value=tomorrow]").click()
    expect(page.locator(f"#follow-up-{follow_up.pk} .flash")).to_be_visible()
    follow_up.refresh_from_db()
    assert follow_up.due_at > timezone.now()


def test_manager_hands_over_a_leaving_rep(org, new_context):
    page = new_context(user=org.manager_north).new_page()
    page.goto("/team/handover/")
    page.select_option("#id_departing", str(org.alice.pk))
    page.check("input[name=mode][value=one]")
    page.select_option("#id_targets", [str(org.bob.pk)])
    page.check("#id_deactivate")
    page.click("#preview-handover")
    expect(page.locator("#handover-preview")).to_contain_text(org.bob.display_name)
    assert Contact.objects.get(pk=org.alice_contact.pk).owner == org.alice
    page.click("#confirm-handover")
    expect(page.locator("#handover-contacts")).to_contain_text(org.alice_contact.name)
    assert Contact.objects.get(pk=org.alice_contact.pk).owner == org.bob
    assert Handover.objects.count() == 1
    org.alice.refresh_from_db()
    assert not org.alice.is_active
