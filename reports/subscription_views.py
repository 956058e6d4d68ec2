"""Scheduled report mails: the user's subscriptions (an administrator's: everyone's) and those he receives, a new
one (from a report's "Schedule by email" link, with its filters), deleting one (after a confirmation), and leaving
one someone else set up. Subscriptions outside the user's own are 404."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import registry, subscriptions
from .subscription_forms import SubscriptionForm


def _require_reports(request):
    if not registry.available(request.user):
        raise PermissionDenied


def _row(subscription, reports, user) -> dict:
    report = reports.get(subscription.report)
    url = reverse("reports:report", args=[subscription.report]) if report else ""
    return {"subscription": subscription, "report": report,
            "report_url": url + (f"?{subscription.query}" if url and subscription.query else ""),
            "filters": subscriptions.describe_query(subscription.query, user=user)}


@require_GET
def subscription_list(request):
    _require_reports(request)
    reports = {report.key: report for report in registry.all_reports()}
    own = subscriptions.subscriptions_for(request.user).order_by("-created_at", "-pk")
    received = subscriptions.subscriptions_received(request.user)
    return render(request, "reports/subscription_list.html", {
        "rows": [_row(s, reports, request.user) for s in own],
        "received": [_row(s, reports, request.user) for s in received],
    })


@require_http_methods(["GET", "POST"])
def subscription_create(request):
    _require_reports(request)
    if request.method == "POST":
        form = SubscriptionForm(request.POST, user=request.user)
        if form.is_valid():
            try:
                subscriptions.subscription_create(
                    actor=request.user, report_key=form.cleaned_data["report"], query=form.cleaned_data["query"],
                    frequency=form.cleaned_data["frequency"], recipients=form.cleaned_data["recipients"])
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("The report will be mailed on schedule."))
                return redirect("reports:subscription_list")
    else:
        form = SubscriptionForm(user=request.user)
        himself = form.fields["recipients"].queryset.filter(pk=request.user.pk).exists()
        form.initial = {"report": request.GET.get("report", ""),
                        "query": subscriptions.clean_query(request.GET.get("query", "")),
                        "recipients": [request.user.pk] if himself else []}
    report = form.reports.get(form["report"].value())
    query = subscriptions.clean_query(form["query"].value() or "")
    report_url = reverse("reports:report", args=[report.key]) + (f"?{query}" if query else "") if report else ""
    return render(request, "reports/subscription_form.html", {
        "form": form, "report": report, "report_url": report_url,
        "filters": subscriptions.describe_query(query, user=request.user),
    })


@require_http_methods(["GET", "POST"])
def subscription_delete(request, pk):
    subscription = subscriptions.get_or_404(subscriptions.subscriptions_for(request.user), pk)
    if request.method == "POST":
        subscriptions.subscription_delete(actor=request.user, subscription=subscription)
        messages.success(request, _("The scheduled mail was deleted."))
        return redirect("reports:subscription_list")
    reports = {report.key: report for report in registry.all_reports()}
    return render(request, "reports/subscription_confirm_delete.html", _row(subscription, reports, request.user))


@require_POST
def subscription_leave(request, pk):
    subscription = subscriptions.get_or_404(subscriptions.subscriptions_received(request.user), pk)
    subscriptions.subscription_leave(actor=request.user, subscription=subscription)
    messages.success(request, _("This report will no longer be mailed to you."))
    return redirect("reports:subscription_list")
