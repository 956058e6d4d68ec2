# The open deals' index (bench/RESULTS.md, reports): the dashboards' open deals per stage and the forecasts by month
# of expected close read it index-only instead of the whole table. Built without blocking writes to the table
# (CONCURRENTLY, hence outside a transaction).

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("sales", "0014_lead_campaign"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="opportunity",
            index=models.Index(condition=models.Q(("closed_at__isnull", True)), fields=["expected_close"],
                               include=("id", "stage", "pipeline", "owner", "team", "amount", "currency"),
                               name="opportunity_open_deals"),
        ),
    ]
