import pghistory
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.accounts.models import User


class LoginEvent(models.Model):
    """One sign-in, failed sign-in or sign-out, written by crm.audit.signals (never the password)."""

    class Kind(models.TextChoices):
        LOGIN = "login", _("login")
        LOGIN_FAILED = "login_failed", _("login failed")
        LOGOUT = "logout", _("logout")

    kind = models.CharField(_("event"), max_length=20, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    # What was typed in the user name box (for a failure, the account may not exist).
    username = models.CharField(_("user name"), max_length=150, blank=True)
    address = models.CharField(_("client address"), max_length=64, blank=True)
    at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("login event")
        verbose_name_plural = _("login events")
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.username}"


# ----------------------------------------------------------------------------------- who may do what, audited
# Users, their roles and team groups, and the permissions of roles and users are django.contrib.auth's tables (and
# the many-to-many tables Django makes for them), which no app of ours declares. They are tracked here through proxy
# models, so that their triggers and event tables live in this app's migrations: a user disabled or made a
# superuser, a user added to or removed from a role (or a team's group, which carries its shares), a permission
# given to or taken from a role or a user. The statement-level triggers catch the admin's bulk changes
# (``groups.set()`` deletes and inserts in one statement each) as well as single saves.


@pghistory.track(
    pghistory.InsertEvent(),
    # A sign-in updates last_login: not a change anyone needs to audit. The password hash is never copied.
    pghistory.UpdateEvent(condition=pghistory.AnyChange(exclude=["last_login", "password"])),
    pghistory.DeleteEvent(),
    exclude=["password", "last_login"],
    model_name="UserAccountEvent",
)
class UserAccount(User):
    class Meta:
        proxy = True
        verbose_name = _("user account")
        verbose_name_plural = _("user accounts")


@pghistory.track(pghistory.InsertEvent(), pghistory.DeleteEvent(), model_name="UserGroupEvent")
class UserGroup(User.groups.through):
    audit_verbs = {"insert": _("added"), "delete": _("removed")}

    class Meta:
        proxy = True
        verbose_name = _("role or team membership")
        verbose_name_plural = _("role and team memberships")


@pghistory.track(pghistory.InsertEvent(), pghistory.DeleteEvent(), model_name="RolePermissionEvent")
class RolePermission(Group.permissions.through):
    audit_verbs = {"insert": _("granted"), "delete": _("revoked")}

    class Meta:
        proxy = True
        verbose_name = _("permission of a role")
        verbose_name_plural = _("permissions of roles")


@pghistory.track(pghistory.InsertEvent(), pghistory.DeleteEvent(), model_name="UserPermissionEvent")
class UserPermission(User.user_permissions.through):
    audit_verbs = {"insert": _("granted"), "delete": _("revoked")}

    class Meta:
        proxy = True
        verbose_name = _("permission of a user")
        verbose_name_plural = _("permissions of users")
