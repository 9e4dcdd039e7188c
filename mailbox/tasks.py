"""Celery entry points for the mailbox: thin, idempotent, ids only."""

from celery import shared_task

from . import effects, sync


@shared_task(acks_late=True, expires=4 * 60)
def sync_mailboxes():
    """Every 5 minutes: each active mailbox's new messages; one failing never stops the next."""
    results = sync.sync_all_mailboxes()
    return {r.mailbox_id: r.ingested for r in results}


@shared_task(acks_late=True, expires=4 * 60)
def sync_one_mailbox(mailbox_id):
    """An admin's "sync now" for one mailbox."""
    return sync.sync_mailbox(mailbox_id).ingested


@shared_task(acks_late=True, expires=6 * 60 * 60)
def apply_bounce_rules():
    """Daily: unapplied bounces and repeated soft bounces (N within D days → hard)."""
    result = effects.apply_bounce_rules()
    return {"applied": result["applied"], "treated_as_hard": len(result["treated_as_hard"])}
