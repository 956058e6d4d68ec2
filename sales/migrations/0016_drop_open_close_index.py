# opportunity_open_close (expected_close, for open deals) is covered by opportunity_open_deals (0015: the same key and
# condition, with more columns included): it only cost writes and disk. Dropped without blocking writes.

from django.contrib.postgres.operations import RemoveIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("sales", "0015_open_deals_index"),
    ]

    operations = [
        RemoveIndexConcurrently(model_name="opportunity", name="opportunity_open_close"),
    ]
