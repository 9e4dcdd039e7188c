"""E-mail address quality: syntax, mail servers, throwaway domains, role mailboxes, typos.

`check_address` never raises and never blocks: without a network (or with a DNS server that
answers "no such domain" for everything) the mail-server part is None, "unknown", and the
verdict says so. MX answers are cached in Django's cache for a day.

Settings (optional, read with defaults): EMAIL_CHECK_DNS_TIMEOUT (seconds, 2.0),
EMAIL_CHECK_CANARY_DOMAIN ("gmail.com": a "no such domain" answer is only believed while this
one resolves), EMAIL_CHECK_BATCH (500 addresses per task run).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import logging
from collections.abc import Callable

import email_validator
from disposable_email_domains import blocklist as _PACKAGED_DISPOSABLE
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

VALID, RISKY, INVALID, UNKNOWN = "valid", "risky", "invalid", "unknown"

MX_CACHE_SECONDS = 24 * 60 * 60
UNKNOWN_CACHE_SECONDS = 10 * 60  # a DNS outage is asked about again soon, not hammered
CACHE_PREFIX = "email-quality:mx:v1:"

# Reserved for documentation and tests (RFC 2606/6761): never looked up, always "unknown".
RESERVED_TLDS = frozenset({"example", "test", "invalid", "localhost", "local"})

# Real mail providers our customers use that the packaged list names anyway.
NOT_DISPOSABLE = frozenset({"21cn.com"})  # China Telecom's mail
# Throwaway inboxes: the packaged list (disposable-email-domains) plus ones seen by our users.
DISPOSABLE_DOMAINS = (frozenset(_PACKAGED_DISPOSABLE) - NOT_DISPOSABLE) | {
    "mailinator.com",
    "guerrillamail.com",
    "guerrillamail.net",
    "sharklasers.com",
    "10minutemail.com",
    "yopmail.com",
    "temp-mail.org",
    "tempmail.com",
    "trashmail.com",
    "throwawaymail.com",
    "getnada.com",
    "maildrop.cc",
    "dispostable.com",
    "fakeinbox.com",
    "mailnesia.com",
}

# Shared mailboxes rather than a person. The buyer mailboxes are how many importers buy:
# flagged as roles, but scored almost like a person.
ROLE_LOCAL_PARTS = frozenset(
    {
        "info",
        "sales",
        "admin",
        "administrator",
        "support",
        "contact",
        "contactus",
        "office",
        "hello",
        "mail",
        "enquiry",
        "enquiries",
        "inquiry",
        "inquiries",
        "service",
        "services",
        "customerservice",
        "marketing",
        "team",
        "help",
        "billing",
        "accounts",
        "finance",
        "hr",
        "jobs",
        "webmaster",
    }
)
BUYER_LOCAL_PARTS = frozenset(
    {
        "purchasing",
        "purchase",
        "purchases",
        "procurement",
        "buyer",
        "buyers",
        "buying",
        "import",
        "imports",
        "sourcing",
        "order",
        "orders",
    }
)
# Nobody reads these: an address here is risky, whatever its domain.
UNREAD_LOCAL_PARTS = frozenset(
    {
        "noreply",
        "no-reply",
        "no_reply",
        "donotreply",
        "do-not-reply",
        "postmaster",
        "hostmaster",
        "abuse",
        "mailer-daemon",
    }
)

# Providers our customers use, for typo suggestions (gmial.com -> gmail.com).
COMMON_PROVIDERS = (
    "gmail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "icloud.com",
    "qq.com",
    "163.com",
    "126.com",
    "foxmail.com",
    "sina.com",
    "yandex.ru",
    "protonmail.com",
)
# Real domains one letter away from a provider: never "corrected".
REAL_LOOKALIKES = frozenset(
    {
        "mail.com",
        "email.com",
        "ymail.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "live.com",
        "msn.com",
        "aol.com",
        "me.com",
        "mac.com",
        "sina.cn",
        "sohu.com",
        "yeah.net",
        "139.com",
        "189.cn",
        "aliyun.com",
        "hotmail.co.uk",
        "yahoo.co.uk",
        "yahoo.co.jp",
        "outlook.de",
    }
)
# Common slips in ".com".
COM_TYPOS = frozenset(
    {"con", "cmo", "ocm", "comm", "co", "cm", "om", "vom", "xom", "cpm", "cim", "c0m", "coom"}
)


@dataclasses.dataclass(frozen=True)
class AddressCheck:
    """What we know about one address. domain_has_mx: True / False / None (unknown)."""

    email: str
    syntax_ok: bool
    normalized: str | None
    domain: str
    domain_has_mx: bool | None
    disposable: bool
    role: bool
    buyer_mailbox: bool
    suggestion: str | None
    verdict: str  # valid / risky / invalid / unknown
    reasons: tuple[str, ...] = ()


# A lookup answers True (mail servers), False (the domain takes no mail) or raises.
MxLookup = Callable[[str], bool]


def dns_mx_lookup(domain: str, *, resolver=None) -> bool:
    """Ask DNS: MX records, else the A/AAAA fallback (RFC 5321 §5). Raises on network errors."""
    import dns.exception
    import dns.resolver

    if resolver is None:
        resolver = dns.resolver.Resolver()
        resolver.lifetime = float(getattr(settings, "EMAIL_CHECK_DNS_TIMEOUT", 2.0))
    try:
        answer = resolver.resolve(domain, "MX")
    except dns.resolver.NXDOMAIN:
        return False
    except dns.resolver.NoAnswer:
        for record_type in ("A", "AAAA"):
            try:
                resolver.resolve(domain, record_type)
                return True
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                continue
        return False
    # RFC 7505 null MX ("0 .") says the domain accepts no mail.
    return any(str(record.exchange).rstrip(".") for record in answer)


# The hook tests replace (or pass `lookup=` to the functions below).
mx_lookup: MxLookup = dns_mx_lookup


def _cache_get(key):
    try:
        return cache.get(key)
    except Exception:  # noqa: BLE001 - a cache outage only costs a lookup
        logger.warning("cache unavailable for e-mail checks", exc_info=True)
        return None


def _cache_set(key, value, timeout):
    try:
        cache.set(key, value, timeout)
    except Exception:  # noqa: BLE001
        logger.warning("cache unavailable for e-mail checks", exc_info=True)


def _ask(lookup: MxLookup, domain: str) -> bool | None:
    try:
        return bool(lookup(domain))
    except Exception:  # noqa: BLE001 - timeouts, no network, no resolver: all "unknown"
        logger.info("MX lookup for %s failed", domain, exc_info=True)
        return None


def _dns_is_trustworthy(lookup: MxLookup) -> bool:
    """Does the resolver find a domain that surely exists? Sandboxes and captive portals answer
    "no such domain" for everything; then a "no" means nothing."""
    canary = getattr(settings, "EMAIL_CHECK_CANARY_DOMAIN", "gmail.com")
    key = f"{CACHE_PREFIX}canary:{canary}"
    known = _cache_get(key)
    if known is not None:
        return known == "yes"
    ok = _ask(lookup, canary) is True
    _cache_set(key, "yes" if ok else "no", MX_CACHE_SECONDS if ok else UNKNOWN_CACHE_SECONDS)
    return ok


def is_reserved(domain: str) -> bool:
    """Documentation and test domains (customer.example): nothing to ask DNS about."""
    return not domain or domain.rstrip(".").rsplit(".", 1)[-1].lower() in RESERVED_TLDS


def domain_has_mx(domain: str, *, lookup: MxLookup | None = None) -> bool | None:
    """True when the domain has mail servers, False when DNS says it has none, None when unknown.

    Never raises. Answers are cached for a day; "unknown" for ten minutes.
    """
    domain = (domain or "").strip().lower().rstrip(".")
    if is_reserved(domain):
        return None
    lookup = lookup or mx_lookup
    key = CACHE_PREFIX + domain
    cached = _cache_get(key)
    if cached is not None:
        return {"yes": True, "no": False}.get(cached)
    answer = _ask(lookup, domain)
    if answer is False and not _dns_is_trustworthy(lookup):
        answer = None
    stored = {True: "yes", False: "no", None: "unknown"}[answer]
    _cache_set(key, stored, UNKNOWN_CACHE_SECONDS if answer is None else MX_CACHE_SECONDS)
    return answer


def _distance(a: str, b: str, limit: int) -> int:
    """Edit distance counting a swap of neighbours as one edit (gmial -> gmail); stops early."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


