"""The activity lists' exporter ("interactions.interaction"), registered with crm.exports by ``register()`` in
InteractionsConfig.ready().

Rows are the activity page's rows for the same query string: the policy's scope narrowed by ActivityFilter
(``mine=1`` for "my activity", and always for those who may not see their teams' work), newest first.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import DateTimeField, F, Func, Value
from django.http import QueryDict
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from crm.exports import registry
from crm.exports.registry import Column, Exporter

from .filters import activity_filterset
from .models import Channel, Direction, Interaction

User = get_user_model()

MODEL_KEY = "interactions.interaction"


def _label(name: str) -> str:
    return capfirst(str(Interaction._meta.get_field(name).verbose_name))


class InteractionExporter(Exporter):
    model_key = MODEL_KEY
    permission = "interactions.export_interaction"
    verbose_name_plural = Interaction._meta.verbose_name_plural
    list_url_name = "interactions:activity"  # "my activity" exports come back through it (mine=1 redirects)
    fields = ("occurred_local", "customer__name", "contact__name", "channel", "direction", "subject", "body",
              "author_id", "mail_id")

    def queryset(self, user, query: QueryDict):
        return activity_filterset(user=user, data=query or QueryDict(), mine=False).qs

    def annotate(self, queryset):
        # Wall-clock time in settings.TIME_ZONE, computed by PostgreSQL (spreadsheets have no time zones).
        return queryset.annotate(occurred_local=Func(Value(settings.TIME_ZONE), F("occurred_at"), function="timezone",
                                                     output_field=DateTimeField()))

    def prepare_chunk(self, records, cache):
        """Authors' names, one query per chunk for the ones not seen yet."""
        authors = cache.setdefault("authors", {})
        wanted = {r["author_id"] for r in records} - authors.keys() - {None}
        if wanted:
            authors.update((u.pk, str(u)) for u in User.objects.filter(pk__in=wanted))
        for record in records:
            record["author_name"] = authors.get(record["author_id"], "")

    def columns(self, user) -> list[Column]:
        channels = {value: str(label) for value, label in Channel.choices}
        directions = {value: str(label) for value, label in Direction.choices if value}
        return [
            Column(_label("occurred_at"), lambda r: r["occurred_local"]),
            Column(_label("customer"), lambda r: r["customer__name"]),
            Column(_label("contact"), lambda r: r["contact__name"] or ""),
            Column(_label("channel"), lambda r: channels.get(r["channel"], r["channel"])),
            Column(_label("direction"), lambda r: directions.get(r["direction"], "")),
            Column(_label("subject"), lambda r: r["subject"]),
            Column(_label("body"), lambda r: r["body"]),
            # Mail read from a mailbox is filed without an author.
            Column(_label("author"), lambda r: r["author_name"] or (str(_("mailbox")) if r["mail_id"] else "")),
        ]


def register() -> None:
    """Called from InteractionsConfig.ready(); registering twice replaces the first."""
    registry.register(InteractionExporter())
