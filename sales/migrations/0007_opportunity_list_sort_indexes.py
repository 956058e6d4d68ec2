# The opportunity list's sorts: a page walks an index instead of sorting every visible opportunity (bench/kanban.py).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sales', '0006_lead_routed_at'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='opportunity',
            index=models.Index(fields=['-updated_at', '-id'], name='opportunity_updated'),
        ),
        migrations.AddIndex(
            model_name='opportunity',
            index=models.Index(fields=['-created_at', '-id'], name='opportunity_created'),
        ),
        migrations.AddIndex(
            model_name='opportunity',
            index=models.Index(fields=['-amount', '-id'], name='opportunity_amount'),
        ),
        migrations.AddIndex(
            model_name='opportunity',
            index=models.Index(fields=['expected_close', '-id'], name='opportunity_expected_close'),
        ),
        migrations.AddIndex(
            model_name='opportunity',
            index=models.Index(fields=['name', '-id'], name='opportunity_name'),
        ),
    ]
