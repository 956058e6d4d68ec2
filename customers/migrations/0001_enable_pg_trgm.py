from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class Migration(migrations.Migration):
    """Trigram indexes for customer search need pg_trgm."""

    operations = [TrigramExtension()]
