"""The reminder scan and the escalation of overdue follow-ups: run by Celery beat once a minute, never as one
ETA task per reminder (a restart would lose or repeat those).

Exactly once: each batch locks the due follow-ups it takes (``FOR UPDATE SKIP LOCKED``, so two scans at
once share the work instead of doubling it), writes their notifications and marks them ``reminded_at`` in
one transaction. A worker killed mid-batch rolls the whole batch back, and the next scan sends it; a batch
that committed is never taken again. The notification's dedupe key is a second guard in the database.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.accounts.models import Team
from crm.notifications.models import NotificationKind
from crm.notifications.services import NewNotification, notify_many

from .models import FollowUp, FollowUpStatus

BATCH = 1000


def _language(user) -> str:
    return user.language or settings.LANGUAGE_CODE


def _when(moment) -> str:
    # What formats.date_format(…, "Y-m-d H:i") writes, without its per-call machinery (a scan writes thousands).
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def reminders_send_due(*, now=None, batch: int = BATCH) -> int:
    """Send every reminder due by ``now``; how many were sent."""
    now = now or timezone.now()
    titles = {}  # the reminder's wording per language, translated once per scan
    sent = 0
    while True:
        with transaction.atomic():
            due = list(
                FollowUp.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status=FollowUpStatus.OPEN, reminded_at__isnull=True, remind_at__lte=now,
                        customer__deleted_at__isnull=True)  # nobody is reminded of a customer in the recycle bin
                .select_related("assignee", "customer")
                # Only what the notification says: whole customer rows would cost a phone-number parse each.
                .only("title", "due_at", "remind_at", "assignee__language", "customer__name")
                .order_by("remind_at")[:batch]
            )
            if not due:
                return sent
            notifications = []
            for followup in due:
                language = _language(followup.assignee)
                if language not in titles:
                    with translation.override(language):
                        titles[language] = _("Follow-up due %(when)s: %(title)s")
                notifications.append(NewNotification(
                    user_id=followup.assignee_id, kind=NotificationKind.REMINDER,
                    title=titles[language] % {"when": _when(followup.due_at), "title": followup.title},
                    body=str(followup.customer), url=followup.customer.get_absolute_url() + "?tab=timeline",
                    dedupe_key=f"reminder:{followup.pk}:{followup.remind_at.isoformat()}",
                ))
            notify_many(notifications)
            FollowUp.objects.filter(pk__in=[f.pk for f in due]).update(reminded_at=now)
            sent += len(due)


def escalation_delay() -> timedelta:
    return timedelta(hours=settings.CRM_FOLLOWUP_ESCALATE_AFTER_HOURS)


def manager_of(user, teams: dict | None = None) -> object | None:
    """The manager of the user's team, or of the nearest team above it that has one (not the user himself).
    ``teams``: every team by id, read once by a caller that asks for many users."""
    if not user.team_id:
        return None
    teams = teams if teams is not None else {t.pk: t for t in Team.objects.select_related("manager")}
    team = teams.get(user.team_id)
    seen = set()
    while team is not None and team.pk not in seen:
        seen.add(team.pk)
        if team.manager_id and team.manager_id != user.pk and team.manager.is_active:
            return team.manager
        team = teams.get(team.parent_id)
    return None


def followups_escalate_overdue(*, now=None, batch: int = BATCH) -> int:
    """Tell the assignee's manager about follow-ups overdue for longer than the configured delay, once each."""
    now = now or timezone.now()
    cutoff = now - escalation_delay()
    escalated = 0
    teams = {t.pk: t for t in Team.objects.select_related("manager")}
    while True:
        with transaction.atomic():
            overdue = list(
                FollowUp.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status=FollowUpStatus.OPEN, escalated_at__isnull=True, due_at__lte=cutoff,
                        customer__deleted_at__isnull=True)
                .select_related("assignee", "customer")
                .order_by("due_at")[:batch]
            )
            if not overdue:
                return escalated
            notifications = []
            for followup in overdue:
                manager = manager_of(followup.assignee, teams)
                if manager is None:
                    continue
                with translation.override(_language(manager)):
                    notifications.append(NewNotification(
                        user_id=manager.pk, kind=NotificationKind.ESCALATION,
                        title=_("Overdue since %(when)s: %(title)s (%(user)s)") % {
                            "when": _when(followup.due_at), "title": followup.title, "user": followup.assignee},
                        body=str(followup.customer), url=followup.customer.get_absolute_url() + "?tab=timeline",
                        # The assignee is part of the event: followup_reassign clears escalated_at so that
                        # the new assignee's manager hears of it too, which a key without him would swallow.
                        dedupe_key=f"escalation:{followup.pk}:{followup.assignee_id}:{followup.due_at.isoformat()}",
                    ))
            notify_many(notifications)
            FollowUp.objects.filter(pk__in=[f.pk for f in overdue]).update(escalated_at=now)
            escalated += len(notifications)
