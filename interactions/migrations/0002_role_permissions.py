# Roles that existed before this app get its permissions (new installations get them from
# crm.accounts.roles when the roles are first made; existing roles keep an admin's edits otherwise).

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "sales_manager": "work", "sales_rep": "work", "support_agent": "work", "marketing": "read",
}
WORK = ["view_interaction", "add_interaction", "change_interaction", "view_followup", "add_followup",
        "change_followup", "view_mailmessage"]
READ = ["view_interaction", "view_followup"]


def grant(apps, schema_editor):
    # Permissions are normally made after the whole migrate run; these are needed now.
    app_config = apps.get_app_config("interactions")
    app_config.models_module = True  # a historical app config has none; create_permissions looks for one
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, level in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            codenames = WORK if level == "work" else READ
            group.permissions.add(*Permission.objects.filter(content_type__app_label="interactions",
                                                             codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("interactions", "0001_interaction_log_and_followups"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
