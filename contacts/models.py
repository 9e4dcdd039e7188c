"""The standard customer record: one Contact per e-mail address, grouped by Company."""

import zoneinfo

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from .countries import COUNTRY_NAMES, COUNTRY_TIME_ZONES
from .querysets import CompanyQuerySet, ContactQuerySet

e164_validator = RegexValidator(
    r"^\+[1-9]\d{6,14}$", _("Enter the phone number in international format, e.g. +8613800138000.")
)


class Stage(models.TextChoices):
    PROSPECT = "prospect", _("Prospect")
    INQUIRY = "inquiry", _("Inquiry")
    SAMPLE = "sample", _("Sample")
    DEAL = "deal", _("Deal")


class Grade(models.TextChoices):
    A = "A", _("A (hot)")
    B = "B", _("B (warm)")
    C = "C", _("C (cold)")


class Channel(models.TextChoices):
    TRADE_FAIR = "trade_fair", _("Trade fair")
    ALIBABA = "alibaba", _("Alibaba")
    MADE_IN_CHINA = "made_in_china", _("Made-in-China")
    WEBSITE = "website", _("Website form")
    LINKEDIN = "linkedin", _("LinkedIn")
    REFERRAL = "referral", _("Referral")
    OTHER = "other", _("Other")


class PoolState(models.TextChoices):
    ACTIVE = "active", _("Active")
    DORMANT = "dormant", _("To be reactivated")
    PUBLIC = "public", _("Public pool")


class EmailStatus(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    VALID = "valid", _("Valid")
    RISKY = "risky", _("Risky")
    SOFT_BOUNCED = "soft_bounced", _("Soft-bounced")
    HARD_BOUNCED = "hard_bounced", _("Hard-bounced")
    INVALID = "invalid", _("Invalid")


class LawfulBasis(models.TextChoices):
    CONSENT = "consent", _("Consent")
    LEGITIMATE_INTEREST = "legitimate_interest", _("Legitimate interest")
    CONTRACT = "contract", _("Contract")


def country_name(code, language=None):
    """The country's name in the active (or given) language; the code when unknown."""
    names = COUNTRY_NAMES.get(code)
    if not names:
        return code
    language = language or translation.get_language() or ""
    return names[1] if language.startswith("zh") else names[0]


def country_choices():
    """Countries sorted by their name in the active language (evaluated per request)."""
    language = translation.get_language() or ""
    return sorted(
        ((code, f"{country_name(code, language)} ({code})") for code in COUNTRY_NAMES),
        key=lambda choice: choice[1],
    )


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self):
        return self.name


