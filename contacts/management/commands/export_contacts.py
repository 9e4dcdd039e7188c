"""Export the contacts one user may see, as the list page's export would, from the command line."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from contacts.exporting import (
    FORMATS,
    ExportError,
    export_contacts,
    open_temporary_beside,
    write_file_atomically,
)
from contacts.models import Contact

LANGUAGES = ("zh-hans", "en")


class Command(BaseCommand):
    help = (
        "Export the contacts USERNAME may see (.csv, .xlsx or .json, the import template's "
        "form), audited and formula-safe like an export from the contact list."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, metavar="USERNAME")
        parser.add_argument("--format", required=True, choices=FORMATS)
        parser.add_argument(
            "--output",
            required=True,
            metavar="PATH",
            help="The file to write (replaced only once complete); - for standard output.",
        )
        parser.add_argument(
            "--language",
            choices=LANGUAGES,
            help="Language of the .csv/.xlsx column names (default: the user's language).",
        )

    def handle(self, *, user, format, output, language=None, **options):
        account = get_user_model().objects.filter(username=user).first()
        if account is None:
            raise CommandError(f"No user with the username {user!r}; nothing was exported.")
        if not account.is_active:
            raise CommandError(f"The user {user!r} is inactive; nothing was exported.")
        if language is not None and language not in LANGUAGES:  # call_command skips argparse
            choices = ", ".join(repr(code) for code in LANGUAGES)
            raise CommandError(f"argument --language: invalid choice: {language!r} ({choices})")
        language = language or account.language or LANGUAGES[0]
        to_stdout = output == "-"
        # Both checked before the export starts: a refusal leaves no audit entry and no file.
        stream = self.binary_stdout(format) if to_stdout else None
        handle = None if to_stdout else self.open_output(output)
        rows = 0

        def progress(done):
            nonlocal rows
            rows = done

        try:
            with translation.override(language):
                _name, _type, content = export_contacts(
                    user=account,
                    queryset=Contact.objects.visible_to(account),
                    fmt=format,
                    language=language,
                    source="command",
                    progress=progress,
                )
                if to_stdout:
                    for block in content:
                        stream(block)
                    self.stdout.flush()
                else:
                    write_file_atomically(content, output, handle=handle)
        except ExportError as error:
            raise CommandError(f"{error.message} Nothing was exported.") from error
        except OSError as error:
            raise CommandError(f"Could not write {output}: {error}") from error
        finally:
            if handle is not None and not handle.closed:  # refused before writing began
                handle.close()
                Path(handle.name).unlink(missing_ok=True)
        where = "standard output" if to_stdout else str(Path(output).resolve())
        contacts = "contact" if rows == 1 else "contacts"
        summary = f"Exported {rows} {contacts} visible to {user} as {format} to {where}."
        # With --output - the data owns standard output: the summary goes to standard error.
        (self.stderr if to_stdout else self.stdout).write(summary, style_func=str)

    def open_output(self, output):
        """The temporary file beside `output` the export goes into, renamed when complete."""
        path = Path(output)
        if path.is_dir():
            raise CommandError(f"{output} is a folder, not a file; nothing was exported.")
        try:
            return open_temporary_beside(path)
        except OSError as error:
            reason = error.strerror or error
            message = f"Cannot write to {path}: {reason}; nothing was exported."
            raise CommandError(message) from error

    def binary_stdout(self, fmt):
        """A writer of bytes to standard output (text for .csv/.json when only text is there)."""
        stream = self.stdout._out
        binary = getattr(stream, "buffer", None)
        if binary is not None:
            return binary.write
        if fmt == "xlsx":
            raise CommandError("An .xlsx export needs a file: use --output PATH.")
        return lambda block: stream.write(block.decode("utf-8"))  # blocks end on characters
