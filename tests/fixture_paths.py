"""Where the shared fixtures live: shared/ beside the checkout, as CI lays it out."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TRADE_CRM_SHARED", REPO.parent / "shared"))
LEGACY_FIXTURES = Path(os.environ.get("LEGACY_FIXTURES_DIR", SHARED / "fixtures" / "legacy"))
MAIL_FIXTURES = Path(os.environ.get("MAIL_FIXTURES", SHARED / "fixtures" / "mail"))
