"""The periodic jobs, in one table. `manage.py setup_schedules` writes them to the database."""

# name → task, how often (seconds) and when a queued run expires (a backlog is dropped).
PERIODIC_JOBS = {
    "send due reminders": {
        "task": "followups.tasks.send_due_reminders",
        "every_seconds": 60,
        "expires": 55,
    },
    # Every 15 minutes: 08:00 comes at a quarter hour in every zone (India +5:30, Nepal +5:45).
    "send daily digests": {
        "task": "followups.tasks.send_daily_digests",
        "every_seconds": 15 * 60,
        "expires": 10 * 60,
    },
    # Daily is enough; running it more often changes nothing (it only moves what is due).
    "dormancy sweep": {
        "task": "contacts.tasks.sweep_dormancy",
        "every_seconds": 24 * 60 * 60,
        "expires": 6 * 60 * 60,
    },
    # IMAP → classify → bounce / reply / auto-reply; a run only reads what is new.
    "mailbox sync": {
        "task": "mailbox.tasks.sync_mailboxes",
        "every_seconds": 5 * 60,
        "expires": 4 * 60,
    },
    "bounce cleanup": {
        "task": "mailbox.tasks.apply_bounce_rules",
        "every_seconds": 24 * 60 * 60,
        "expires": 6 * 60 * 60,
    },
    # Address checks work through the least recently checked; scores follow bounces and replies.
    "e-mail checks": {
        "task": "contacts.tasks.check_email_addresses",
        "every_seconds": 24 * 60 * 60,
        "expires": 6 * 60 * 60,
    },
    # Export files are kept CONTACT_EXPORT_RETENTION_DAYS; hourly keeps that close to exact.
    "export cleanup": {
        "task": "contacts.tasks.remove_expired_exports",
        "every_seconds": 60 * 60,
        "expires": 55 * 60,
    },
    "health scores": {
        "task": "contacts.tasks.refresh_contact_health",
        "every_seconds": 24 * 60 * 60,
        "expires": 6 * 60 * 60,
    },
}
