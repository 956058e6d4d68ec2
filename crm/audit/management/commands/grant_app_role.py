"""Give the application's database role what it needs, and on the audit tables only read and insert.

    python manage.py grant_app_role                 # the role named by CRM_DB_APP_ROLE (default crm_app)
    python manage.py grant_app_role --role crm_app

Run it as the owner of the tables (DATABASE_URL the owner's), after every ``migrate``: it is idempotent, and a
migration's new tables get only read and insert until it runs again (crm/audit/app_role.py says why). The role is
created when missing, with the password in CRM_DB_APP_PASSWORD (an environment variable, never the command line,
which other users of the machine can read); when both exist the role's password is set to it.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from crm.audit.app_role import AppRoleError, grant_app_role


class Command(BaseCommand):
    help = "Grant the application's database role its privileges: audit tables read and insert only."

    def add_arguments(self, parser):
        parser.add_argument("--role", default=settings.CRM_DB_APP_ROLE,
                            help="the application's role (default: CRM_DB_APP_ROLE, %(default)s)")

    def handle(self, *args, role, **options):
        try:
            report = grant_app_role(role, password=settings.CRM_DB_APP_PASSWORD)
        except AppRoleError as error:
            raise CommandError(str(error)) from error
        if report.created:
            self.stdout.write(f"Created the role {role}.")
        self.stdout.write(
            f"{role}: read and write on {len(report.business_tables)} tables, read and insert only on "
            f"{len(report.audit_tables)} audit tables"
            + (f", insert and metadata update on {report.context_table}" if report.context_table else "") + "."
        )
