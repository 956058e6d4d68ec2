from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.utils.translation import gettext_lazy as _

from .models import Team, User
from .services import team_save, user_sync_team_group


class RoleAwareUserChangeForm(UserChangeForm):
    """Roles are groups; team groups are managed through the team field and are not offered here."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "groups" in self.fields:
            self.fields["groups"].queryset = self.fields["groups"].queryset.filter(team__isnull=True)
            self.fields["groups"].label = _("roles")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = RoleAwareUserChangeForm
    list_display = ["username", "last_name", "first_name", "email", "team", "is_active", "is_staff"]
    list_filter = ["is_active", "is_staff", "team", "groups"]
    fieldsets = DjangoUserAdmin.fieldsets + ((_("Team"), {"fields": ["team", "mobile"]}),)
    add_fieldsets = DjangoUserAdmin.add_fieldsets + ((_("Team"), {"fields": ["team", "groups"]}),)

    def save_related(self, request, form, formsets, change):
        # The groups widget only lists roles; saving it would drop the team group, so restore it.
        super().save_related(request, form, formsets, change)
        user_sync_team_group(form.instance)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "parent", "manager"]
    list_select_related = ["parent", "manager"]
    search_fields = ["name"]
    autocomplete_fields = ["manager"]

    def save_model(self, request, obj, form, change):
        team_save(obj)
