# Numbers of quotes, contracts and orders (Q-2026-000123) come from PostgreSQL sequences: nextval() never hands
# the same value to two transactions, however many create at once, and takes no lock a transaction would hold
# until it commits (a counter row would serialise every quote of the company). A rolled-back transaction leaves a
# gap in the numbers; that is the price of not serialising. No model changes: the sequences are plain SQL objects
# that sales/commerce_services.py reads.

from django.db import migrations

SEQUENCES = ["sales_quote_number_seq", "sales_contract_number_seq", "sales_order_number_seq"]
TABLES = {
    "sales_quote_number_seq": "sales_quote",
    "sales_contract_number_seq": "sales_contract",
    "sales_order_number_seq": "sales_order",
}


def _create_sql() -> str:
    statements = []
    for sequence, table in TABLES.items():
        statements.append(f"CREATE SEQUENCE IF NOT EXISTS {sequence} START 1")
        # Rows written before the sequence existed (by hand, a restore) keep their numbers: start past the
        # highest trailing number there is.
        statements.append(
            f"SELECT setval('{sequence}', GREATEST(1, COALESCE((SELECT MAX(CAST(substring(number FROM '(\\d+)$') "
            f"AS bigint)) FROM {table}), 0)), COALESCE((SELECT MAX(CAST(substring(number FROM '(\\d+)$') "
            f"AS bigint)) FROM {table}), 0) > 0)"
        )
    return ";\n".join(statements)


class Migration(migrations.Migration):
    dependencies = [("sales", "0003_default_pipeline")]

    operations = [
        migrations.RunSQL(_create_sql(), reverse_sql=";\n".join(f"DROP SEQUENCE IF EXISTS {s}" for s in SEQUENCES)),
    ]