@functools.lru_cache(maxsize=20_000)
def suggest_domain(domain: str) -> str | None:
    """The common provider the user probably meant, or None (gmial.com -> gmail.com)."""
    domain = (domain or "").lower()
    if domain in COMMON_PROVIDERS or domain in REAL_LOOKALIKES or "." not in domain:
        return None
    label, rest = domain.split(".", 1)
    best, best_distance = None, None
    for provider in COMMON_PROVIDERS:
        p_label, p_rest = provider.split(".", 1)
        if label == p_label:
            # The provider's name with a slip in ".com": gmail.con, qq.co, 163.cm
            if p_rest == "com" and rest in COM_TYPOS:
                return provider
            continue
        if rest not in (p_rest, *(COM_TYPOS if p_rest == "com" else ())):
            continue
        if len(p_label) < 4 or not p_label.isalpha():
            continue  # qq, 163, 126: one edit away is another real domain
        limit = 2 if len(p_label) >= 7 else 1
        distance = _distance(label, p_label, limit)
        if distance <= limit and (best_distance is None or distance < best_distance):
            best, best_distance = provider, distance
    return best


def _verdict(syntax_ok, has_mx, risky_reasons) -> str:
    if not syntax_ok or has_mx is False:
        return INVALID
    if risky_reasons:
        return RISKY
    return VALID if has_mx else UNKNOWN


