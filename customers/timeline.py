"""The customer page's timeline and panels, assembled from contributions.

customers/ knows only this registry. Each module that has something to show on a customer's timeline
(interactions and follow-ups, later orders and tickets) registers an entry kind with a provider in its
``AppConfig.ready()``; a module with a form or box for the customer page registers a panel. customers
registers its own kind: the changes from the audit trail.

A provider is called as ``provider(customer=..., user=..., before=..., limit=...)`` and returns at most
``limit`` entries older than the cursor ``before`` (a Cursor, or None for the newest; ``before.older()`` gives
the condition), newest first; the timeline merges them, so each kind pays for one page, however long its
history.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q

_KINDS: dict[str, "Kind"] = {}
_PANELS: dict[str, "Panel"] = {}


@dataclass
class TimelineEntry:
    when: datetime
    kind: str
    id: int
    title: str
    template: str  # the partial that draws it, given ``entry``
    obj: object = None
    extra: dict = field(default_factory=dict)

    @property
    def cursor(self) -> "Cursor":
        return Cursor(self.when, self.kind, self.id)


@dataclass(frozen=True, order=True)
class Cursor:
    """Where a page of the timeline ended: entries strictly older (in this order) come next."""

    when: datetime
    kind: str
    id: int

    def older(self, field: str, kind: str) -> Q:
        """The condition for a provider's rows of ``kind`` (timed by ``field``) that come after this cursor."""
        if kind < self.kind:
            return Q(**{f"{field}__lte": self.when})
        if kind > self.kind:
            return Q(**{f"{field}__lt": self.when})
        return Q(**{f"{field}__lt": self.when}) | Q(**{field: self.when, "id__lt": self.id})

    def encode(self) -> str:
        return f"{self.when.isoformat()}|{self.kind}|{self.id}"

    @classmethod
    def decode(cls, text: str | None) -> "Cursor | None":
        try:
            when, kind, pk = (text or "").split("|")
            moment = datetime.fromisoformat(when)
            return cls(moment, kind, int(pk)) if moment.tzinfo is not None else None  # ours always carry a zone
        except ValueError:
            return None


@dataclass
class Kind:
    key: str
    label: str
    provider: Callable
    order: int = 100


@dataclass
class Panel:
    key: str
    template: str
    context: Callable  # (request, customer) -> dict, or None to leave the panel out
    order: int = 100


def register_kind(key: str, label, provider: Callable, order: int = 100) -> None:
    _KINDS[key] = Kind(key, label, provider, order)


def register_panel(key: str, template: str, context: Callable, order: int = 100) -> None:
    _PANELS[key] = Panel(key, template, context, order)


def kinds() -> list[Kind]:
    return sorted(_KINDS.values(), key=lambda k: k.order)


def panels(request, customer) -> list[tuple[Panel, dict]]:
    shown = []
    for panel in sorted(_PANELS.values(), key=lambda p: p.order):
        context = panel.context(request, customer)
        if context is not None:
            shown.append((panel, context))
    return shown


def timeline(*, customer, user, only: list[str] | None = None, before: Cursor | None = None,
             limit: int = 30) -> tuple[list[TimelineEntry], Cursor | None]:
    """One page of the customer's timeline, newest first, and the cursor of the next page (None at the end)."""
    entries = []
    for kind in kinds():
        if only and kind.key not in only:
            continue
        entries.extend(kind.provider(customer=customer, user=user, before=before, limit=limit + 1))
    entries.sort(key=lambda e: e.cursor, reverse=True)
    page = entries[:limit]
    return page, (page[-1].cursor if len(entries) > limit else None)
