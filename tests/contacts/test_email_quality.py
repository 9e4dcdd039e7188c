"""Address checks: syntax, mail servers (fake resolvers; no network), throwaway domains, roles,
typos, the cache, and the stored e-mail status (bounce states are never overwritten)."""

import io
import socket
import time

import dns.resolver
import pytest
from django.core.cache import cache
from django.core.management import call_command

from contacts import email_quality
from contacts.email_quality import check_address, domain_has_mx, suggest_domain
from contacts.models import Contact
from tests.factories import ContactFactory


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()
    yield
    cache.clear()


class FakeDns:
    """A resolver that knows a few domains; the canary (gmail.com) always has mail servers."""

    def __init__(self, answers=None, fail=False):
        self.answers = {"gmail.com": True, **(answers or {})}
        self.fail = fail
        self.calls = []

    def __call__(self, domain):
        self.calls.append(domain)
        if self.fail:
            raise OSError("Network is unreachable")
        return self.answers.get(domain, False)


@pytest.fixture
def fake_dns(monkeypatch):
    fake = FakeDns({"lichtwerk.de": True, "acme.com": True, "gmial.com": True})
    monkeypatch.setattr(email_quality, "mx_lookup", fake)
    return fake


@pytest.mark.parametrize(
    "typed, meant",
    [
        ("gmial.com", "gmail.com"),
        ("gmai.com", "gmail.com"),
        ("gamil.com", "gmail.com"),
        ("gmail.con", "gmail.com"),
        ("hotmial.com", "hotmail.com"),
        ("hotmai.com", "hotmail.com"),
        ("outlok.com", "outlook.com"),
        ("yahooo.com", "yahoo.com"),
        ("yaho.com", "yahoo.com"),
        ("iclod.com", "icloud.com"),
        ("qq.co", "qq.com"),
        ("163.cm", "163.com"),
        ("126.con", "126.com"),
    ],
)
def test_typo_suggestions(typed, meant):
    assert suggest_domain(typed) == meant


@pytest.mark.parametrize(
    "domain",
    [
        "gmail.com",
        "163.com",
        "126.com",
        "qq.com",
        "mail.com",
        "email.com",
        "ymail.com",
        "lichtwerk.de",
        "yahoo.co.uk",
        "hotmail.co.uk",
        "168.com",
        "customer.example",
    ],
)
def test_no_suggestion_for_real_domains(domain):
    assert suggest_domain(domain) is None


def test_typo_makes_the_address_risky_with_a_suggestion(fake_dns):
    check = check_address("Hans.Mueller@gmial.com")
    assert check.suggestion == "Hans.Mueller@gmail.com"
    assert check.verdict == "risky"
    assert "typo" in check.reasons


def test_syntax_errors_are_invalid_and_never_looked_up(fake_dns):
    for address in ["", "no-at-sign", "a@b", "two..dots@acme.com", "a b@acme.com", "@acme.com"]:
        check = check_address(address)
        assert (check.syntax_ok, check.verdict, check.normalized) == (False, "invalid", None)
    assert fake_dns.calls == []


def test_a_good_address_is_valid_and_normalised(fake_dns):
    check = check_address("  Dieter@LichtWerk.DE ")
    assert check.syntax_ok and check.normalized == "dieter@lichtwerk.de"
    assert check.domain_has_mx is True
    assert (check.disposable, check.role, check.suggestion) == (False, False, None)
    assert check.verdict == "valid"


def test_a_domain_without_mail_servers_is_invalid(fake_dns):
    check = check_address("someone@no-such-company-domain.com")
    assert check.domain_has_mx is False
    assert check.verdict == "invalid"


def test_disposable_domains_are_risky(fake_dns):
    fake_dns.answers.update({"mailinator.com": True, "yopmail.com": True})
    for address in [
        "x@mailinator.com",
        "y@yopmail.com",
        "z@guerrillamail.com",
        "q@10minutemail.com",
    ]:
        check = check_address(address)
        assert check.disposable, address
        assert check.verdict in ("risky", "invalid")
    assert check_address("x@mailinator.com").verdict == "risky"


def test_real_providers_are_not_disposable(fake_dns):
    for address in ["li@163.com", "wang@qq.com", "zhang@21cn.com", "a@gmail.com", "b@126.com"]:
        assert not check_address(address, resolve=False).disposable, address


def test_role_addresses_are_flagged(fake_dns):
    info = check_address("info@acme.com")
    assert info.role and not info.buyer_mailbox
    assert info.verdict == "valid"  # a company's info@ is often the real inbox: flagged only
    sales = check_address("Sales+Asia@acme.com")
    assert sales.role
    buyer = check_address("purchasing@acme.com")
    assert buyer.role and buyer.buyer_mailbox and buyer.verdict == "valid"
    assert "buyer_mailbox" in buyer.reasons
    noreply = check_address("no-reply@acme.com")
    assert noreply.role and noreply.verdict == "risky"
    person = check_address("anna.schmidt@acme.com")
    assert not person.role


def test_network_failure_gives_unknown_never_an_error(monkeypatch):
    failing = FakeDns(fail=True)
    monkeypatch.setattr(email_quality, "mx_lookup", failing)
    check = check_address("dieter@lichtwerk.de")
    assert check.domain_has_mx is None
    assert check.verdict == "unknown"
    assert check.syntax_ok


