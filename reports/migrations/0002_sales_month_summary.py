# The performance report's monthly sums of won and lost deals (reports.summaries), kept by a beat task.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0004_user_away'),
        ('reports', '0001_reports'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='SummaryState',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=50, unique=True)),
                ('first_month', models.DateField()),
                ('last_month', models.DateField()),
                ('refreshed_at', models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name='SalesMonth',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('month', models.DateField()),
                ('currency', models.CharField(max_length=3)),
                ('won_count', models.PositiveIntegerField(default=0)),
                ('lost_count', models.PositiveIntegerField(default=0)),
                ('won_amount', models.DecimalField(decimal_places=2, default=0, max_digits=18)),
                ('won_cycle', models.DurationField(null=True)),
                ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('team', models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.team')),
            ],
            options={
                'indexes': [models.Index(fields=['month', 'team'], name='sales_month_team'), models.Index(fields=['owner', 'month'], name='sales_month_owner')],
            },
        ),
    ]
