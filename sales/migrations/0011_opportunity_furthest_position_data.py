# Fills Opportunity.furthest_position of the existing deals from their stage history, as
# sales.pipeline_furthest.furthest_refresh does (the SQL is repeated here: a migration must not change when that
# module does). In batches of ids, each committed on its own, so that a large table is not locked as a whole; safe
# to run again (only rows whose value differs are written). The audit trigger ignores the column (0010).

from django.db import migrations, transaction

BATCH = 50_000
FILL_SQL = """
UPDATE sales_opportunity o SET furthest_position = f.furthest
FROM (
    SELECT d.id, GREATEST(MAX(hs.position), CASE WHEN cs.kind IN ('open', 'won') THEN cs.position END) AS furthest
    FROM sales_opportunity d
    JOIN sales_stage cs ON cs.id = d.stage_id
    LEFT JOIN sales_stagehistory h ON h.opportunity_id = d.id
    LEFT JOIN sales_stage hs ON hs.id = h.stage_id AND hs.pipeline_id = d.pipeline_id AND hs.kind IN ('open', 'won')
    WHERE d.id >= %s AND d.id < %s
    GROUP BY d.id, cs.kind, cs.position
) f
WHERE o.id = f.id AND o.furthest_position IS DISTINCT FROM f.furthest
"""


def fill(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM sales_opportunity")
        low, high = cursor.fetchone()
    if low is None:
        return
    for start in range(low, high + 1, BATCH):
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(FILL_SQL, [start, start + BATCH])


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('sales', '0010_opportunity_furthest_position'),
    ]

    operations = [
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
    ]