def test_a_resolver_that_denies_everything_is_not_believed():
    """Sandboxes answer "no such domain" for every name: then "no" means "unknown"."""
    liar = FakeDns()
    liar.answers["gmail.com"] = False
    assert domain_has_mx("lichtwerk.de", lookup=liar) is None
    cache.clear()  # the canary's answer is remembered for ten minutes
    honest = FakeDns()
    assert domain_has_mx("no-such-company-domain.com", lookup=honest) is False


def test_answers_are_cached(fake_dns):
    assert domain_has_mx("lichtwerk.de") is True
    assert domain_has_mx("LICHTWERK.DE") is True
    assert check_address("someone@lichtwerk.de").domain_has_mx is True
    assert fake_dns.calls == ["lichtwerk.de"]
    assert domain_has_mx("no-such-company-domain.com") is False
    assert domain_has_mx("no-such-company-domain.com") is False
    assert fake_dns.calls.count("no-such-company-domain.com") == 1


def test_example_and_test_domains_are_unknown_without_a_lookup(fake_dns):
    check = check_address("buyer1@customer.example")
    assert check.syntax_ok and check.domain_has_mx is None and check.verdict == "unknown"
    assert fake_dns.calls == []


def test_resolve_false_skips_dns(fake_dns):
    assert check_address("dieter@lichtwerk.de", resolve=False).domain_has_mx is None
    assert fake_dns.calls == []


def _closed_udp_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_the_real_resolver_gives_unknown_quickly_when_the_network_is_unreachable():
    """dnspython itself, asking a name server that is not there (on this machine only)."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = _closed_udp_port()
    resolver.lifetime = 2.0

    def lookup(domain):
        return email_quality.dns_mx_lookup(domain, resolver=resolver)

    started = time.monotonic()
    assert domain_has_mx("lichtwerk.de", lookup=lookup) is None
    check = check_address("dieter@lichtwerk.de", lookup=lookup)
    assert check.verdict == "unknown"
    assert time.monotonic() - started < 3.5  # one lookup (then cached), bounded by ~2 s


def test_the_default_resolver_never_raises():
    """Whatever this machine's DNS does (none, or a sandbox's), the answer comes back in time."""
    started = time.monotonic()
    result = domain_has_mx("lichtwerk-nonexistent-test-domain.de")
    assert result in (None, False, True)
    assert time.monotonic() - started < 6


# --- stored status ------------------------------------------------------------------------


@pytest.mark.django_db
def test_check_contacts_stores_the_verdict_but_never_overwrites_bounces(fake_dns):
    valid = ContactFactory(email="dieter@lichtwerk.de", email_status="unknown")
    typo = ContactFactory(email="hans@gmial.com", email_status="valid")
    bounced = ContactFactory(email="gone@acme.com", email_status="hard_bounced")
    soft = ContactFactory(email="full@acme.com", email_status="soft_bounced")
    fixture = ContactFactory(email="buyer@customer.example", email_status="valid")

    counts = email_quality.check_contacts(Contact.objects.all())
    assert sum(counts.values()) == 5
    status = dict(Contact.objects.values_list("email", "email_status"))
    assert status[valid.email] == "valid"
    assert status[typo.email] == "risky"
    assert status[bounced.email] == "hard_bounced"
    assert status[soft.email] == "soft_bounced"
    assert status[fixture.email] == "valid"  # "unknown" never replaces what was known
    assert not Contact.objects.filter(email_checked_at__isnull=True).exists()
    assert not Contact.objects.filter(health_score__isnull=True).exists()


@pytest.mark.django_db
def test_after_three_unknown_answers_the_run_stops_asking(monkeypatch):
    failing = FakeDns(fail=True)
    monkeypatch.setattr(email_quality, "mx_lookup", failing)
    for n in range(6):
        ContactFactory(email=f"p{n}@company{n}.com")
    counts = email_quality.check_contacts(Contact.objects.all())
    assert counts["unknown"] == 6
    asked = {d for d in failing.calls if d != "gmail.com"}
    assert len(asked) == 3


@pytest.mark.django_db
def test_check_emails_command_checks_due_addresses_with_a_limit(fake_dns):
    for n in range(5):
        ContactFactory(email=f"buyer{n}@acme.com")
    out = io.StringIO()
    call_command("check_emails", "--limit", "3", stdout=out)
    assert "checked 3" in out.getvalue()
    assert Contact.objects.filter(email_checked_at__isnull=False).count() == 3
    call_command("check_emails", stdout=out)
    assert Contact.objects.filter(email_checked_at__isnull=True).count() == 0
    again = io.StringIO()
    call_command("check_emails", stdout=again)  # nothing is due: checked recently
    assert "checked 0" in again.getvalue()
    assert set(Contact.objects.values_list("email_status", flat=True)) == {"valid"}


@pytest.mark.django_db
def test_celery_task_runs_the_checks_in_batches(fake_dns, settings):
    from contacts.tasks import check_email_addresses

    settings.EMAIL_CHECK_BATCH = 2
    for n in range(5):
        ContactFactory(email=f"buyer{n}@acme.com")
    counts = check_email_addresses.apply().get()
    assert counts["valid"] == 5
    assert not Contact.objects.filter(email_checked_at__isnull=True).exists()
