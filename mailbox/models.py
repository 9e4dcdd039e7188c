"""Mailboxes, ingested messages, bounces and e-mail quality (see the mailbox issue)."""
