"""Acquisition cost (获客成本) of campaigns: what their leads and the customers those leads became cost.

A campaign's cost is a company figure: it was spent once, for all the leads the campaign brought, whoever works
them. So it is spread over *all* its leads (cost per lead is the same for every viewer), and a viewer who sees only
some of the leads (a rep his own, a manager his subtree's) is charged the share of the cost his leads stand for:
``cost × his leads / all leads``. His cost per customer (CAC) is that share divided by the customers his leads
became. Dividing the whole cost by a rep's two leads would tell him a lead cost ten times what it did; showing
every rep the company's lead and customer counts would widen the lead scope. The share keeps both right: the
viewer learns the campaign's cost per lead (which, with its cost, tells how many leads it brought, a count and no
record) and nothing about leads he may not see.

A campaign without a recorded cost (actual cost empty) has no cost per lead or customer: it is said, never taken
for zero. Rows that combine campaigns (a channel, the total) divide only the costs recorded by the leads and
customers of the campaigns that have one. A customer converted from leads of two campaigns counts for each.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q, QuerySet

from sales.models import Lead, LeadStatus

CENT = Decimal("0.01")


def _money(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Figures:
    cost: Decimal | None  # the whole cost (company figure); None: not recorded
    all_leads: int  # every lead of the campaign(s): what the cost is spread over
    leads: int  # the viewer's leads
    customers: int  # customers the viewer's leads became
    share: Decimal | None  # the part of the cost the viewer's leads stand for
    cost_per_lead: Decimal | None  # None: no cost recorded, or no lead
    cost_per_customer: Decimal | None  # None: no cost recorded, or no customer

    @property
    def conversion(self) -> float | None:
        return self.customers / self.leads if self.leads else None


def campaign_figures(cost: Decimal | None, *, all_leads: int, leads: int, customers: int) -> Figures:
    if cost is None:
        return Figures(None, all_leads, leads, customers, None, None, None)
    share = cost if leads == all_leads else (cost * leads / all_leads if all_leads else Decimal("0"))
    return Figures(cost, all_leads, leads, customers, _money(share),
                   _money(cost / all_leads) if all_leads else None,
                   _money(share / customers) if customers else None)


def combined(figures: list[Figures]) -> Figures:
    """Several campaigns as one row (a channel, the total): ratios over the campaigns with a recorded cost only."""
    costed = [f for f in figures if f.cost is not None]
    leads, customers = sum(f.leads for f in figures), sum(f.customers for f in figures)
    all_leads = sum(f.all_leads for f in figures)
    if not costed:
        return Figures(None, all_leads, leads, customers, None, None, None)
    cost, share = sum(f.cost for f in costed), sum(f.share for f in costed)
    costed_all_leads, costed_customers = sum(f.all_leads for f in costed), sum(f.customers for f in costed)
    return Figures(cost, all_leads, leads, customers, _money(share),
                   _money(cost / costed_all_leads) if costed_all_leads else None,
                   _money(share / costed_customers) if costed_customers else None)


def lead_counts(campaign_ids, leads: QuerySet[Lead]) -> dict[int, tuple[int, int, int]]:
    """{campaign id: (all its leads, the leads of ``leads``, customers those became)}, in two grouped queries (the
    lead_campaign index). ``leads`` is the viewer's scope of leads (marketing.selectors.attributed_leads)."""
    ids = list(campaign_ids)
    if not ids:
        return {}
    everyone = dict(Lead.objects.filter(marketing_campaign__in=ids).order_by().values("marketing_campaign")
                    .annotate(n=Count("pk")).values_list("marketing_campaign", "n"))
    converted = Q(status=LeadStatus.CONVERTED, customer__isnull=False)
    seen = {row[0]: row[1:] for row in leads.filter(marketing_campaign__in=ids).order_by()
            .values("marketing_campaign").annotate(n=Count("pk"), k=Count("customer", filter=converted,
                                                                          distinct=True))
            .values_list("marketing_campaign", "n", "k")}
    return {pk: (everyone.get(pk, 0), *seen.get(pk, (0, 0))) for pk in ids}
