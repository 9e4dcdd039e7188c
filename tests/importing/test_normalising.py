"""Normalising a large file on two processes gives exactly what one process gives."""

import io
import os

import pytest
from django.core.management import call_command

from contacts.importing import engine, normalising
from contacts.importing.safety import Limits, check_file

from .conftest import EXPECTED_FILES

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    from django.contrib.auth import get_user_model

    call_command(
        "load_users", str(EXPECTED_FILES[0].parent / "salespeople.json"), stdout=io.StringIO()
    )
    return list(get_user_model().objects.order_by("pk"))


def read(path, people, **kwargs):
    limits = Limits.from_settings()
    with open(path, "rb") as stream:
        kind = check_file(stream, filename=path.name, limits=limits)
        return engine.read_file(stream, kind, people=people, limits=limits, **kwargs)


@pytest.mark.parametrize(
    "path", [p.with_name(p.name.removesuffix(".expected.json")) for p in EXPECTED_FILES], ids=str
)
def test_two_processes_give_what_one_gives(path, people, monkeypatch):
    _scans, serial = read(path, people)
    monkeypatch.setattr(normalising, "SPLIT_FROM", 2)
    forks = []
    fork = os.fork
    monkeypatch.setattr(os, "fork", lambda: forks.append(1) or fork())
    progress = []
    _scans, split = read(path, people, progress=lambda done, total: progress.append((done, total)))
    assert forks == [1]
    assert split == serial
    assert progress[-1] == (len(serial), len(serial))


def test_a_failed_second_process_means_the_parent_does_it(people, monkeypatch):
    path = EXPECTED_FILES[0].with_name(EXPECTED_FILES[0].name.removesuffix(".expected.json"))
    _scans, serial = read(path, people)
    monkeypatch.setattr(normalising, "SPLIT_FROM", 2)
    monkeypatch.setattr(normalising.pickle, "dumps", lambda *a, **k: 1 / 0)  # dies in the child
    _scans, split = read(path, people)
    assert split == serial


def test_no_fork_below_the_threshold(people, monkeypatch):
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("forked"))
    path = EXPECTED_FILES[0].with_name(EXPECTED_FILES[0].name.removesuffix(".expected.json"))
    assert read(path, people)[1]


def test_values_longer_than_their_column_are_dropped_with_a_warning_every_time():
    """Each row gets its own warnings and lists, also when the tags cell was seen before."""
    from contacts.importing.rows import OwnerLookup, read_contact_row

    long_tag = "t" * 51  # Tag.name holds 50
    cells = {
        "email": "Buyer@Example.com",
        "name": "N" * 256,  # Contact.name holds 255
        "company": "C" * 256,
        "country": "US",
        "tags": f"VIP, {long_tag}, vip, LED",
    }
    owners = OwnerLookup([])
    first = read_contact_row("Sheet1", 2, cells, owners=owners)
    second = read_contact_row("Sheet1", 3, cells, owners=owners)
    for outcome in (first, second):
        assert outcome.email == "buyer@example.com"
        assert outcome.values["name"] is None
        assert outcome.values["company"] is None
        assert outcome.values["country"] == "US"
        assert outcome.values["tags"] == ["VIP", "LED"]
        assert outcome.warnings == [
            {"field": "name", "code": "too_long", "value": "N" * 256},
            {"field": "company", "code": "too_long", "value": "C" * 256},
            {"field": "tags", "code": "too_long", "value": cells["tags"]},
        ]
    first.values["tags"].append("changed")
    assert second.values["tags"] == ["VIP", "LED"]
