# A lead the untouched-lead scan sends back to the lead pool is recorded as an assignment without a user.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def drop_returns_to_pool(apps, schema_editor):
    # Going back: the column is NOT NULL again, so the records of returns to the pool (no user) cannot stay.
    apps.get_model("sales", "LeadAssignment").objects.filter(user__isnull=True).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('sales', '0007_opportunity_list_sort_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='leadassignment',
            name='user',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        # Reversed first when migrating back.
        migrations.RunPython(migrations.RunPython.noop, drop_returns_to_pool),
    ]
