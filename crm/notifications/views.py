"""The notifications pages: the list (unread first), the bell's count and menu, marking read.

A notification is its user's alone: anyone else's is 404, administrators included.
"""

from django.contrib import messages
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from crm.web.context_processors import BADGE_CAP
from crm.web.pagination import paginate

from . import services
from .models import Notification

MENU_SIZE = 5


def _notifications(user) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user)


def _unread_count(user) -> int:
    """Counted up to BADGE_CAP + 1, on the partial index of unread notifications."""
    return _notifications(user).filter(read_at__isnull=True).order_by()[: BADGE_CAP + 1].count()


def _safe(request, url: str) -> str:
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
        return url
    return ""


@require_GET
def notification_list(request):
    notifications = _notifications(request.user)
    unread_only = request.GET.get("unread") == "1"
    if unread_only:
        notifications = notifications.filter(read_at__isnull=True).order_by("-created_at", "-pk")
    else:
        notifications = notifications.alias(
            unread=ExpressionWrapper(Q(read_at__isnull=True), output_field=BooleanField())
        ).order_by("-unread", "-created_at", "-pk")
    context = {"page": paginate(request, notifications), "unread_only": unread_only}
    template = "notifications/notification_list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#results"
    return render(request, template, context)


@require_GET
def notification_bell(request):
    """The bell's unread count, polled by the layout every minute."""
    return render(request, "notifications/_bell_count.html", {"count": _unread_count(request.user)})


@require_GET
def notification_menu(request):
    """The bell's menu: the latest notifications, loaded when it opens."""
    context = {
        "latest": list(_notifications(request.user).order_by("-created_at", "-pk")[:MENU_SIZE]),
        "count": _unread_count(request.user),
    }
    return render(request, "notifications/_bell_menu.html", context)


@require_POST
def notification_read(request, pk):
    """Mark one notification read, then go where it points (or back to ``next``, or to the list)."""
    notification = services.notification_mark_read(user=request.user, notification_id=pk)
    if notification is None:
        raise Http404
    target = (_safe(request, request.POST.get("next", "")) or _safe(request, notification.url)
              or reverse("notifications:list"))
    return redirect(target)


@require_POST
def notification_read_all(request):
    count = services.notifications_mark_all_read(user=request.user)
    if count:
        messages.success(request, _("All notifications are marked read."))
    return redirect(_safe(request, request.POST.get("next", "")) or reverse("notifications:list"))
