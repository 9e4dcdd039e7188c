from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MailboxConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "mailbox"
    label = "crm_mailbox"  # "mailbox" is also a Python stdlib module name
    verbose_name = _("Mailbox")
