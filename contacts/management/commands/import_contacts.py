"""Import a legacy customer spreadsheet (.xlsx, .xls, .csv) from the command line."""

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from contacts.importing import ImportFileError, import_contacts
from contacts.importing.report import summary_lines


class Command(BaseCommand):
    help = (
        "Import contacts from a legacy spreadsheet, all or nothing. Rows whose e-mail is "
        "already in the CRM fill that contact's empty fields; nothing is overwritten."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument(
            "--owner",
            metavar="USERNAME",
            help="Owner of the new contacts whose row names no owner.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Read the file and report what would happen; write nothing.",
        )
        parser.add_argument(
            "--format",
            choices=("text", "json"),
            default="text",
            help="json prints exactly one JSON report on standard output.",
        )

    def handle(self, path, owner=None, dry_run=False, format="text", **options):
        default_owner = None
        if owner:
            default_owner = get_user_model().objects.filter(username=owner).first()
            if default_owner is None:
                raise CommandError(f"No user with the username {owner!r}; nothing was imported.")
        try:
            result = import_contacts(path, default_owner=default_owner, dry_run=dry_run)
        except ImportFileError as error:
            raise CommandError(f"{path}: {error.message} Nothing was imported.") from error
        if format == "json":
            self.stdout.write(json.dumps(result.report, ensure_ascii=False, indent=2))
            return
        for line in summary_lines(result.report):
            self.stdout.write(line)
