"""Check customers' e-mail addresses: syntax, mail servers, throwaway domains, roles, typos."""

from django.core.management.base import BaseCommand

from contacts.email_quality import check_due_addresses
from contacts.health import refresh_health_scores
from contacts.models import Contact


class Command(BaseCommand):
    help = (
        "Check the addresses never checked or not checked for 30 days, least recently checked "
        "first; store each contact's e-mail status (bounce states are never overwritten) and "
        "health score. Without a network the mail-server part is 'unknown', never an error."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None, help="Check at most N addresses.")
        parser.add_argument(
            "--all", action="store_true", help="Check every address, however recently checked."
        )
        parser.add_argument(
            "--no-dns", action="store_true", help="Skip the mail-server lookups (offline)."
        )
        parser.add_argument(
            "--refresh-health",
            action="store_true",
            help="Afterwards recompute every contact's health score (replies age).",
        )

    def handle(self, *, limit=None, all=False, no_dns=False, refresh_health=False, **options):
        counts = check_due_addresses(limit=limit, max_age_days=0 if all else 30, resolve=not no_dns)
        self.stdout.write(
            "checked {total}: {valid} valid, {risky} risky, {invalid} invalid, "
            "{unknown} unknown".format(total=sum(counts.values()), **counts)
        )
        if refresh_health:
            changed = refresh_health_scores(Contact.objects.all())
            self.stdout.write(f"health scores changed: {changed}")
