# One GIN index of character pairs over name and company instead of one per column, and a cheaper function:
# an import of 100,000 customers spent 40 % of its INSERT computing and indexing pairs (bench/RESULTS.md,
# "Import"). No DISTINCT (GIN keeps each key once anyway) and one upper() per text. Built CONCURRENTLY.

import django.contrib.postgres.indexes
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations

import customers.search

CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION crm_name_bigrams(name text, company text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(substr(t, i, 2)), '{}'::text[])
    FROM (SELECT upper(name || ' ' || company) AS t) AS both_texts,
         generate_series(1, char_length(t) - 1) AS i
$$
"""
DROP_FUNCTION = "DROP FUNCTION IF EXISTS crm_name_bigrams(text, text)"
# 0004's function, put back when this migration is reversed (its indexes need it).
OLD_FUNCTION = """
CREATE OR REPLACE FUNCTION crm_bigrams(t text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT substr(upper(t), i, 2)), '{}'::text[])
    FROM generate_series(1, char_length(t) - 1) AS i
$$
"""


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("customers", "0006_audit_statement_triggers"),
    ]

    operations = [
        migrations.RunSQL(CREATE_FUNCTION, DROP_FUNCTION),
        AddIndexConcurrently(
            model_name="customer",
            index=django.contrib.postgres.indexes.GinIndex(
                customers.search.NameBigrams("name", "company"), name="cust_name_company_bigram"
            ),
        ),
        RemoveIndexConcurrently(model_name="customer", name="cust_name_bigram"),
        RemoveIndexConcurrently(model_name="customer", name="cust_company_bigram"),
        migrations.RunSQL("DROP FUNCTION IF EXISTS crm_bigrams(text)", OLD_FUNCTION),
    ]
