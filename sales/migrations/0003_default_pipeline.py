# Every installation starts with one pipeline whose stages an admin can rename, reorder or extend.

from django.db import migrations

STAGES = [
    ("初步接洽", 10, "open"), ("需求确认", 30, "open"), ("方案报价", 50, "open"), ("谈判审批", 70, "open"),
    ("赢单", 100, "won"), ("输单", 0, "lost"),
]


def create(apps, schema_editor):
    Pipeline = apps.get_model("sales", "Pipeline")
    Stage = apps.get_model("sales", "Stage")
    if Pipeline.objects.exists():
        return
    pipeline = Pipeline.objects.create(name="标准销售流程", is_default=True, position=0)
    for position, (name, probability, kind) in enumerate(STAGES):
        Stage.objects.create(pipeline=pipeline, name=name, probability=probability, kind=kind, position=position)


class Migration(migrations.Migration):
    dependencies = [("sales", "0002_role_permissions")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
