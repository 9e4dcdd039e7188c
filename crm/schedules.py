"""The periodic jobs, in one table. `manage.py setup_schedules` writes them to the database."""

# name → (task, every N seconds or crontab minute spec, expires seconds)
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
}
