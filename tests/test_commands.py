"""load_users and seed_demo: real fixture file, idempotent, all-or-nothing."""

import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts.models import Role, Team
from contacts.models import Contact

SALESPEOPLE = (
    Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "legacy" / "salespeople.json"
)

pytestmark = pytest.mark.django_db


def snapshot():
    User = get_user_model()
    return sorted(
        User.objects.values_list(
            "username", "name_zh", "name_en", "aliases", "role", "team__name", "password"
        )
    )


def test_load_users_reads_the_fixture_and_is_idempotent(capsys):
    call_command("load_users", str(SALESPEOPLE))
    User = get_user_model()
    people = json.loads(SALESPEOPLE.read_text(encoding="utf-8"))
    assert User.objects.count() == len(people)
    zhang = User.objects.get(username="zhangwei")
    assert (zhang.name_zh, zhang.name_en, zhang.aliases) == ("张伟", "David Zhang", ["David"])
    assert zhang.role == Role.REP
    assert not zhang.has_usable_password()
    before = snapshot()
    call_command("load_users", str(SALESPEOPLE))
    assert snapshot() == before
    assert "0 created, 0 updated, 4 unchanged" in capsys.readouterr().out


def test_load_users_optional_role_team_email_password(tmp_path):
    path = tmp_path / "people.json"
    path.write_text(
        json.dumps(
            [
                {
                    "username": "boss",
                    "name_zh": "老板",
                    "name_en": "Boss",
                    "aliases": [],
                    "role": "manager",
                    "team": "华南组",
                    "email": "boss@crm.example",
                    "password": "s3cret-pass",
                },
                {
                    "username": "amy",
                    "name_zh": "艾米",
                    "name_en": "Amy",
                    "aliases": ["A"],
                    "team": "华南组",
                },
            ],
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    call_command("load_users", str(path))
    boss = get_user_model().objects.get(username="boss")
    assert boss.role == Role.MANAGER and boss.email == "boss@crm.example"
    assert boss.check_password("s3cret-pass")
    team = Team.objects.get(name="华南组")
    assert list(team.managers.all()) == [boss]
    assert set(team.members.values_list("username", flat=True)) == {"boss", "amy"}
    before = snapshot()
    call_command("load_users", str(path))
    assert snapshot() == before


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "Cannot read"),
        ('{"username": "x"}', "JSON list"),
        ('[{"name_zh": "无名"}]', "no username"),
        ('[{"username": "ok"}, {"username": "bad", "role": "king"}]', "role must be"),
        ('[{"username": "ok"}, {"username": "bad", "colour": "red"}]', "unknown keys"),
        (
            '[{"username": "ok"}, {"username": "bad", "time_zone": "Mars/Base"}]',
            "Nothing was loaded",
        ),
    ],
)
def test_load_users_rejects_bad_files_and_loads_nothing(tmp_path, content, message):
    path = tmp_path / "people.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CommandError, match=message):
        call_command("load_users", str(path))
    assert not get_user_model().objects.exists()


def test_seed_demo_is_deterministic_and_realistic(capsys):
    call_command("seed_demo", contacts=120)
    out = capsys.readouterr().out
    assert "demo-pass-2026" in out and "wangfang" in out
    User = get_user_model()
    assert User.objects.filter(role=Role.ADMIN).count() == 1
    for team in Team.objects.all():
        assert team.managers.count() == 1
        assert team.members.filter(role=Role.REP).count() == 2
    assert Contact.objects.count() == 120
    first = sorted(Contact.objects.values_list("email", "country", "stage", "grade", "channel"))
    assert len({c[1] for c in first}) >= 10
    assert {c[2] for c in first} == {"prospect", "inquiry", "sample", "deal"}
    assert Contact.objects.filter(pool_state="public", owner__isnull=True).exists()
    # Running it again adds nothing and changes nothing.
    call_command("seed_demo", contacts=120)
    assert (
        sorted(Contact.objects.values_list("email", "country", "stage", "grade", "channel"))
        == first
    )
    call_command("seed_demo", "--if-empty")
    assert Contact.objects.count() == 120
