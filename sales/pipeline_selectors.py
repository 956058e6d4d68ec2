"""Reads on opportunities: the list, the board's columns (totals in SQL, cards a page at a time), the detail.

Every read starts from the policy's scoped queryset (sales.permissions.opportunities_for) and the board and list
narrow it with the same FilterSet, so a column's count and sums are those of exactly the cards it can show.
"""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import BooleanField, Count, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.http import Http404

from . import permissions as policy
from .commerce_totals import money
from .models import Opportunity, Pipeline, Stage, StageHistory, StageKind

CARDS_PER_PAGE = 20
HOME_CURRENCY = "CNY"


def opportunity_list(*, user, base: QuerySet | None = None) -> QuerySet[Opportunity]:
    """Opportunities the user may see, with what a row or a card shows, in a bounded number of queries."""
    qs = base if base is not None else policy.opportunities_for(user)
    return qs.select_related("customer", "stage", "pipeline", "owner", "team")


def opportunity_detail(*, user, pk) -> Opportunity:
    opportunity = policy.get_or_404(policy.opportunities_for(user), pk)
    return (Opportunity.objects.select_related("customer", "stage", "pipeline", "owner", "team")
            .get(pk=opportunity.pk))


def may_change(user, opportunity: Opportunity) -> bool:
    return policy.opportunities_for(user, policy.CHANGE).filter(pk=opportunity.pk).exists()


def stage_history(opportunity: Opportunity) -> list[StageHistory]:
    return list(opportunity.stage_history.select_related("stage", "moved_by").order_by("entered_at", "pk"))


def pipelines_for_board() -> list[Pipeline]:
    return list(Pipeline.objects.filter(active=True))


def board_pipeline(pk=None) -> Pipeline:
    """The pipeline the board shows: the one asked for (active or not: an admin may look at an old one) or the
    default."""
    qs = Pipeline.objects.all()
    pipeline = qs.filter(pk=pk).first() if pk is not None else (
        qs.filter(is_default=True).first() or qs.filter(active=True).first())
    if pipeline is None:
        raise Http404
    return pipeline


# ------------------------------------------------------------------------------------------------ the board


@dataclass
class Column:
    stage: Stage
    count: int = 0
    total: Decimal = Decimal("0")
    weighted: Decimal = Decimal("0")
    other_currencies: int = 0  # cards not in CNY: their amounts are summed as they are, which the header says
    cards: list = field(default_factory=list)
    next_cursor: str = ""

    @property
    def is_open(self) -> bool:
        return self.stage.kind == StageKind.OPEN


@dataclass
class BoardSummary:
    count: int
    total: Decimal
    weighted: Decimal


def column_totals(queryset: QuerySet, stages: list[Stage]) -> dict[int, dict]:
    """Count, amount and weighted amount per stage over ``queryset`` (scoped and filtered), in one GROUP BY. A
    stage has one probability, so its weighted amount is its total × probability (exactly the sum of the cards'
    amount × probability): no join to the stages, no multiplication per row in the database."""
    rows = (
        queryset.filter(stage__in=[s.pk for s in stages]).order_by().values("stage_id")
        .annotate(count=Count("pk"), total=Sum("amount"),
                  other_currencies=Count("pk", filter=~Q(currency=HOME_CURRENCY)))
    )
    probability = {s.pk: s.probability for s in stages}
    return {row["stage_id"]: {**row, "weighted": row["total"] * probability[row["stage_id"]] / 100} for row in rows}


def board_columns(queryset: QuerySet, stages: list[Stage], *, cards: bool = True) -> list[Column]:
    """The board's columns: totals for every stage, and the first page of cards of each (one query per stage,
    each an index range of ``opportunity_column``)."""
    totals = column_totals(queryset, stages)
    columns = []
    for stage in stages:
        row = totals.get(stage.pk, {})
        column = Column(
            stage=stage, count=row.get("count", 0), total=money(row.get("total") or 0),
            weighted=money(row.get("weighted") or 0),
            other_currencies=row.get("other_currencies", 0),
        )
        if cards and column.count:
            column.cards, column.next_cursor = column_cards(queryset, stage)
        columns.append(column)
    return columns


def board_summary(columns: list[Column]) -> BoardSummary:
    """What the open columns hold together: the pipeline and its weighted forecast."""
    open_columns = [c for c in columns if c.is_open]
    return BoardSummary(count=sum(c.count for c in open_columns), total=sum((c.total for c in open_columns),
                                                                             Decimal("0")),
                        weighted=sum((c.weighted for c in open_columns), Decimal("0")))


def encode_cursor(opportunity: Opportunity) -> str:
    return f"{opportunity.stage_entered_at.isoformat()}|{opportunity.pk}"


def decode_cursor(text: str | None) -> tuple[datetime.datetime, int] | None:
    try:
        when, pk = (text or "").split("|")
        moment = datetime.datetime.fromisoformat(when)
        return (moment, int(pk)) if moment.tzinfo is not None else None
    except ValueError:
        return None


def column_cards(queryset: QuerySet, stage: Stage, *, after: tuple | None = None,
                 size: int = CARDS_PER_PAGE) -> tuple[list[Opportunity], str]:
    """One page of a column's cards, newest in the stage first, and the cursor of the next page ("" at the end).

    Pages follow a cursor (the last card's time in the stage and id), not an offset: a card dragged out of the
    column or into it while the user scrolls neither hides nor repeats a card of the next page.
    """
    table = Opportunity._meta.db_table
    rows = (
        queryset.filter(stage=stage).select_related("customer", "owner")
        .only("name", "amount", "currency", "expected_close", "stage_entered_at", "closed_at", "next_step",
              "lost_reason", "stage_id", "pipeline_id", "customer__name", "owner__username", "owner__first_name",
              "owner__last_name")
        .order_by("-stage_entered_at", "-id")
    )
    if after is not None:
        # A row comparison, which PostgreSQL reads as one range of the (stage, -stage_entered_at, -id) index.
        rows = rows.filter(RawSQL(f'("{table}"."stage_entered_at", "{table}"."id") < (%s, %s)', list(after),
                                  output_field=BooleanField()))
    page = list(rows[: size + 1])
    more = len(page) > size
    page = page[:size]
    return page, (encode_cursor(page[-1]) if more else "")
