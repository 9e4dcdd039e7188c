"""Load CRM users from a JSON people file (the format of fixtures/legacy/salespeople.json)."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Role
from accounts.services import upsert_user


class Command(BaseCommand):
    help = (
        "Create or update users from a JSON list of {username, name_zh, name_en, aliases, "
        "[role], [team], [email], [password]}. Running it twice changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")

    def handle(self, path, **options):
        try:
            with open(path, encoding="utf-8") as handle:
                people = json.load(handle)
        except (OSError, json.JSONDecodeError) as error:
            raise CommandError(f"Cannot read {path}: {error}") from error
        if not isinstance(people, list):
            raise CommandError("The file must hold a JSON list of people.")
        created = updated = 0
        try:
            with transaction.atomic():  # all or nothing
                for index, person in enumerate(people, start=1):
                    self.check_person(index, person)
                    person = dict(person)
                    if person.get("role") == Role.MANAGER and person.get("team"):
                        person.setdefault("manages", [person["team"]])
                    _, was_created, changed = upsert_user(**person)
                    created += was_created
                    updated += changed and not was_created
        except (ValidationError, ValueError, TypeError) as error:
            raise CommandError(f"Nothing was loaded: {error}") from error
        self.stdout.write(
            f"{created} created, {updated} updated, {len(people) - created - updated} unchanged"
        )

    def check_person(self, index, person):
        if not isinstance(person, dict) or not person.get("username"):
            raise CommandError(f"Entry {index} has no username; nothing was loaded.")
        unknown = set(person) - {
            "username",
            "name_zh",
            "name_en",
            "aliases",
            "role",
            "team",
            "email",
            "password",
            "time_zone",
            "language",
            "manages",
        }
        if unknown:
            raise CommandError(
                f"Entry {index} has unknown keys {sorted(unknown)}; nothing was loaded."
            )
        if person.get("role") not in (None, *Role.values):
            raise CommandError(
                f"Entry {index}: role must be one of {', '.join(Role.values)}; nothing was loaded."
            )
