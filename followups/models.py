"""Interactions and follow-up tasks: see the follow-ups issue; the app is reserved here."""
