"""Compile the gettext catalogues (.po → .mo) with polib, so no GNU gettext install is needed."""

import os
import tempfile
from pathlib import Path

import polib
from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Compile locale/*/LC_MESSAGES/*.po into .mo files (pure Python)."

    def handle(self, **options):
        for locale_dir in settings.LOCALE_PATHS:
            for po_path in sorted(Path(locale_dir).glob("*/LC_MESSAGES/*.po")):
                mo_path = po_path.with_suffix(".mo")
                if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
                    continue
                # Write beside the target, then rename: a process reading the catalogue at the
                # same moment (a parallel test run, a running server) never sees half a file.
                handle, tmp_path = tempfile.mkstemp(dir=mo_path.parent, suffix=".mo.tmp")
                os.close(handle)
                try:
                    polib.pofile(str(po_path)).save_as_mofile(tmp_path)
                    os.chmod(tmp_path, 0o644)
                    os.replace(tmp_path, mo_path)
                except BaseException:
                    os.unlink(tmp_path)
                    raise
                self.stdout.write(f"compiled {po_path.relative_to(settings.BASE_DIR)}")
