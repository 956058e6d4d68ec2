"""Scheduled report mails: who may subscribe whom to which report, and the daily sending.

A user who may open a report subscribes people of his scope to it (an admin anyone, a manager his teams' people and
himself, a rep himself), with the report's filters as its URL had them. Each morning the due subscriptions are sent
(daily; weekly on Monday; monthly on the 1st; a send the worker missed goes out at the next run). Each recipient gets
the report as he would see it himself: built with his own scope (reports.mail.build_as), in his language; someone
who may no longer open the report gets nothing. A subscription is sent at most once per period: its row is locked
(SKIP LOCKED, so that two runs never wait for, then repeat, each other's work) and marked with the day it was sent.
"""

import logging
from datetime import date, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404, QueryDict
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from crm.accounts.models import User
from crm.accounts.roles import is_admin
from crm.accounts.selectors import assignable_users, visible_teams

from . import registry
from .filters import CUSTOM, PERIODS
from .mail import send_report
from .models import Frequency, ReportSubscription

logger = logging.getLogger(__name__)

QUERY_MAX = ReportSubscription._meta.get_field("query").max_length
# Query-string keys that are not filters (pagination, the form's token): never stored.
NOT_FILTERS = {"page", "csrfmiddlewaretoken"}


# ----------------------------------------------------------------------------------------------------- reads


def subscribable_people(user) -> QuerySet[User]:
    """Whom ``user`` may subscribe: active people of his scope (anyone for an admin, his teams' people and himself
    for a manager, himself otherwise) who have a mail address."""
    return assignable_users(user=user).exclude(email="")


def subscriptions_for(user) -> QuerySet[ReportSubscription]:
    """The subscriptions ``user`` manages: his own; an administrator's are everyone's."""
    subscriptions = ReportSubscription.objects.select_related("created_by").prefetch_related("recipients")
    return subscriptions if is_admin(user) else subscriptions.filter(created_by=user)


def subscriptions_received(user) -> QuerySet[ReportSubscription]:
    """Subscriptions someone else set up that mail ``user``."""
    return (ReportSubscription.objects.filter(recipients=user).exclude(created_by=user)
            .select_related("created_by").order_by("-created_at", "-pk"))


