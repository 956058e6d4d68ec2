# The sales manager role of an existing installation gets the new export permission (new installations get it
# from crm.accounts.roles when the roles are first made; existing roles keep an admin's edits otherwise, so this
# only adds and never takes away). Administrators get every permission after each migrate anyway.

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {"sales_manager": ["export_interaction"]}


def grant(apps, schema_editor):
    # Permissions are normally made after the whole migrate run; this one is needed now.
    app_config = apps.get_app_config("interactions")
    app_config.models_module = True  # a historical app config has none; create_permissions looks for one
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.add(*Permission.objects.filter(content_type__app_label="interactions",
                                                             codename__in=codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.remove(*Permission.objects.filter(content_type__app_label="interactions",
                                                                codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("interactions", "0003_interaction_export_permission"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
