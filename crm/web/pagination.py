"""Pagination that never counts a huge filtered set exactly.

A page shows "1–25 of 10,000+" past the cap: counting ``LIMIT cap+1`` rows stays cheap whatever the table
size, where an exact COUNT(*) over a million scoped rows would cost more than the page itself.
"""

from django.core.paginator import Paginator
from django.utils.functional import cached_property

COUNT_CAP = 10_000


class CappedPaginator(Paginator):
    @cached_property
    def count(self):
        return self.object_list[: COUNT_CAP + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > COUNT_CAP

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
        return self._get_page(self.object_list[bottom : bottom + self.per_page], number, self)


def paginate(request, queryset, per_page: int = 25):
    paginator = CappedPaginator(queryset, per_page)
    return paginator.page(request.GET.get("page", 1))
