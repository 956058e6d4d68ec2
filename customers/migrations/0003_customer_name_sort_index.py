# Sorting the customer list by name needs a plain btree on name: cust_name_prefix (text_pattern_ops)
# serves LIKE 'x%' only. Built CONCURRENTLY so that a live table keeps taking writes meanwhile.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("customers", "0002_customer_file"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="customer",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True)), fields=["name"], name="cust_name_sort"
            ),
        ),
    ]