class Company(models.Model):
    name = models.CharField(_("company name"), max_length=255)
    country = models.CharField(_("country/region"), max_length=2, blank=True)
    website = models.URLField(_("website"), blank=True)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = CompanyQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        constraints = [
            models.UniqueConstraint(Lower("name"), name="company_name_unique_ci"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("contacts:company_detail", args=[self.pk])


class Contact(models.Model):
    # Identity
    name = models.CharField(_("customer name"), max_length=255, blank=True)
    company = models.ForeignKey(
        Company,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contacts",
        verbose_name=_("company"),
    )
    country = models.CharField(_("country/region"), max_length=2, blank=True)
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        help_text=_("Leave empty to use the country's time zone."),
    )
    # Contact details
    email = models.EmailField(_("e-mail address"), max_length=254)
    other_emails = models.JSONField(_("other e-mail addresses"), default=list, blank=True)
    phone = models.CharField(_("phone"), max_length=64, blank=True)
    job_title = models.CharField(_("job title"), max_length=255, blank=True)
    linkedin_url = models.URLField(_("LinkedIn URL"), max_length=500, blank=True)
    # Source and background
    channel = models.CharField(
        _("acquisition channel"), max_length=20, choices=Channel.choices, blank=True
    )
    first_contact_date = models.DateField(_("first contact date"), null=True, blank=True)
    first_product = models.CharField(_("first inquired product"), max_length=255, blank=True)
    referrer = models.CharField(_("referrer"), max_length=255, blank=True)
    referred_by = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("referred by (contact)"),
    )
    inquiry_text = models.TextField(_("original inquiry text"), blank=True)
    # Status
    stage = models.CharField(_("stage"), max_length=10, choices=Stage.choices, blank=True)
    grade = models.CharField(_("interest grade"), max_length=1, choices=Grade.choices, blank=True)
    purchase_cycle = models.CharField(_("expected purchase cycle"), max_length=255, blank=True)
    # Activity: kept current by the service that logs interactions
    last_contacted_at = models.DateTimeField(_("last contacted"), null=True, blank=True)
    summary = models.TextField(_("key communication summary"), blank=True)
    next_follow_up_plan = models.TextField(_("next follow-up plan"), blank=True)
    notes = models.TextField(_("notes"), blank=True)
    # Care
    tags = models.ManyToManyField(Tag, blank=True, related_name="contacts", verbose_name=_("tags"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="contacts",
        verbose_name=_("owner"),
    )
    pool_state = models.CharField(
        _("pool"), max_length=10, choices=PoolState.choices, default=PoolState.ACTIVE
    )
    # Dormancy and the public pool (maintained by contacts.pool, never by hand).
    dormant_since = models.DateTimeField(_("dormant since"), null=True, blank=True)
    release_warned_at = models.DateTimeField(_("release warning sent"), null=True, blank=True)
    released_at = models.DateTimeField(_("released to the pool"), null=True, blank=True)
    pool_team = models.ForeignKey(
        "accounts.Team",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("pool of team"),
        help_text=_("The team whose public pool holds this customer; empty: everyone's."),
    )
    email_status = models.CharField(
        _("e-mail status"),
        max_length=16,
        choices=EmailStatus.choices,
        default=EmailStatus.UNKNOWN,
    )
    # Kept current by the mailbox and e-mail quality checks (see mailbox/).
    health_score = models.PositiveSmallIntegerField(
        _("health score"), null=True, blank=True, db_index=True
    )
    email_checked_at = models.DateTimeField(
        _("e-mail address last checked"), null=True, blank=True, db_index=True
    )
    away_until = models.DateField(_("away until (auto-reply)"), null=True, blank=True)
    consent_basis = models.CharField(
        _("lawful basis"), max_length=24, choices=LawfulBasis.choices, blank=True
    )
    consent_source = models.CharField(_("consent source"), max_length=255, blank=True)
    consent_date = models.DateField(_("consent date"), null=True, blank=True)
    unsubscribed_at = models.DateTimeField(_("unsubscribed"), null=True, blank=True)
    # Bookkeeping
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="contact_email_unique_ci"),
            models.CheckConstraint(
                condition=~models.Q(pool_state="public") | models.Q(owner__isnull=True),
                name="contact_public_pool_has_no_owner",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["last_contacted_at"]),
            # Plain b-trees for the list's filters. db_index=True on a CharField would add a
            # second, varchar_pattern_ops index for LIKE 'x%' that no query here uses, and
            # every import would pay for keeping it.
            *(
                models.Index(fields=[name], name=f"contact_{name}_idx")
                for name in ("country", "channel", "stage", "grade", "pool_state", "email_status")
            ),
        ]

    def __str__(self):
        return f"{self.name} <{self.email}>" if self.name else self.email

    def save(self, *args, **kwargs):
        # The e-mail is the key: always stored in its normalised (lower-case) form.
        self.email = (self.email or "").strip().lower()
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("contacts:contact_detail", args=[self.pk])

    @property
    def local_time_zone(self):
        """The customer's own zone, else the main zone of their country, else None."""
        return self.time_zone or COUNTRY_TIME_ZONES.get(self.country) or None

    def local_now(self):
        """The customer's wall-clock time now, or None when their zone is unknown."""
        zone_name = self.local_time_zone
        if not zone_name:
            return None
        try:
            return timezone.now().astimezone(zoneinfo.ZoneInfo(zone_name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return None

    @property
    def country_display(self):
        return country_name(self.country) if self.country else ""


class PoolPolicy(models.Model):
    """The admin's rules for dormancy and the public pool (one row)."""

    dormant_after_days = models.PositiveIntegerField(
        _("days without an interaction before a customer becomes dormant"), default=90
    )
    release_after_days = models.PositiveIntegerField(
        _("further days before a dormant customer is released to the public pool"), default=30
    )
    warn_days_before_release = models.PositiveIntegerField(
        _("days before release to warn the owner and their manager"), default=7
    )
    claims_per_day = models.PositiveIntegerField(
        _("claims from the pool per rep per day"), default=10
    )
    max_owned_contacts = models.PositiveIntegerField(
        _("most customers a rep may own when claiming"), default=2000
    )

    class Meta:
        verbose_name = _("pool rules")
        verbose_name_plural = _("pool rules")

    def __str__(self):
        return str(_("pool rules"))

    @classmethod
    def current(cls):
        return cls.objects.get_or_create(pk=1)[0]


class ImportStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    REVERTED = "reverted", _("Reverted")


class ImportJob(models.Model):
    """One run of the spreadsheet import: the file, who ran it, its report, and what it wrote."""

    file_name = models.CharField(_("file name"), max_length=255)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True, db_index=True)
    status = models.CharField(
        _("status"), max_length=10, choices=ImportStatus.choices, default=ImportStatus.PENDING
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    default_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("default owner"),
    )
    dry_run = models.BooleanField(_("dry run"), default=False)
    total_rows = models.PositiveIntegerField(_("total rows"), default=0)
    done_rows = models.PositiveIntegerField(_("done rows"), default=0)
    report = models.JSONField(_("report"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # The browser flow: the upload (kept privately until the job ends), the column mapping the
    # admin corrected in the preview, and when the confirmed job was queued.
    upload_name = models.CharField(_("stored upload"), max_length=64, blank=True, editable=False)
    column_overrides = models.JSONField(_("corrected column mapping"), default=dict, blank=True)
    queued_at = models.DateTimeField(_("queued"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        permissions = [("import_contacts", _("Can import contacts"))]

    def __str__(self):
        return f"{self.file_name} ({self.status})"


class ImportedContact(models.Model):
    """What one import did to one contact, so the import can be undone later."""

    job = models.ForeignKey(
        ImportJob,
        on_delete=models.CASCADE,
        related_name="imported_contacts",
        verbose_name=_("import"),
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="+", verbose_name=_("contact")
    )
    created = models.BooleanField(_("created"), default=False)
    filled_fields = models.JSONField(_("filled fields"), default=list, blank=True)
    tags_added = models.JSONField(_("tags added"), default=list, blank=True)
    other_emails_added = models.JSONField(
        _("other e-mail addresses added"), default=list, blank=True
    )
    # The row the contact came from (for "already imported from ... row ...").
    sheet = models.CharField(_("sheet"), max_length=255, null=True, blank=True)
    row = models.PositiveIntegerField(_("row"), null=True, blank=True)

    class Meta:
        verbose_name = _("imported contact")
        verbose_name_plural = _("imported contacts")
        constraints = [
            models.UniqueConstraint(
                fields=["job", "contact"], name="imported_contact_once_per_job"
            ),
        ]

    def __str__(self):
        return f"{self.job_id}:{self.contact_id}"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Expired")


class ExportJob(models.Model):
    """An export too large to stream in one request: made by a worker, downloaded later.

    The contacts are frozen at request time (`contact_ids`, in the order the user saw them) and
    re-scoped by visible_to(requested_by) when the worker runs. The file lives in the private
    CONTACT_EXPORT_DIR under a random name and only its requester may download it.
    """

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("requested by"),
    )
    format = models.CharField(_("format"), max_length=4)
    language = models.CharField(_("language"), max_length=10)
    filter_query = models.TextField(_("filter"), blank=True)
    source = models.CharField(_("source"), max_length=20, blank=True)
    contact_ids = models.JSONField(_("contacts"), default=list, blank=True, editable=False)
    status = models.CharField(
        _("status"), max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    total_rows = models.PositiveIntegerField(_("contacts requested"), default=0)
    done_rows = models.PositiveIntegerField(_("contacts written so far"), default=0)
    row_count = models.PositiveIntegerField(_("contacts exported"), default=0)
    file_name = models.CharField(_("stored file"), max_length=64, blank=True, editable=False)
    download_name = models.CharField(_("file name"), max_length=100, blank=True)
    file_size = models.PositiveBigIntegerField(_("file size"), default=0)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("export")
        verbose_name_plural = _("exports")

    def __str__(self):
        return f"{self.download_name or self.format} ({self.status})"

    def get_absolute_url(self):
        return reverse("contacts:export_job", args=[self.pk])
