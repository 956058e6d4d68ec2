# The permission to export the activity lists (issue 4), granted to roles separately by 0004.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("interactions", "0002_role_permissions"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="interaction",
            options={
                "ordering": ["-occurred_at", "-pk"],
                "permissions": [("export_interaction", "Can export interactions")],
                "verbose_name": "interaction",
                "verbose_name_plural": "interactions",
            },
        ),
    ]