def get_or_404(queryset: QuerySet[ReportSubscription], pk) -> ReportSubscription:
    try:
        return queryset.get(pk=pk)
    except (ReportSubscription.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def _report(key: str) -> registry.Report | None:
    try:
        return registry.get(key)
    except Http404:
        return None


def clean_query(query: str) -> str:
    """The report URL's query string without empty values and non-filters, in a stable form."""
    data = QueryDict(query or "")
    return urlencode([(key, value) for key, values in data.lists() if key not in NOT_FILTERS
                      for value in values if value.strip()])


def describe_query(query: str, *, user) -> list[str]:
    """The filters of a stored query in words, as they apply to ``user``: the period, the team and the rep (those
    outside his scope do not apply to him and are left out), and anything else as it stands."""
    data = QueryDict(query or "")
    words, periods = [], dict(PERIODS)
    period = data.get("period")
    if period == CUSTOM and data.get("date_from") and data.get("date_to"):
        words.append(f"{data['date_from']} – {data['date_to']}")
    elif period in periods and period != CUSTOM:
        words.append(str(periods[period]))
    if data.get("team", "").isdigit():
        words += [str(team) for team in visible_teams(user=user).filter(pk=data["team"])]
    if data.get("owner", "").isdigit():
        words += [str(person) for person in assignable_users(user=user).filter(pk=data["owner"])]
    known = {"period", "date_from", "date_to", "team", "owner"}
    words += [f"{key}={value}" for key, values in data.lists() if key not in known for value in values]
    return words


# ---------------------------------------------------------------------------------------------------- writes


@transaction.atomic
def subscription_create(*, actor, report_key: str, query: str, frequency: str, recipients) -> ReportSubscription:
    """Subscribe ``recipients`` to a report ``actor`` may open. Everyone must be in ``actor``'s scope and able to
    open the report himself (he will get it as he would see it)."""
    report = _report(report_key)
    if report is None:
        raise ValidationError(_("There is no such report."))
    if not report.allowed(actor):
        raise PermissionDenied
    recipients = list(recipients)
    if not recipients:
        raise ValidationError(_("Choose at least one recipient."))
    allowed = set(subscribable_people(actor).filter(pk__in=[r.pk for r in recipients]).values_list("pk", flat=True))
    outside = [r for r in recipients if r.pk not in allowed]
    if outside:
        raise ValidationError(_("You may not send reports to %(names)s.") % {"names": _names(outside)})
    unable = [r for r in recipients if not report.allowed(r)]
    if unable:
        raise ValidationError(_("%(names)s may not open this report.") % {"names": _names(unable)})
    query = clean_query(query)
    if len(query) > QUERY_MAX:
        raise ValidationError(_("These filters are too long to be saved."))
    subscription = ReportSubscription(report=report.key, query=query, frequency=frequency, created_by=actor)
    subscription.full_clean(exclude=["recipients"])
    subscription.save()
    subscription.recipients.set(recipients)
    return subscription


def _names(people) -> str:
    return ", ".join(str(person) for person in people)


def subscription_delete(*, actor, subscription: ReportSubscription) -> None:
    if not (is_admin(actor) or subscription.created_by_id == actor.pk):
        raise Http404
    subscription.delete()


def subscription_leave(*, actor, subscription: ReportSubscription) -> None:
    """Stop mailing ``actor`` a report someone else subscribed him to."""
    subscription.recipients.remove(actor)


# --------------------------------------------------------------------------------------------------- sending


def period_start(frequency: str, today: date) -> date:
    """The first day of the period a subscription is sent once in: the day, the week (Monday), the month."""
    if frequency == Frequency.WEEKLY:
        return today - timedelta(days=today.weekday())
    if frequency == Frequency.MONTHLY:
        return today.replace(day=1)
    return today


def due_condition(today: date) -> Q:
    """Active subscriptions not yet sent in their current period, that existed when it began (a weekly one made on
    Wednesday waits for Monday; one whose Monday was missed goes out the next day)."""
    condition = Q()
    for frequency in Frequency.values:
        start = period_start(frequency, today)
        condition |= (Q(frequency=frequency, created_at__date__lte=start)
                      & (Q(last_sent_on__isnull=True) | Q(last_sent_on__lt=start)))
    return Q(active=True) & condition


def subscriptions_due(today: date) -> list[int]:
    return list(ReportSubscription.objects.filter(due_condition(today)).order_by("pk").values_list("pk", flat=True))


def send_due(*, today: date | None = None) -> int:
    """The daily run (reports.tasks): send every due subscription; the number of mails sent."""
    today = today or timezone.localdate()
    return sum(subscription_send(pk, today=today) for pk in subscriptions_due(today))


def subscription_send(pk: int, *, today: date) -> int:
    """Mail one subscription to each of its recipients, if it is still due and no other run holds it; the number of
    mails sent. A recipient who cannot be mailed (his report fails, the server refuses) costs only his own mail."""
    with transaction.atomic():
        # of=("self",): the creator's user row is not locked (SKIP LOCKED would otherwise pass over a subscription
        # whose creator is being saved at that moment).
        subscription = (ReportSubscription.objects.select_for_update(skip_locked=True, of=("self",))
                        .filter(due_condition(today), pk=pk).first())
        if subscription is None:
            return 0
        report = _report(subscription.report)
        sent = 0
        if report is None:
            logger.warning("scheduled report %s: no report %r any more", subscription.pk, subscription.report)
        else:
            for recipient in subscription.recipients.filter(is_active=True).exclude(email="").order_by("pk"):
                if not report.allowed(recipient):
                    logger.info("scheduled report %s: %s may no longer open %s", subscription.pk, recipient.pk,
                                report.key)
                    continue
                try:
                    with transaction.atomic():  # a savepoint: one recipient's failure leaves the others' work
                        sent += send_report(subscription=subscription, report=report, recipient=recipient)
                except Exception:  # one recipient's failure (a report's bug, the server) must not cost the others
                    logger.exception("scheduled report %s was not mailed to %s", subscription.pk, recipient.pk)
        subscription.last_sent_on = today
        subscription.save(update_fields=["last_sent_on"])
    return sent
