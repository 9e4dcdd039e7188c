"""Celery entry points for customer data: thin, idempotent, ids only."""
from celery import shared_task

from . import pool


@shared_task(acks_late=True, expires=6 * 60 * 60)
def sweep_dormancy():
    """Daily: silent customers become dormant, then warned, then released to the pool."""
    return pool.sweep_dormancy()
