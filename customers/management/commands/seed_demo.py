import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from crm.accounts import mfa
from crm.accounts.roles import SALES_REP
from customers import demo
from customers.models import Customer


class Command(BaseCommand):
    help = "Create demo teams, one user per role, and realistic customers (fast, with COPY)."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=2000, help="how many customers to have in total")
        parser.add_argument("--pool-share", type=float, default=0.15, help="share of customers left in the public pool")
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--print-logins", action="store_true", help="print one login per role")
        parser.add_argument(
            "--no-audit", action="store_true", help="skip audit triggers while loading (benchmark volumes; superuser)"
        )

    def handle(self, *args, customers, pool_share, seed, print_logins, no_audit, **options):
        users = demo.ensure_organisation()
        missing = customers - Customer.objects.count()
        if missing > 0:
            reps = [u for u in users.values() if u.groups.filter(name=SALES_REP).exists()] + [users["manager"]]
            pool_slots = round(len(reps) * pool_share / (1 - pool_share)) if pool_share < 1 else 1
            owners = reps + [None] * max(pool_slots, 1)
            started = time.monotonic()
            demo.create_customers(
                missing, owners=owners, seed=seed + Customer.objects.count(), audit=not no_audit,
                progress=lambda n: self.stdout.write(f"  {n:,}/{missing:,} customers", ending="\r"),
            )
            self.stdout.write(f"\nCreated {missing:,} customers in {time.monotonic() - started:.1f} s.")
        if print_logins:
            self.stdout.write(self.style.SUCCESS("\n" + _("Demo logins, one per role:")))
            # Roles that must use two-factor authentication (admins always) set it up at their first login, as in
            # production: the demo says so rather than hand out a shared secret.
            with_mfa = mfa.required_roles()
            for username, role, *_rest in demo.DEMO_USERS:
                label = settings.ROLE_LABELS[role]
                note = ""
                if role in with_mfa:
                    note = "  " + _("(two-factor: have an authenticator app ready, set up at first login)")
                self.stdout.write(f"  {str(label):<16} {username:<10} {demo.DEMO_PASSWORD}{note}")
