"""Settings of the Celery workers the import-flow test starts: the job tests' settings (the test
settings on a queue of the test's own), with a short lease so a killed worker shows soon.

IMPORT_UPLOAD_DIR comes from the environment: the test's private folder.
"""

from tests.followups.jobs_settings import *  # noqa: F403

IMPORT_STALE_SECONDS = 3
IMPORT_HEARTBEAT_SECONDS = 1
