"""Helpers shared by the reminder tests (test_reminders.py, test_reminder_worker.py)."""

import time
from collections import Counter

from crm.notifications.models import Notification, NotificationKind
from interactions.models import FollowUp


def with_preferences(user, **fields):
    """Set the user's notification preferences (``language``, ``notify_by_email``) and save them."""
    for name, value in fields.items():
        setattr(user, name, value)
    user.save(update_fields=list(fields))
    return user


def reminders_per_followup() -> Counter:
    """How many reminders each follow-up got, read from the notifications' text (the title ends with the
    follow-up's title), not from their dedupe keys: a duplicate under another key would show here. Expects
    unique follow-up titles and assignees who read English ("Follow-up due …: <title>")."""
    titles = Notification.objects.filter(kind=NotificationKind.REMINDER).values_list("title", flat=True)
    by_title = dict(FollowUp.objects.values_list("title", "pk"))
    return Counter(by_title[title.rsplit(": ", 1)[1]] for title in titles)


def wait_for(predicate, *, timeout=60, what="the worker"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout} s")