def check_address(email: str, *, resolve: bool = True, lookup: MxLookup | None = None):
    """Check one address. `resolve=False` skips DNS (mail servers unknown). Never raises."""
    raw = (email or "").strip()
    try:
        parsed = email_validator.validate_email(
            raw, check_deliverability=False, allow_smtputf8=True
        )
    except (email_validator.EmailNotValidError, ValueError, TypeError):
        domain = raw.rsplit("@", 1)[-1].lower() if "@" in raw else ""
        return AddressCheck(
            email=raw,
            syntax_ok=False,
            normalized=None,
            domain=domain,
            domain_has_mx=None,
            disposable=False,
            role=False,
            buyer_mailbox=False,
            suggestion=None,
            verdict=INVALID,
            reasons=("syntax",),
        )
    domain = parsed.ascii_domain.lower()
    has_mx = domain_has_mx(domain, lookup=lookup) if resolve else None
    return _assess(raw, parsed.local_part, domain, has_mx, normalized=parsed.normalized.lower())


def _assess(raw, local_part, domain, has_mx, *, normalized) -> AddressCheck:
    """The flags that need only the address's two halves, and the verdict."""
    local = local_part.lower().split("+", 1)[0]
    disposable = domain in DISPOSABLE_DOMAINS or domain.split(".", 1)[-1] in DISPOSABLE_DOMAINS
    unread = local in UNREAD_LOCAL_PARTS
    buyer = local in BUYER_LOCAL_PARTS
    role = unread or buyer or local in ROLE_LOCAL_PARTS
    suggestion = suggest_domain(domain)
    reasons = []
    if has_mx is False:
        reasons.append("no_mail_server")
    elif has_mx is None:
        reasons.append("mail_server_unknown")
    if disposable:
        reasons.append("disposable")
    if unread:
        reasons.append("unread_mailbox")
    elif role:
        reasons.append("buyer_mailbox" if buyer else "role")
    if suggestion:
        reasons.append("typo")
    risky = disposable or unread or bool(suggestion)
    return AddressCheck(
        email=raw,
        syntax_ok=True,
        normalized=normalized,
        domain=domain,
        domain_has_mx=has_mx,
        disposable=disposable,
        role=role,
        buyer_mailbox=buyer,
        suggestion=f"{local_part}@{suggestion}" if suggestion else None,
        verdict=_verdict(True, has_mx, risky),
        reasons=tuple(reasons),
    )


