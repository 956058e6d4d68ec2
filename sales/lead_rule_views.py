"""The assignment rules page, for administrators only (403 for everyone else): the ordered list with the web form's
embed code, create / edit, delete with confirmation, move up / down."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.accounts.roles import require_admin
from customers.choices import Industry, Source

from . import lead_rules
from . import lead_selectors as selectors
from .lead_forms import AssignmentRuleForm
from .models import AssignmentRule


@require_GET
def rule_list(request):
    require_admin(request.user)
    form_url = settings.CRM_BASE_URL.rstrip("/") + reverse("sales:lead_web_form")
    rules = list(selectors.assignment_rules())
    away = selectors.away_members(team_ids={rule.team_id for rule in rules if rule.team_id and not rule.user_id})
    for rule in rules:
        rule.conditions = _conditions(rule)
        rule.away = [rule.user] if rule.user_id and rule.user.is_away else away.get(rule.team_id, [])
    return render(request, "sales/leads/rule_list.html", {"rules": rules, "form_url": form_url})


def _conditions(rule) -> list[tuple[str, str]]:
    """The rule's conditions as the page shows them: (what, which values), choices by their labels."""
    sources, industries = dict(Source.choices), dict(Industry.choices)
    shown = [
        (_("provinces"), rule.provinces),
        (_("sources"), [str(sources.get(v, v)) for v in rule.sources]),
        (_("industries"), [str(industries.get(v, v)) for v in rule.industries]),
        (_("campaigns"), rule.campaigns),
    ] + [(key, value if isinstance(value, list) else [value]) for key, value in (rule.custom or {}).items()]
    return [(label, "、".join(map(str, values))) for label, values in shown if values]


@require_http_methods(["GET", "POST"])
def rule_create(request):
    require_admin(request.user)
    return _rule_form(request, AssignmentRule())


@require_http_methods(["GET", "POST"])
def rule_update(request, pk):
    require_admin(request.user)
    return _rule_form(request, get_object_or_404(AssignmentRule, pk=pk))


def _rule_form(request, rule):
    form = AssignmentRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        try:
            rule = lead_rules.rule_save(actor=request.user, rule=form.save(commit=False))
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Rule %(name)s saved.") % {"name": rule.name})
            return redirect("sales:assignment_rule_list")
    return render(request, "sales/leads/rule_form.html", {"form": form, "rule": rule})


@require_http_methods(["GET", "POST"])
def rule_delete(request, pk):
    require_admin(request.user)
    rule = get_object_or_404(AssignmentRule, pk=pk)
    if request.method == "POST":
        lead_rules.rule_delete(actor=request.user, rule=rule)
        messages.success(request, _("Rule %(name)s deleted.") % {"name": rule.name})
        return redirect("sales:assignment_rule_list")
    return render(request, "sales/leads/rule_confirm_delete.html", {"rule": rule})


@require_POST
def rule_move(request, pk):
    require_admin(request.user)
    rule = get_object_or_404(AssignmentRule, pk=pk)
    lead_rules.rule_move(actor=request.user, rule=rule, direction=request.POST.get("direction", ""))
    return redirect("sales:assignment_rule_list")
