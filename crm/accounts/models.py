import pghistory
from django.conf import settings
from django.contrib.auth.models import AbstractUser, Group
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

from .roles import role_label


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), model_name="TeamEvent")
class Team(models.Model):
    """A department. Teams form a tree; a manager sees the records of his team's whole subtree."""

    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self", verbose_name=_("parent team"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="children",
    )
    manager = models.ForeignKey(
        "accounts.User", verbose_name=_("manager"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="managed_teams",
    )
    # Team shares go through django-guardian's group permissions, so each team owns one auth group
    # whose members are the team's members (kept in step by accounts.services).
    group = models.OneToOneField(Group, on_delete=models.PROTECT, related_name="team", editable=False)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        from django.core.exceptions import ValidationError

        parent, seen = self.parent, set()
        while parent is not None and parent.pk not in seen:
            if self.pk is not None and parent.pk == self.pk:
                raise ValidationError({"parent": _("A team cannot sit below itself or one of its own sub-teams.")})
            seen.add(parent.pk)
            parent = parent.parent


class Role(Group):
    """Roles as the admin shows them: the auth groups that are not a team's."""

    class Meta:
        proxy = True
        verbose_name = _("role")
        verbose_name_plural = _("roles")

    def __str__(self):
        return role_label(self)


# Two-factor authentication turned on, turned off by the user, or reset by an administrator (crm.accounts.mfa):
# manual events only (no trigger), so the audit log lists them under the user with who did it and from where. Only
# the user name is copied into the event: never the password hash.
@pghistory.track(
    pghistory.ManualEvent("mfa_enrolled"), pghistory.ManualEvent("mfa_removed"), pghistory.ManualEvent("mfa_reset"),
    fields=["username"], model_name="UserMfaEvent", obj_field=pghistory.ObjForeignKey(related_name="mfa_events"),
)
class User(AbstractUser):
    team = models.ForeignKey(
        Team, verbose_name=_("team"), null=True, blank=True, on_delete=models.SET_NULL, related_name="members"
    )
    mobile = models.CharField(_("mobile"), max_length=32, blank=True)
    notify_by_email = models.BooleanField(
        _("also send my notifications by email"), default=True,
        help_text=_("Reminders and other notifications always appear under the bell; this also mails them."),
    )
    # Away (leave, a trip): the lead assignment rules pass the user over.
    is_away = models.BooleanField(_("away: give me no new leads"), default=False)
    # The language of mails sent to the user; the pages follow the language switch.
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, blank=True)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["username"]

    def __str__(self):
        full = self.get_full_name()
        return full or self.username

    def get_full_name(self):
        # Chinese names are written family name first, without a space.
        if self.last_name and self.first_name and not (self.first_name + self.last_name).isascii():
            return f"{self.last_name}{self.first_name}"
        return super().get_full_name()


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), model_name="MfaPolicyEvent")
class MfaPolicy(models.Model):
    """Which roles must use two-factor authentication besides administrators; one row, edited by an admin on the
    two-factor policy page (crm.accounts.mfa_views.mfa_policy). Role names (crm.accounts.roles, never "admin",
    which always must), not group rows, so that the audit trail shows a change as one field's old and new list."""

    required_roles = ArrayField(
        models.CharField(max_length=32), verbose_name=_("roles that must use it"), default=list, blank=True,
    )

    class Meta:
        verbose_name = _("two-factor authentication policy")
        verbose_name_plural = _("two-factor authentication policy")

    def __str__(self):
        return str(self._meta.verbose_name)

    @classmethod
    def current(cls):
        # Read on every request of a user without a device: no write on a GET, the row is made when first saved.
        return cls.objects.filter(pk=1).first() or cls(pk=1)
