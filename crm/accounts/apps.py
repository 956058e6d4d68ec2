from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "crm.accounts"
    label = "accounts"
    verbose_name = _("Accounts and teams")

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from .roles import sync_roles_after_migrate
        from .session_timeouts import mark_session_start

        # Roles need the permissions that exist only after every app has migrated.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="accounts.sync_roles")
        # Django's own login signal: the absolute session limit counts from the moment of login.
        user_logged_in.connect(mark_session_start, dispatch_uid="accounts.mark_session_start")
