"""Customers not contacted for N days (activity analytics): the customers the viewer may see whose last contact
(Customer.last_contacted_at, which the interaction log keeps) is N or more days old, and those never contacted,
oldest contact first (never first), with a count per owner. N is chosen on the page (30 by default).

The customers are the customer policy's (customers.permissions.customers_for) narrowed to the filters' people, as in
the customer base report: a rep's own customers, a manager's teams' subtree. Customers in the public pool are left
out: nobody is due to call them, and at the top of an oldest-first list they would bury the owners' forgotten
customers. Days are calendar days in the CRM's time zone, so a customer called on 1 May is 30 days old on 31 May
whatever the hour, and the "days since" shown always agrees with the N chosen.
"""

from datetime import date, datetime, time, timedelta
from math import ceil

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Count, Min, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers import permissions as customer_policy
from customers.models import Customer

from .tables import Column, Table

User = get_user_model()

DEFAULT_DAYS = 30
MAX_DAYS = 3650
PAGE_SIZE = 50  # customers per page
EXPORT_LIMIT = 10_000  # customers in the list's .xlsx


class DaysForm(forms.Form):
    days = forms.IntegerField(label=gettext_lazy("not contacted for (days)"), min_value=1, max_value=MAX_DAYS,
                              widget=forms.NumberInput(attrs={"min": 1, "max": MAX_DAYS, "inputmode": "numeric"}))


def not_contacted_customers(user, filters, *, days: int, today: date) -> QuerySet[Customer]:
    """The owned customers ``user`` may see, of the filters' people, last contacted ``days`` or more calendar days
    before ``today``, or never."""
    # Contacted on day D is (today - D) days ago: listed when D <= today - days, i.e. before the next day's start.
    cutoff = timezone.make_aware(datetime.combine(today - timedelta(days=days - 1), time.min))
    return (customer_policy.customers_for(user).filter(**filters.people_filter())
            .filter(owner__isnull=False)
            .filter(Q(last_contacted_at__lt=cutoff) | Q(last_contacted_at__isnull=True)))


def _chosen(request) -> tuple[DaysForm, int, int]:
    data = request.GET.copy()
    if not data.get("days"):
        data["days"] = DEFAULT_DAYS  # shown in the field, so the page says which N it uses
    form = DaysForm(data)
    days = form.cleaned_data["days"] if form.is_valid() else DEFAULT_DAYS
    try:
        page = max(1, int(request.GET.get("page", 1)))
    except (TypeError, ValueError):
        page = 1
    return form, days, page


def _report_url(filters, **query) -> str:
    return reverse("reports:report", args=["not_contacted"]) + "?" + urlencode({**filters.query(), **query})


def build_not_contacted(request, filters) -> dict:
    form, days, page = _chosen(request)
    today = timezone.localdate()
    exporting = getattr(request.resolver_match, "url_name", None) == "export"
    customers = not_contacted_customers(request.user, filters, days=days, today=today)

    per_owner = list(customers.values("owner_id").annotate(
        n=Count("pk"), never=Count("pk", filter=Q(last_contacted_at__isnull=True)),
        oldest=Min("last_contacted_at")).order_by())
    owners = User.objects.in_bulk([row["owner_id"] for row in per_owner])
    total = sum(row["n"] for row in per_owner)
    summary = Table(key="owners", title=_("Customers not contacted, per owner"),
                    empty=_("Every customer was contacted in the last %(days)d days.") % {"days": days},
                    columns=[Column(_("owner")), Column(_("customers not contacted"), numeric=True),
                             Column(_("never contacted"), numeric=True), Column(_("oldest last contact"))])
    # Owners are kept (on_delete=PROTECT): every owner id has its user.
    names = {pk: str(owner) for pk, owner in owners.items()}
    for row in sorted(per_owner, key=lambda r: (-r["n"], names.get(r["owner_id"], ""))):
        oldest = timezone.localtime(row["oldest"]).date() if row["oldest"] else None
        summary.add([names.get(row["owner_id"], ""), row["n"], row["never"], oldest],
                    _report_url(filters, owner=row["owner_id"], days=days) + "#table-customers")
    if total:
        summary.totals = [_("Total"), total, sum(row["never"] for row in per_owner), ""]

    pages = max(1, ceil(total / PAGE_SIZE))
    page = min(page, pages)
    limit, offset = (EXPORT_LIMIT, 0) if exporting else (PAGE_SIZE, (page - 1) * PAGE_SIZE)
    listed = _customers_table(customers, today=today, limit=limit, offset=offset,
                              never=sum(row["never"] for row in per_owner), cut=exporting and total > EXPORT_LIMIT)
    pager = None
    if pages > 1 and not exporting:
        pager = {"page": page, "pages": pages,
                 "previous": _report_url(filters, days=days, page=page - 1) + "#table-customers"
                 if page > 1 else "",
                 "next": _report_url(filters, days=days, page=page + 1) + "#table-customers"
                 if page < pages else ""}
    cutoff = today - timedelta(days=days)
    notes = [_("Customers last contacted on %(day)s or earlier (%(days)d days or more ago), and customers never "
               "contacted, oldest contact first. Customers in the public pool are not counted.") % {
                   "day": cutoff.isoformat(), "days": days}]
    return {"tables": [summary, listed], "charts": [], "notes": notes, "pager": pager, "timeless": True,
            "extra_filter_fields": [form["days"]]}


def listed_customers(customers, *, never: int, limit: int, offset: int) -> list[Customer]:
    """``customers[offset:offset + limit]`` in the list's order: never contacted first (by id), then oldest contact
    first (by last contact, id). ``never`` is how many of them were never contacted (known from the per-owner
    counts).

    Two queries rather than one ORDER BY last_contacted_at NULLS FIRST: no index has that order, so PostgreSQL sorted
    every listed customer (800,000 for an admin at 1,000,000, ~0.4 s) for each page of 50; in these two orders the
    primary key and the index on last_contacted_at hand over the page's rows as they are read."""
    rows = []
    fields = ("name", "level", "last_contacted_at", "owner__username", "owner__first_name", "owner__last_name")
    chosen = customers.select_related("owner").only(*fields)
    if offset < never:
        rows += list(chosen.filter(last_contacted_at__isnull=True).order_by("pk")[offset:min(offset + limit, never)])
    if offset + limit > never:
        since = max(0, offset - never)
        rows += list(chosen.filter(last_contacted_at__isnull=False).order_by("last_contacted_at", "pk")
                     [since:since + limit - len(rows)])
    return rows


def _customers_table(customers, *, today: date, limit: int, offset: int, never: int, cut: bool) -> Table:
    title = _("Customers not contacted, oldest contact first")
    if cut:
        title += " " + _("(the first %(count)d)") % {"count": EXPORT_LIMIT}
    table = Table(key="customers", title=title, empty=_("No customer to show."), columns=[
        Column(_("customer")), Column(_("owner")), Column(_("level")), Column(_("last contacted")),
        Column(_("days since"), numeric=True)])
    for customer in listed_customers(customers, never=never, limit=limit, offset=offset):
        contacted = timezone.localtime(customer.last_contacted_at).date() if customer.last_contacted_at else None
        table.add([customer.name, str(customer.owner), customer.get_level_display(),
                   contacted or _("never"), (today - contacted).days if contacted else None],
                  reverse("customers:detail", args=[customer.pk]))
    return table
