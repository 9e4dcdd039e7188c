"""Classify .eml files: hard bounce, soft bounce, auto-reply, human reply or other."""

import json

from django.core.management.base import BaseCommand, CommandError

from mailbox.classify import classify_message


class Command(BaseCommand):
    help = (
        "Classify each message file (RFC 5322 .eml, as received) as hard_bounce, soft_bounce, "
        "auto_reply, human_reply or other, with the failed recipient and status code of bounces."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE", help="Message files (.eml).")
        parser.add_argument(
            "--format",
            choices=("json", "text"),
            default="text",
            help="json: a list of {file, kind, failed_recipient, status_code}; text: one line "
            "per file (the default).",
        )

    def handle(self, *, files, format="text", **options):
        results, unreadable = [], []
        for path in files:
            try:
                with open(path, "rb") as message_file:
                    raw = message_file.read()
            except OSError as error:
                self.stderr.write(f"{path}: cannot read the file ({error.strerror or error})")
                unreadable.append(path)
                continue
            verdict = classify_message(raw)
            results.append(
                {
                    "file": path,
                    "kind": verdict.kind,
                    "failed_recipient": verdict.failed_recipient,
                    "status_code": verdict.status_code,
                }
            )
        if format == "json":
            self.stdout.write(json.dumps(results, ensure_ascii=False, indent=2))
        else:
            for result in results:
                self.stdout.write("\t".join(str(value or "-") for value in result.values()))
        if unreadable:
            names = ", ".join(unreadable)
            raise CommandError(f"{len(unreadable)} file(s) could not be read: {names}")
