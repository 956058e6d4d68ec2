"""Pagination that never counts a huge filtered set exactly.

A page shows "1–25 of more than 1,000" past the cap: counting ``LIMIT cap+1`` rows stays cheap whatever the table
size, where an exact COUNT(*) over a million scoped rows would cost more than the page itself.

The count also picks how the page is read. Asked for "the newest 25 rows that match", PostgreSQL may walk
the index of the sort column and test row after row until 25 match. That is quick when matches are common,
but when it overestimates how many rows match (trigram estimates for a search change from one ANALYZE to
the next) it walks a large part of the table: half a second at a million customers. So when the count says
the matches are few (under the cap), the page is sorted by expressions equal to the sort
columns but matched by no index (``updated_at + '0'::interval``): PostgreSQL then gathers the matches the
way the count just did (the search's own indexes) and sorts them, a cost bounded by the number of matches.
Many matches are dense enough for the index walk to stop early, so the ordering is left alone.
"""

import datetime

from django.core.paginator import Paginator
from django.db import models
from django.db.models import F, Value
from django.db.models.expressions import CombinedExpression
from django.utils.functional import cached_property

# 10,000 was tried first: counting that far took 200-280 ms for a rep's tag filter or a common two-character
# search at a million customers (bench/RESULTS.md); 1,000 keeps every list case under its goal.
COUNT_CAP = 1_000
# A search counts further: its matches are where PostgreSQL's estimates go wrong (see above), and a search
# with 1,000-2,000 matches ('恒通物流': 1,077) is still sorted faster in memory than by walking the index.
SEARCH_COUNT_CAP = 2_000


def _unindexed(expression, field):
    """``expression`` through an operation that changes no value (NULL stays NULL) but hides it from indexes."""
    if isinstance(field, (models.DateTimeField, models.DateField)):
        return CombinedExpression(expression, "+", Value(datetime.timedelta(0)), output_field=field)
    if isinstance(field, (models.CharField, models.TextField)):
        return CombinedExpression(expression, "||", Value(""), output_field=field)
    if isinstance(field, (models.IntegerField, models.AutoField)):  # BigAutoField and the like included
        return CombinedExpression(expression, "+", Value(0), output_field=field)
    return None


def sorted_without_index(queryset):
    """The same queryset, in the same order, with every plain column of its ORDER BY made unindexable.
    Returned unchanged when its ordering has anything else (expressions, related fields)."""
    ordering = queryset.query.order_by or queryset.model._meta.ordering
    model = queryset.model
    rewritten = []
    for item in ordering:
        if not isinstance(item, str) or item == "?":
            return queryset
        descending, name = item.startswith("-"), item.lstrip("-")
        try:
            field = model._meta.pk if name == "pk" else model._meta.get_field(name)
        except Exception:  # a related path, an annotation: keep the ordering as it is
            return queryset
        if not field.concrete or field.is_relation:
            return queryset
        expression = _unindexed(F(name), field)
        if expression is None:
            return queryset
        rewritten.append(expression.desc() if descending else expression.asc())
    return queryset.order_by(*rewritten) if rewritten else queryset


class CappedPaginator(Paginator):
    def __init__(self, object_list, per_page, *, count_cap: int | None = None, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.count_cap = count_cap or COUNT_CAP

    @cached_property
    def count(self):
        # The order does not change how many rows there are, and without it PostgreSQL may stop at the cap
        # by the cheapest path instead of walking the sort's index and fetching every row it passes.
        rows = self.object_list.order_by() if hasattr(self.object_list, "order_by") else self.object_list
        return rows[: self.count_cap + 1].count()

    @property
    def cap(self) -> int:
        """How far the count goes, for the page to say "of more than {cap}"."""
        return self.count_cap

    @property
    def capped(self) -> bool:
        return self.count > self.count_cap

    def validate_number(self, number):
        # Past the cap the last page is unknown; let users walk on until a page comes back empty.
        try:
            number = int(number)
        except (TypeError, ValueError):
            number = 1
        if number < 1:
            number = 1
        if not self.capped and number > self.num_pages:
            number = max(self.num_pages, 1)
        return number

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        rows = self.object_list
        if hasattr(rows, "query") and not self.capped:
            rows = sorted_without_index(rows)
        return self._get_page(rows[bottom : bottom + self.per_page], number, self)


def paginate(request, queryset, per_page: int = 25, *, count_cap: int | None = None):
    paginator = CappedPaginator(queryset, per_page, count_cap=count_cap)
    return paginator.page(request.GET.get("page", 1))
