"""crm.bulk's inserts: foreign keys checked once per column, with the integrity PostgreSQL's
own per-row checks give (nothing dangling, referenced rows locked until commit)."""

import threading

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction

from contacts.models import Contact, Tag
from crm import bulk
from crm.bulk import insert_rows

from .factories import ContactFactory, TagFactory

LINKS = Contact.tags.through


def replication_role() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        return cursor.fetchone()[0]


def count_lookups(monkeypatch) -> list:
    """Record every per-column check (the set-based path runs one per foreign key)."""
    calls = []
    real = bulk._check_reference

    def recording(field, values, *, lock):
        calls.append((field.name, lock))
        return real(field, values, lock=lock)

    monkeypatch.setattr(bulk, "_check_reference", recording)
    return calls


@pytest.mark.django_db
def test_links_to_existing_rows_go_in_with_one_check_per_column(monkeypatch):
    calls = count_lookups(monkeypatch)
    contacts = ContactFactory.create_batch(3)
    tags = TagFactory.create_batch(2)
    with transaction.atomic():
        insert_rows(
            LINKS,
            {
                "contact": [c.pk for c in contacts for _t in tags],
                "tag": [t.pk for _c in contacts for t in tags],
            },
            held_references=["contact"],
        )
        assert replication_role() == "origin"  # only the COPY itself ran without row triggers
    assert LINKS.objects.count() == 6
    assert calls == [("contact", False), ("tag", True)]


@pytest.mark.django_db
def test_a_missing_referenced_row_is_refused_before_anything_is_written():
    contact = ContactFactory()
    missing_tag = (Tag.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
    with pytest.raises(IntegrityError, match="1 of 1 referenced rows are missing"):
        with transaction.atomic():
            insert_rows(LINKS, {"contact": [contact.pk], "tag": [missing_tag]})
    assert LINKS.objects.count() == 0
    assert replication_role() == "origin"


@pytest.mark.django_db
def test_a_failed_insert_leaves_the_row_checks_on():
    """A duplicate key aborts the COPY mid-way; rolling back to the savepoint restores the
    setting as well, so the session's next statements are checked row by row again."""
    contact, tag = ContactFactory(), TagFactory()
    LINKS.objects.create(contact=contact, tag=tag)
    with pytest.raises(IntegrityError, match="duplicate key"):
        with transaction.atomic():
            insert_rows(LINKS, {"contact": [contact.pk], "tag": [tag.pk]})
    assert replication_role() == "origin"
    assert LINKS.objects.count() == 1


@pytest.mark.django_db
def test_without_the_setting_postgresql_checks_every_row(settings, monkeypatch):
    settings.BULK_SET_BASED_KEY_CHECKS = False
    calls = count_lookups(monkeypatch)
    contact = ContactFactory()
    missing_tag = (Tag.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
    with pytest.raises(IntegrityError, match="violates foreign key constraint"):
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # not at the test's far commit
            insert_rows(LINKS, {"contact": [contact.pk], "tag": [missing_tag]})
    assert calls == []


@pytest.mark.django_db
def test_outside_a_transaction_postgresql_checks_every_row(monkeypatch):
    """The locks of the set-based check would end with the statement: no shortcut."""
    calls = count_lookups(monkeypatch)
    monkeypatch.setattr(type(connection), "in_atomic_block", False, raising=False)
    contact, tag = ContactFactory(), TagFactory()
    insert_rows(LINKS, {"contact": [contact.pk], "tag": [tag.pk]})
    assert calls == [] and LINKS.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_referenced_row_cannot_be_deleted_until_the_insert_commits():
    """As with PostgreSQL's own check: the tag is locked FOR KEY SHARE until commit, so a
    concurrent delete waits (here: gives up after its lock timeout) instead of leaving the
    new link dangling."""
    contact, tag = ContactFactory(), TagFactory()
    outcome = {}

    def delete_the_tag():
        dsn = connection.get_connection_params()
        with psycopg.connect(
            **{k: v for k, v in dsn.items() if k in {"dbname", "user", "host", "port"}}
        ) as other:
            other.execute("SET lock_timeout = '300ms'")
            try:
                other.execute("DELETE FROM contacts_tag WHERE id = %s", [tag.pk])
                outcome["deleted"] = True
            except psycopg.errors.LockNotAvailable:
                outcome["deleted"] = False

    with transaction.atomic():
        insert_rows(LINKS, {"contact": [contact.pk], "tag": [tag.pk]}, held_references=["contact"])
        worker = threading.Thread(target=delete_the_tag)
        worker.start()
        worker.join(10)
    assert outcome == {"deleted": False}
    assert LINKS.objects.filter(contact=contact, tag=tag).exists()
    assert Tag.objects.filter(pk=tag.pk).exists()
