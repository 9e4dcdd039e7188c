"""Celery entry points for customer data: thin, idempotent, ids only."""

from celery import shared_task

from . import pool
from .importing.jobs import run_import_job


@shared_task(acks_late=True, expires=6 * 60 * 60)
def sweep_dormancy():
    """Daily: silent customers become dormant, then warned, then released to the pool."""
    return pool.sweep_dormancy()


@shared_task(acks_late=True)
def run_import(job_id):
    """Run a confirmed spreadsheet import (all or nothing); see contacts.importing.jobs."""
    return run_import_job(job_id)


@shared_task(acks_late=True)
def run_export(job_id):
    """Write a large export's file for its requester; see contacts.export_jobs."""
    from .export_jobs import run_export_job

    return run_export_job(job_id)


@shared_task(acks_late=True, expires=60 * 60)
def remove_expired_exports():
    """Hourly: export files older than the retention period are deleted."""
    from .export_jobs import remove_expired_exports

    return remove_expired_exports()


@shared_task(acks_late=True, expires=6 * 60 * 60)
def check_email_addresses(limit=None):
    """Daily: check the addresses due (never checked, or not for 30 days), batch by batch."""
    from .email_quality import check_due_addresses

    return check_due_addresses(limit=limit)


@shared_task(acks_late=True, expires=6 * 60 * 60)
def refresh_contact_health():
    """Daily: recompute every contact's health score (reply recency ages)."""
    from .health import refresh_health_scores
    from .models import Contact

    return refresh_health_scores(Contact.objects.all())
