# A function that merges the pending entries of a table's GIN indexes (the customer table has seven, for search)
# into the indexes proper. An import's commit lets PostgreSQL append its rows' index entries to each GIN index's
# pending list (gin_pending_list_limit, set for that transaction only) instead of merging them row by row, then the
# worker calls this right after the commit: the records are committed and searchable ~1 s sooner per 100,000
# (bench/RESULTS.md, "Import"), and searches stay correct meanwhile (PostgreSQL reads the pending list too).
#
# gin_clean_pending_list() is for the index's owner only; the worker connects as the application role
# (crm/audit/app_role.py), hence SECURITY DEFINER, with a fixed search_path. Anyone allowed to run it can only make
# PostgreSQL do now the merge it would do later (at the next insert over the limit, or autovacuum).

from django.db import migrations

CREATE = """
CREATE FUNCTION crm_merge_pending_search_entries(tbl regclass) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT COALESCE(sum(gin_clean_pending_list(i.indexrelid::regclass)), 0)::bigint
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_am am ON am.oid = c.relam
    WHERE i.indrelid = tbl AND am.amname = 'gin'
$$
"""
DROP = "DROP FUNCTION IF EXISTS crm_merge_pending_search_entries(regclass)"


class Migration(migrations.Migration):
    dependencies = [
        ("imports", "0005_history_without_sample_templates_tracked"),
    ]

    operations = [
        migrations.RunSQL(CREATE, DROP),
    ]
