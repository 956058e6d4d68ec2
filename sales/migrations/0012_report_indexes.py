# The reports' indexes on opportunities (bench/RESULTS.md, reports), built without blocking writes to the table
# (CONCURRENTLY, hence outside a transaction), after 0011 filled the column the first one includes:
# - the funnel: deals of a pipeline created in a period, with how far they got, read index-only;
# - deals won or lost in a period (stage, closed_at): the performance report and the dashboards' "won this month".

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('sales', '0011_opportunity_furthest_position_data'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='opportunity',
            index=models.Index(fields=['pipeline', 'created_at'], include=('furthest_position', 'amount', 'currency', 'owner', 'team'), name='opportunity_funnel'),
        ),
        AddIndexConcurrently(
            model_name='opportunity',
            index=models.Index(fields=['stage', 'closed_at'], include=('owner', 'team', 'amount', 'currency', 'created_at'), name='opportunity_stage_closed'),
        ),
    ]
