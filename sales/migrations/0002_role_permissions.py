# Roles that existed before sales get its permissions (new installations get them from crm.accounts.roles when
# the roles are first made; existing roles keep an admin's edits otherwise). The admin role holds every permission.

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {'marketing': ['add_lead', 'import_lead', 'view_lead', 'view_product'],
 'sales_manager': ['add_contract', 'add_lead', 'add_opportunity', 'add_opportunityline', 'add_order',
                   'add_orderline', 'add_payment', 'add_paymentplan', 'add_quote', 'add_quoteline',
                   'assign_lead', 'change_contract', 'change_lead', 'change_opportunity',
                   'change_opportunityline', 'change_order', 'change_orderline', 'change_payment',
                   'change_paymentplan', 'change_quote', 'change_quoteline', 'claim_lead', 'delete_lead',
                   'delete_opportunity', 'import_lead', 'view_contract', 'view_lead', 'view_opportunity',
                   'view_opportunityline', 'view_order', 'view_orderline', 'view_payment', 'view_paymentplan',
                   'view_pipeline', 'view_pricelist', 'view_product', 'view_quote', 'view_quoteline',
                   'view_stage'],
 'sales_rep': ['add_contract', 'add_lead', 'add_opportunity', 'add_opportunityline', 'add_order',
               'add_orderline', 'add_payment', 'add_paymentplan', 'add_quote', 'add_quoteline',
               'change_contract', 'change_lead', 'change_opportunity', 'change_opportunityline',
               'change_order', 'change_orderline', 'change_payment', 'change_paymentplan', 'change_quote',
               'change_quoteline', 'claim_lead', 'view_contract', 'view_lead', 'view_opportunity',
               'view_opportunityline', 'view_order', 'view_orderline', 'view_payment', 'view_paymentplan',
               'view_pipeline', 'view_pricelist', 'view_product', 'view_quote', 'view_quoteline',
               'view_stage'],
 'support_agent': ['view_contract', 'view_order', 'view_orderline', 'view_product']}


def grant(apps, schema_editor):
    app_config = apps.get_app_config("sales")
    app_config.models_module = True  # a historical app config has none; create_permissions looks for one
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.add(*Permission.objects.filter(content_type__app_label="sales", codename__in=codenames))
    admin = Group.objects.filter(name="admin").first()
    if admin is not None:
        admin.permissions.add(*Permission.objects.filter(content_type__app_label="sales"))


class Migration(migrations.Migration):
    dependencies = [
        ("sales", "0001_sales_pipeline"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
