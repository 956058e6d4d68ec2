# Roles that existed before campaigns get their permissions (new installations get them from crm.accounts.roles when
# the roles are first made; existing roles keep an admin's edits otherwise). The admin role holds every permission.

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "marketing": ["view_campaign", "add_campaign", "change_campaign", "delete_campaign"],
    "sales_manager": ["view_campaign"],
    "sales_rep": ["view_campaign"],
}


def grant(apps, schema_editor):
    app_config = apps.get_app_config("marketing")
    app_config.models_module = True  # a historical app config has none; create_permissions looks for one
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.add(*Permission.objects.filter(content_type__app_label="marketing",
                                                             codename__in=codenames))
    admin = Group.objects.filter(name="admin").first()
    if admin is not None:
        admin.permissions.add(*Permission.objects.filter(content_type__app_label="marketing"))


class Migration(migrations.Migration):
    dependencies = [
        ("marketing", "0001_campaigns"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
