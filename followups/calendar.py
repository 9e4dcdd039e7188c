"""The ICS feed of a user's open follow-ups, for Outlook and Google Calendar subscriptions."""

import datetime

import icalendar
from django.urls import reverse
from django.utils import timezone

from .models import FollowUp
from .services import user_zone


def follow_ups_ics(user, *, base_url) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Trade CRM//follow-ups//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "Trade CRM")
    zone = user_zone(user)
    follow_ups = (
        FollowUp.objects.visible_to(user)
        .open()
        .assigned_to(user)
        .select_related("contact", "contact__company")
        .order_by("due_at")
    )
    stamp = timezone.now()
    for follow_up in follow_ups.iterator(chunk_size=500):
        contact = follow_up.contact
        event = icalendar.Event()
        event.add("uid", f"follow-up-{follow_up.pk}@trade-crm")
        event.add("dtstamp", stamp)
        if follow_up.all_day:
            day = follow_up.due_at.astimezone(zone).date()
            event.add("dtstart", day)
            event.add("dtend", day + datetime.timedelta(days=1))
        else:
            event.add("dtstart", follow_up.due_at)
            event.add("dtend", follow_up.due_at + datetime.timedelta(minutes=30))
        who = contact.name or contact.email
        event.add("summary", f"{follow_up.plan} — {who}")
        link = base_url.rstrip("/") + reverse("contacts:contact_detail", args=[contact.pk])
        event.add("description", f"{who} <{contact.email}>\n{link}")
        event.add("url", link)
        calendar.add_component(event)
    return calendar.to_ical()
