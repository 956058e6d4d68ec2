from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "crm.accounts"
    label = "accounts"
    verbose_name = _("Accounts and teams")

    def ready(self):
        from .roles import sync_roles_after_migrate

        # Roles need the permissions that exist only after every app has migrated.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="accounts.sync_roles")
