"""Re-encrypt the sensitive custom fields' values under the first key of CRM_FIELD_ENCRYPTION_KEYS, and re-index
them under a new blind-index key when one is given. README.md, "Security", has the whole procedure."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from crm import fieldcrypto
from customers.field_encryption import BATCH_SIZE, custom_values_sync
from customers.models import CustomFieldDefinition


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored value of the sensitive custom fields (customers, their history, import rows, "
        "leads) with the first key of CRM_FIELD_ENCRYPTION_KEYS; with --new-blind-index-key, also recompute their "
        "blind indexes under that key. In batches; safe to stop and run again (done values are skipped)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--new-blind-index-key", default=None,
            help="index the values under this key instead of CRM_BLIND_INDEX_KEY (then make it CRM_BLIND_INDEX_KEY "
                 "and run the command once more without this option)",
        )
        parser.add_argument(
            "--field", action="append", default=[], metavar="KEY",
            help="only this custom field (repeatable); also finishes an interrupted encryption or decryption after "
                 "an admin changed the field's sensitive setting",
        )
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)

    def handle(self, *args, new_blind_index_key, field, batch_size, **options):
        try:
            fieldcrypto.validate_keys(settings.CRM_FIELD_ENCRYPTION_KEYS, settings.CRM_BLIND_INDEX_KEY,
                                      allow_dev_keys=True)
            if new_blind_index_key is not None:
                fieldcrypto.validate_keys(settings.CRM_FIELD_ENCRYPTION_KEYS, new_blind_index_key,
                                          allow_dev_keys=True)
        except fieldcrypto.FieldCryptoError as error:
            raise CommandError(str(error)) from None

        if field:
            definitions = list(CustomFieldDefinition.objects.filter(key__in=field))
            unknown = set(field) - {d.key for d in definitions}
            if unknown:
                raise CommandError(f"No custom field with the key {', '.join(sorted(unknown))}.")
        else:
            definitions = list(CustomFieldDefinition.objects.filter(encrypted=True))
        if not definitions:
            self.stdout.write("No sensitive custom fields: nothing to do.")
            return
        self.stdout.write("Fields: " + ", ".join(
            f"{d.key} ({'encrypt' if d.encrypted else 'decrypt'})" for d in definitions))

        def report(label, changed):
            self.stdout.write(f"  {label}: {changed:,} rows changed so far", ending="\r")

        try:
            result = custom_values_sync(definitions=definitions, blind_key=new_blind_index_key,
                                        batch_size=batch_size, report=report if options["verbosity"] > 1 else None,
                                        include_audit=True)
        except fieldcrypto.FieldCryptoError as error:
            raise CommandError(f"{error}\nThe rows before this one are done; fix the cause and run the command "
                               "again to go on.") from None
        except DatabaseError as error:
            if "permission denied" not in str(error):
                raise
            raise CommandError(f"{error}\nThe audit history may only be rewritten by the database owner: run this "
                               "command with the owner's DATABASE_URL (as the migrate step does).") from None
        for label, changed in result.items():
            self.stdout.write(f"{label}: {changed:,} rows changed")
        self.stdout.write(self.style.SUCCESS("Every value is encrypted under the first key" + (
            " and indexed under the new blind-index key: set CRM_BLIND_INDEX_KEY to it, restart, and run "
            "rotate_field_keys once more (it re-indexes values saved in the meantime)."
            if new_blind_index_key else ".")))
