"""Which lists can be exported, and how. Modules register an exporter per model in their
``AppConfig.ready()``; the platform only knows this registry, never the modules (customers imports
crm.exports, not the reverse).

An exporter answers four questions:

- ``permission``: the module permission a user needs to export these records at all;
- ``queryset(user, query)``: the records, exactly as the list page shows them for this query string. It
  MUST start from the model's policy (the user's scope) and narrow it with the list's FilterSet, so an
  export never holds a row its requester could not open;
- ``columns(user)``: the header (in the active language: the worker runs it with the requester's) and
  the value getter of each column, masked where the user may not see the sensitive value;
- ``chunks(queryset, size)``: the records in chunks of plain dicts, for streaming. The default reads
  ``annotate(queryset).values(*self.fields)`` through a server-side cursor and lets ``prepare_chunk`` add
  per-chunk look-ups (names of related rows and the like) in one query per chunk, never one per row.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict


@dataclass(frozen=True)
class Column:
    header: str
    # From one record (a dict of ``fields``) to the cell: str, int, float, Decimal, date, naive datetime or None.
    value: Callable[[dict], Any]


class Exporter:
    model_key: str = ""  # "app_label.model_name"
    permission: str = ""  # "app_label.codename"
    verbose_name_plural: Any = ""  # for titles and the downloaded file's name (lazy text is fine)
    list_url_name: str = ""  # the list page the export was made from, to go back to it with the same filters
    fields: tuple[str, ...] = ()  # what ``columns`` read from each record

    def has_sensitive_filters(self, query: QueryDict) -> bool:
        """Whether the filters hold a value of a sensitive (encrypted) field, which the export then keeps sealed."""
        return False

    def queryset(self, user, query: QueryDict) -> QuerySet:
        raise NotImplementedError

    def columns(self, user) -> list[Column]:
        raise NotImplementedError

    def annotate(self, queryset: QuerySet) -> QuerySet:
        """Add what ``fields`` names beyond plain columns (SQL aggregates, raw text of converted columns)."""
        return queryset

    def prepare_chunk(self, records: list[dict], cache: dict) -> None:
        """Complete one chunk of records in place, in a bounded number of queries. ``cache`` lives for one
        export (the exporter itself is shared by every job and thread)."""

    def chunks(self, queryset: QuerySet, size: int) -> Iterator[list[dict]]:
        # prefetch_related cannot apply to values() rows; per-chunk look-ups go in prepare_chunk instead.
        rows = self.annotate(queryset.prefetch_related(None)).values(*self.fields).iterator(chunk_size=size)
        cache: dict = {}
        while chunk := list(islice(rows, size)):
            self.prepare_chunk(chunk, cache)
            yield chunk


_exporters: dict[str, Exporter] = {}


def register(exporter: Exporter) -> Exporter:
    if not exporter.model_key or not exporter.permission:
        raise ValueError("an exporter needs a model_key and a permission")
    _exporters[exporter.model_key] = exporter
    return exporter


def get(model_key: str) -> Exporter | None:
    return _exporters.get(model_key)


def model_keys() -> list[str]:
    return sorted(_exporters)
