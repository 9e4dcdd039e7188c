"""Project-level promises: compose file, settings for production, error pages."""

from pathlib import Path

import pytest
import yaml
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[1]


def test_compose_file_parses_and_names_the_services():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "beat", "postgres", "redis", "mailpit"} <= set(services)
    for name in ("web", "worker", "beat"):
        assert services[name]["build"] == "."  # one image for all app services
    assert "gunicorn" in services["web"]["command"]
    assert "worker" in services["worker"]["command"]
    assert "DatabaseScheduler" in services["beat"]["command"]


def test_readme_starts_with_the_two_commands():
    head = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:15]
    assert any("make run" in line for line in head)
    assert any("make test" in line for line in head)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_debug_false_404_is_plain(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"Traceback" not in response.content
    assert b"urlpatterns" not in response.content


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_debug_false_500_is_plain(client, monkeypatch):
    from crm import views

    def explode(request):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(views, "dashboard", explode)
    from django.urls import clear_url_caches

    client.raise_request_exception = False
    import crm.urls  # noqa: F401

    monkeypatch.setattr(crm.urls.urlpatterns[0], "callback", explode)
    clear_url_caches()
    response = client.get("/")
    assert response.status_code == 500
    assert b"secret detail" not in response.content
    assert b"Traceback" not in response.content
    assert "服务器错误".encode() in response.content
