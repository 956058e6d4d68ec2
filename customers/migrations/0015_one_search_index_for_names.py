# Name and company searched through one GIN index of keys (customers.search) instead of five indexes: the pairs
# index, a trigram index of each column and a prefix index of each column. Every customer written (an import of
# 100,000 most of all) updated all five; bench/RESULTS.md, "Import", has the figures, and "Customer list and
# search" the searches at 1,000,000 customers on the new index.
#
# The keys are 0010's character pairs plus a start key for the first character of the name and of the company
# (one-character searches, which the prefix indexes served), and the index is collated "C": GIN compares keys
# byte by byte instead of through the locale. Built CONCURRENTLY before the old ones go, so search keeps an index.

import django.contrib.postgres.indexes
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations

import customers.search

CREATE_FUNCTION = r"""
CREATE OR REPLACE FUNCTION crm_name_keys(name text, company text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_remove(array_remove(string_to_array(
        regexp_replace(upper(name || ' ' || company), '(..)|.', E'\\1\x01', 'g')
        || regexp_replace(substr(upper(name || ' ' || company), 2), '(..)|.', E'\\1\x01', 'g')
        || E'\x02' || upper(left(name, 1)) || E'\x01\x02' || upper(left(company, 1)),
        E'\x01'), ''), E'\x02')
$$
"""
DROP_FUNCTION = "DROP FUNCTION IF EXISTS crm_name_keys(text, text)"
# 0010's function, put back when this migration is reversed (the index it restores needs it).
OLD_FUNCTION = r"""
CREATE OR REPLACE FUNCTION crm_name_bigrams(name text, company text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_remove(string_to_array(
        regexp_replace(upper(name || ' ' || company), '(..)|.', E'\\1\x01', 'g')
        || regexp_replace(substr(upper(name || ' ' || company), 2), '(..)|.', E'\\1\x01', 'g'),
        E'\x01'), '')
$$
"""


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("customers", "0014_track_settings_and_teams"),
    ]

    operations = [
        migrations.RunSQL(CREATE_FUNCTION, DROP_FUNCTION),
        AddIndexConcurrently(
            model_name="customer",
            index=django.contrib.postgres.indexes.GinIndex(customers.search.name_keys(), name="cust_name_keys"),
        ),
        RemoveIndexConcurrently(model_name="customer", name="cust_name_company_bigram"),
        RemoveIndexConcurrently(model_name="customer", name="cust_name_trgm"),
        RemoveIndexConcurrently(model_name="customer", name="cust_company_trgm"),
        RemoveIndexConcurrently(model_name="customer", name="cust_name_prefix"),
        RemoveIndexConcurrently(model_name="customer", name="cust_company_prefix"),
        migrations.RunSQL("DROP FUNCTION IF EXISTS crm_name_bigrams(text, text)", OLD_FUNCTION),
    ]
