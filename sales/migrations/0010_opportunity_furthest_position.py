# How far each opportunity got (sales.pipeline_furthest), for the funnel: the column, left out of the audit trigger
# (a recompute is no one's change). 0011 fills it from the stage history, 0012 adds the reports' indexes.

import pgtrigger.compiler
import pgtrigger.migrations
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sales', '0009_field_labels'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(
            model_name='opportunity',
            name='update_update',
        ),
        migrations.AddField(
            model_name='opportunity',
            name='furthest_position',
            field=models.PositiveIntegerField(blank=True, editable=False, null=True, verbose_name='furthest stage reached'),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='opportunity',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(func='WITH _pgh_attached_context AS ( SELECT _pgh_attach_context() AS value ) INSERT INTO "sales_opportunityevent" ("amount", "closed_at", "created_at", "currency", "customer_id", "expected_close", "id", "lead_id", "lost_reason", "name", "next_step", "owner_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "pipeline_id", "stage_entered_at", "stage_id", "team_id", "updated_at") SELECT new_values."amount", new_values."closed_at", new_values."created_at", new_values."currency", new_values."customer_id", new_values."expected_close", new_values."id", new_values."lead_id", new_values."lost_reason", new_values."name", new_values."next_step", new_values."owner_id", _pgh_attached_context.value, NOW(), \'update\', new_values."id", new_values."pipeline_id", new_values."stage_entered_at", new_values."stage_id", new_values."team_id", new_values."updated_at" FROM ( SELECT new_values.* FROM old_values JOIN new_values ON (old_values."id") = (new_values."id") WHERE (old_values."amount" IS DISTINCT FROM (new_values."amount") OR old_values."closed_at" IS DISTINCT FROM (new_values."closed_at") OR old_values."created_at" IS DISTINCT FROM (new_values."created_at") OR old_values."currency" IS DISTINCT FROM (new_values."currency") OR old_values."customer_id" IS DISTINCT FROM (new_values."customer_id") OR old_values."expected_close" IS DISTINCT FROM (new_values."expected_close") OR old_values."id" IS DISTINCT FROM (new_values."id") OR old_values."lead_id" IS DISTINCT FROM (new_values."lead_id") OR old_values."lost_reason" IS DISTINCT FROM (new_values."lost_reason") OR old_values."name" IS DISTINCT FROM (new_values."name") OR old_values."next_step" IS DISTINCT FROM (new_values."next_step") OR old_values."owner_id" IS DISTINCT FROM (new_values."owner_id") OR old_values."pipeline_id" IS DISTINCT FROM (new_values."pipeline_id") OR old_values."stage_id" IS DISTINCT FROM (new_values."stage_id") OR old_values."stage_entered_at" IS DISTINCT FROM (new_values."stage_entered_at") OR old_values."team_id" IS DISTINCT FROM (new_values."team_id") OR old_values."updated_at" IS DISTINCT FROM (new_values."updated_at")) ) AS new_values, _pgh_attached_context; RETURN NULL;', hash='1804711a65b3c69a2d177c3b54270fea3dbd707e', level='STATEMENT', operation='UPDATE', pgid='pgtrigger_update_update_fe013', referencing='REFERENCING OLD TABLE AS old_values  NEW TABLE AS new_values ', table='sales_opportunity', when='AFTER')),
        ),
    ]