def flag_stored_address(email: str) -> AddressCheck:
    """The quick flags (throwaway, role, typo) of an address already stored, without a full
    parse or DNS: for scoring 50,000 contacts at once. Its syntax is taken as the stored status
    says (the full check wrote that); the verdict only says "risky" or "unknown"."""
    raw = (email or "").strip()
    local_part, _, domain = raw.rpartition("@")
    return _assess(raw, local_part, domain.lower(), None, normalized=raw.lower())


# Statuses the checks may set; bounce states come from real mail and are never overwritten.
CHECK_MAY_OVERWRITE = ("unknown", "valid", "risky", "invalid")


def check_contacts(queryset, *, limit=None, resolve=True, lookup: MxLookup | None = None):
    """Check the addresses of these contacts (least recently checked first); store the status,
    the time of the check and the health score. Returns a count per verdict.

    Updates only rows whose address and status did not change meanwhile (a bounce arriving
    during the run wins). After three unknown mail-server answers in a row (no network) the
    rest of the run skips DNS instead of waiting for each time-out.
    """
    from django.db.models import F
    from django.utils import timezone

    from .health import bounce_counts, health_score, last_replies
    from .models import Contact

    limit = limit or int(getattr(settings, "EMAIL_CHECK_BATCH", 500))
    contacts = list(queryset.order_by(F("email_checked_at").asc(nulls_first=True), "pk")[:limit])
    now = timezone.now()
    replies = last_replies([c.pk for c in contacts])
    bounces = bounce_counts(contacts, now=now)
    counts = {VALID: 0, RISKY: 0, INVALID: 0, UNKNOWN: 0}
    unknown_in_a_row = 0
    for contact in contacts:
        check = check_address(contact.email, resolve=resolve, lookup=lookup)
        counts[check.verdict] += 1
        looked_up = resolve and check.syntax_ok and not is_reserved(check.domain)
        if looked_up and check.domain_has_mx is None:
            unknown_in_a_row += 1
            if unknown_in_a_row >= 3:
                resolve = False
        elif check.domain_has_mx is not None:
            unknown_in_a_row = 0
        before = contact.email_status
        if check.verdict != UNKNOWN and before in CHECK_MAY_OVERWRITE:
            contact.email_status = check.verdict
        score = health_score(
            contact,
            check=check,
            bounces=bounces.get(contact.pk),
            last_reply_at=replies.get(contact.pk),
            now=now,
        )
        updated = Contact.objects.filter(pk=contact.pk, email=contact.email, email_status=before)
        if not updated.update(
            email_status=contact.email_status, email_checked_at=now, health_score=score
        ):  # bounced or re-addressed meanwhile: only note the check
            Contact.objects.filter(pk=contact.pk).update(email_checked_at=now)
    return counts


def check_due_addresses(*, limit=None, batch=None, max_age_days=30, resolve=True, lookup=None):
    """Check, batch after batch, the addresses never checked or not checked for `max_age_days`
    (0: all), at most `limit` in all. Returns the count per verdict. Safe to re-run: a checked
    address is not due again until it ages."""
    from django.db.models import Q
    from django.utils import timezone

    from .models import Contact

    batch = batch or int(getattr(settings, "EMAIL_CHECK_BATCH", 500))
    started = timezone.now()
    checked_before = started - datetime.timedelta(days=max_age_days) if max_age_days else started
    due = Q(email_checked_at__isnull=True) | Q(email_checked_at__lt=checked_before)
    totals = {VALID: 0, RISKY: 0, INVALID: 0, UNKNOWN: 0}
    remaining = limit
    while remaining is None or remaining > 0:
        size = batch if remaining is None else min(batch, remaining)
        counts = check_contacts(
            Contact.objects.filter(due), limit=size, resolve=resolve, lookup=lookup
        )
        done = sum(counts.values())
        for verdict, n in counts.items():
            totals[verdict] += n
        if remaining is not None:
            remaining -= done
        if done < size:
            break
    return totals
