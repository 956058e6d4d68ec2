from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import mfa
from .models import Role, Team, User
from .roles import role_label
from .services import team_save, user_sync_team_group


class RolesOnlyMixin:
    """Roles are groups; team groups follow the team field and are not offered in the roles widget."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "groups" in self.fields:
            field = self.fields["groups"]
            field.queryset = field.queryset.filter(team__isnull=True)
            field.label = _("roles")
            field.label_from_instance = role_label

    def clean_groups(self):
        # Keep the user's team group in what is saved: dropped here and put back by save_related, it would leave a
        # "removed from / added to the team" pair in the audit trail on every save of the user.
        groups = self.cleaned_data["groups"]
        if self.instance.pk:
            groups = groups | Group.objects.filter(user=self.instance, team__isnull=False)
        return groups


class UserEditForm(RolesOnlyMixin, UserChangeForm):
    pass


class UserAddForm(RolesOnlyMixin, UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = User
        fields = ["username", "groups", "team"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserAddForm
    list_display = ["username", "__str__", "email", "team", "roles", "is_active"]
    list_filter = ["is_active", "is_away", "team", "groups"]
    list_select_related = ["team"]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        (_("Personal info"), {"fields": ["last_name", "first_name", "email", "mobile"]}),
        (_("Team and roles"), {"fields": ["team", "groups", "is_active", "is_staff", "is_superuser"]}),
        # Reps tick it themselves in their settings; an admin may do it for one who left without doing so.
        (_("Leads"), {"fields": ["is_away"]}),
        (_("Important dates"), {"fields": ["last_login", "date_joined"]}),
        (_("Two-factor authentication"), {"fields": ["two_factor"]}),
    ]
    readonly_fields = ["two_factor"]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["username", "usable_password", "password1", "password2"]}),
        (_("Team and roles"), {"fields": ["team", "groups"]}),
    ]
    filter_horizontal = ["groups"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description=_("roles"))
    def roles(self, user):
        return "、".join(role_label(g) for g in user.groups.all() if g.name in settings.ROLE_LABELS)

    @admin.display(description=_("two-factor authentication"))
    def two_factor(self, user):
        if not mfa.has_device(user):
            if mfa.is_required(user):
                return format_html("{} ({})", gettext("off"),
                                   gettext("required by his role: he sets it up at his next sign-in"))
            return gettext("off")
        url = reverse("admin:accounts_user_mfa_reset", args=[user.pk])
        return format_html('{} <a class="button" href="{}">{}</a>', gettext("on"), url,
                           gettext("Reset (lost phone)"))

    def get_urls(self):
        reset = path("<int:user_id>/mfa-reset/", self.admin_site.admin_view(self.mfa_reset_view),
                     name="accounts_user_mfa_reset")
        return [reset, *super().get_urls()]

    def mfa_reset_view(self, request, user_id):
        """Take a user's authenticator app and recovery codes away (a lost phone), after a confirmation. Recorded
        in the audit trail with the administrator's name (crm.accounts.mfa.reset)."""
        user = get_object_or_404(User, pk=user_id)
        if not self.has_change_permission(request, user):
            raise PermissionDenied
        if request.method == "POST":
            mfa.reset(user=user, actor=request.user)
            messages.success(request, gettext(
                "The two-factor authentication of %(user)s is reset: he is signed out and sets it up again at his "
                "next sign-in if his role requires it."
            ) % {"user": user})
            return redirect("admin:accounts_user_change", user.pk)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "original": user,
                   "title": gettext("Reset two-factor authentication")}
        return TemplateResponse(request, "admin/accounts/user/mfa_reset.html", context)

    def save_related(self, request, form, formsets, change):
        # The roles widget does not list the team group; saving it would drop it, so put it back.
        super().save_related(request, form, formsets, change)
        user_sync_team_group(form.instance)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "place_in_tree", "manager"]
    list_select_related = ["parent", "manager"]
    search_fields = ["name"]
    autocomplete_fields = ["manager"]

    def changelist_view(self, request, extra_context=None):
        # Departments are few: one query for every team's name and parent draws each one's path.
        self._tree = {pk: (name, parent) for pk, name, parent in Team.objects.values_list("id", "name", "parent_id")}
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("place in the tree"))
    def place_in_tree(self, team):
        names, parent = [], team.parent_id
        while parent is not None and len(names) < 50:  # 50: a guard against a cycle made by hand in the table
            name, parent = self._tree.get(parent, ("?", None))
            names.append(name)
        return " / ".join([*reversed(names), team.name])

    def save_model(self, request, obj, form, change):
        team_save(obj)


admin.site.unregister(Group)
# django-otp's device pages show each user's secret key and let an administrator give someone a device of his own
# making; the reset on the user's page is the one way an administrator touches another user's two-factor set-up.
admin.site.unregister(TOTPDevice)
admin.site.unregister(StaticDevice)


@admin.register(Role)
class RoleAdmin(GroupAdmin):
    list_display = ["__str__", "name"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(team__isnull=True)
