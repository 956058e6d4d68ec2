"""The opportunity list's exporter ("sales.opportunity"), registered with crm.exports by sales.pipeline_setup.

Rows are the list page's rows for the same query string (the policy's scope narrowed by OpportunityListFilter), in
the same order; names of related rows come with the rows (joins), amounts and dates as numbers and dates so that a
spreadsheet sums and sorts them.
"""

from django.conf import settings
from django.db.models import DateTimeField, DecimalField, ExpressionWrapper, F, Func, Value
from django.http import QueryDict
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from crm.exports.registry import Column, Exporter

from . import pipeline_selectors as selectors
from .models import Opportunity, StageKind
from .pipeline_filters import OpportunityListFilter


def _local_time(field: str) -> Func:
    return Func(Value(settings.TIME_ZONE), F(field), function="timezone", output_field=DateTimeField())


def _label(name: str) -> str:
    return capfirst(str(Opportunity._meta.get_field(name).verbose_name))


def _person(last: str, first: str, username: str) -> str:
    # As User.__str__: Chinese names family name first without a space, others "first last".
    if last and first and not (first + last).isascii():
        return f"{last}{first}"
    return f"{first} {last}".strip() or username


class OpportunityExporter(Exporter):
    model_key = "sales.opportunity"
    permission = "sales.export_opportunity"
    verbose_name_plural = Opportunity._meta.verbose_name_plural
    list_url_name = "sales:opportunity_list"
    fields = (
        "name", "customer__name", "pipeline__name", "stage__name", "stage__kind", "stage__probability", "amount",
        "weighted", "currency", "expected_close", "owner__last_name", "owner__first_name", "owner__username",
        "team__name", "next_step", "lost_reason", "created_local", "stage_since_local", "closed_local",
    )

    def queryset(self, user, query: QueryDict):
        filterset = OpportunityListFilter(query or None, queryset=selectors.opportunity_list(user=user), user=user)
        return filterset.qs if filterset.is_bound else filterset.queryset.order_by("-updated_at", "-pk")

    def annotate(self, queryset):
        return queryset.annotate(
            weighted=ExpressionWrapper(F("amount") * F("stage__probability") / 100,
                                       output_field=DecimalField(max_digits=20, decimal_places=2)),
            created_local=_local_time("created_at"), stage_since_local=_local_time("stage_entered_at"),
            closed_local=_local_time("closed_at"),
        )

    def columns(self, user) -> list[Column]:
        kinds = {value: str(label) for value, label in StageKind.choices}
        return [
            Column(_label("name"), lambda r: r["name"]),
            Column(_label("customer"), lambda r: r["customer__name"]),
            Column(_label("pipeline"), lambda r: r["pipeline__name"]),
            Column(_label("stage"), lambda r: r["stage__name"]),
            Column(_("status"), lambda r: str(kinds.get(r["stage__kind"], r["stage__kind"]))),
            Column(_("probability (%)"), lambda r: r["stage__probability"]),
            Column(_label("amount"), lambda r: r["amount"]),
            Column(_("weighted amount"), lambda r: round(r["weighted"], 2) if r["weighted"] is not None else None),
            Column(_label("currency"), lambda r: r["currency"]),
            Column(_label("expected_close"), lambda r: r["expected_close"]),
            Column(_label("owner"), lambda r: _person(r["owner__last_name"], r["owner__first_name"],
                                                      r["owner__username"])),
            Column(_label("team"), lambda r: r["team__name"] or ""),
            Column(_label("next_step"), lambda r: r["next_step"]),
            Column(_label("lost_reason"), lambda r: r["lost_reason"]),
            Column(_label("created_at"), lambda r: r["created_local"]),
            Column(_label("stage_entered_at"), lambda r: r["stage_since_local"]),
            Column(_label("closed_at"), lambda r: r["closed_local"]),
        ]

