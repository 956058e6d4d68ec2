"""The targets page (销售目标): a month's targets of the reps and teams the viewer may set, in one grid, and the copy
of last month's. Open to admins and managers (reports.target_services.may_manage_targets); 403 for anyone else."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from crm.accounts.models import Team
from crm.accounts.roles import is_admin

from .filters import add_months
from .models import SalesTarget
from .target_forms import MonthForm, TargetGridForm
from .target_services import (
    may_manage_targets,
    own_targets,
    target_people,
    target_teams,
    targets_copy_previous,
    targets_save,
)


def _check(request):
    if not may_manage_targets(request.user):
        raise PermissionDenied


def _team_paths() -> dict[int, str]:
    """Each team's name with its parents' (总公司 / 华东销售部 / 上海组): the grid lists teams in tree order."""
    teams = {pk: (parent, name) for pk, parent, name in Team.objects.values_list("pk", "parent_id", "name")}
    paths = {}
    for pk in teams:
        names, current, seen = [], pk, set()
        while current is not None and current in teams and current not in seen:
            seen.add(current)
            names.append(teams[current][1])
            current = teams[current][0]
        paths[pk] = " / ".join(reversed(names))
    return paths


def _month_url(month) -> str:
    return reverse("reports:target_list") + "?" + urlencode({"month": month.strftime("%Y-%m")})


def _amounts(month, people, teams) -> dict:
    """{("user" | "team", id): amount} of the month's targets of these people and teams."""
    found = (SalesTarget.objects.filter(month=month, user__in=[p.pk for p in people])
             | SalesTarget.objects.filter(month=month, team__in=[t.pk for t in teams]))
    return {("user", user) if user else ("team", team): amount
            for user, team, amount in found.values_list("user_id", "team_id", "amount")}


@require_http_methods(["GET", "POST"])
def target_list(request):
    _check(request)
    user = request.user
    month_form = MonthForm(request.POST if request.method == "POST" else (request.GET or None))
    month = month_form.chosen()
    people = list(target_people(user).select_related("team").order_by("team__name", "last_name", "first_name",
                                                                        "username"))
    teams = list(target_teams(user).order_by("name"))
    current = _amounts(month, people, teams)
    form = TargetGridForm(request.POST if request.method == "POST" else None, people=people, teams=teams,
                          current=current)
    if request.method == "POST":
        if form.foreign:  # a field for someone the page never offered: refuse the whole save
            raise PermissionDenied
        if not month_form.is_valid() or not month_form.cleaned_data.get("month"):
            messages.error(request, _("Choose the month of the targets."))
        elif form.is_valid():
            amounts_people, amounts_teams = form.amounts()
            try:
                result = targets_save(actor=user, month=month, people=amounts_people, teams=amounts_teams)
            except ValidationError as error:
                for field, errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, ngettext(
                    "Targets of %(month)s saved: %(n)s change.", "Targets of %(month)s saved: %(n)s changes.",
                    result.total) % {"month": month.strftime("%Y-%m"), "n": result.total})
                return redirect(_month_url(month))
        if form.errors:
            messages.error(request, _("Nothing was saved: correct the amounts marked below."))
    previous = add_months(month, -1)
    before = _amounts(previous, people, teams)
    paths = _team_paths()
    context = {
        "month": month, "month_form": month_form, "form": form,
        "previous_month": previous, "next_month": add_months(month, 1),
        "person_rows": [(p, form[f"user_{p.pk}"], before.get(("user", p.pk))) for p in people],
        "team_rows": sorted(((t, form[f"team_{t.pk}"], before.get(("team", t.pk)), paths.get(t.pk, t.name))
                             for t in teams), key=lambda row: row[3]),
        "own_targets": [] if is_admin(user) else list(own_targets(user, month)),
    }
    return render(request, "reports/targets.html", context)


@require_POST
def target_copy(request):
    _check(request)
    month_form = MonthForm(request.POST)
    if not month_form.is_valid() or not month_form.cleaned_data.get("month"):
        messages.error(request, _("Choose the month of the targets."))
        return redirect("reports:target_list")
    month = month_form.cleaned_data["month"]
    copied = targets_copy_previous(actor=request.user, month=month)
    if copied:
        messages.success(request, ngettext(
            "%(n)s target of %(previous)s copied to %(month)s.", "%(n)s targets of %(previous)s copied to %(month)s.",
            copied) % {"n": copied, "previous": add_months(month, -1).strftime("%Y-%m"),
                       "month": month.strftime("%Y-%m")})
    else:
        messages.info(request, _("Nothing to copy: last month has no target for anyone without one this month."))
    return redirect(_month_url(month))
