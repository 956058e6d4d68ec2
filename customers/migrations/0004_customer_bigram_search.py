# Two-character searches (小明, 华为) need "contains" on name and company. pg_trgm's indexes need three
# characters, so each text's character pairs go into a GIN index of their own. The indexes are built
# CONCURRENTLY so that a live table keeps taking writes meanwhile.

import django.contrib.postgres.indexes
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Bigrams(models.Func):
    """This migration's own copy of the expression (0007 replaced it), so that the history stays runnable."""

    function = "crm_bigrams"
    output_field = ArrayField(models.TextField())

# IMMUTABLE (it depends on its argument only), so PostgreSQL accepts it in an index expression.
CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION crm_bigrams(t text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT substr(upper(t), i, 2)), '{}'::text[])
    FROM generate_series(1, char_length(t) - 1) AS i
$$
"""
DROP_FUNCTION = "DROP FUNCTION IF EXISTS crm_bigrams(text)"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("customers", "0003_customer_name_sort_index"),
    ]

    operations = [
        migrations.RunSQL(CREATE_FUNCTION, DROP_FUNCTION),
        AddIndexConcurrently(
            model_name="customer",
            index=django.contrib.postgres.indexes.GinIndex(Bigrams("name"), name="cust_name_bigram"),
        ),
        AddIndexConcurrently(
            model_name="customer",
            index=django.contrib.postgres.indexes.GinIndex(
                Bigrams("company"), name="cust_company_bigram"
            ),
        ),
    ]
