"""Settings of the Celery processes the job tests start: the test settings on a queue of their own.

Each test names a fresh queue (JOBS_TEST_QUEUE), so a message left over from an earlier test, or
from another run of these tests sharing the Redis database, never reaches its workers.
"""

import os

from crm.test_settings import *  # noqa: F403

CELERY_TASK_DEFAULT_QUEUE = os.environ.get("JOBS_TEST_QUEUE", "celery")
