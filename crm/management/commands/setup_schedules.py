"""Create or update the periodic jobs in django-celery-beat's tables; safe to run any time."""

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from crm.schedules import PERIODIC_JOBS


class Command(BaseCommand):
    help = "Upsert the periodic job schedules (reminders, digests, ...) in the database."

    @transaction.atomic
    def handle(self, **options):
        for name, job in PERIODIC_JOBS.items():
            interval, _ = IntervalSchedule.objects.get_or_create(
                every=job["every_seconds"], period=IntervalSchedule.SECONDS
            )
            task, created = PeriodicTask.objects.get_or_create(
                name=name, defaults={"task": job["task"], "interval": interval}
            )
            wanted = {"task": job["task"], "interval": interval, "expire_seconds": job["expires"]}
            changed = [k for k, v in wanted.items() if getattr(task, k) != v]
            for key in changed:
                setattr(task, key, wanted[key])
            if changed:
                task.save()
            state = "created" if created else ("updated" if changed else "unchanged")
            self.stdout.write(f"{name}: {state}")
