from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = _("Accounts and teams")

    def ready(self):
        from . import security  # noqa: F401 - connects the failed-login and user-save receivers
