"""pghistory's context rows (who, from where, why: one per request or task) are upserted by the audit triggers as
the application's role, which therefore has UPDATE on them (crm/audit/app_role.py). This trigger makes an update
unable to rewrite what was recorded: keys already there keep their values, new keys are taken only in the context's
first hour (a request or task adds them while it runs), id and created_at never change. It returns the row quietly
rather than raising, since pghistory rewrites the whole metadata on every statement of a request (a sign-out sets
the user to none): the request must go on, with the context as first written.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION audit_context_keep_recorded() RETURNS trigger AS $$
BEGIN
    NEW.id := OLD.id;
    NEW.created_at := OLD.created_at;
    IF OLD.created_at < NOW() - INTERVAL '1 hour' THEN
        NEW.metadata := OLD.metadata;
        NEW.updated_at := OLD.updated_at;
    ELSE
        -- jsonb ||: on a key in both, the right-hand (recorded) value wins.
        NEW.metadata := COALESCE(NEW.metadata, '{}'::jsonb) || COALESCE(OLD.metadata, '{}'::jsonb);
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS audit_context_keep_recorded ON pghistory_context;
CREATE TRIGGER audit_context_keep_recorded BEFORE UPDATE ON pghistory_context
    FOR EACH ROW EXECUTE FUNCTION audit_context_keep_recorded();
"""

REVERSE = """
DROP TRIGGER IF EXISTS audit_context_keep_recorded ON pghistory_context;
DROP FUNCTION IF EXISTS audit_context_keep_recorded();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("pghistory", "0007_auto_20250421_0444"),
    ]

    operations = [migrations.RunSQL(FUNCTION, REVERSE)]
