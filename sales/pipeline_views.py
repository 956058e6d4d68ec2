"""Pipeline pages: the kanban board, the opportunity list, an opportunity's page and forms, and the admin's pipeline
and stage settings. Each view checks the module permission (403), takes its records from the policy (404 outside
scope), calls one service and answers with a page, a partial (htmx) or a redirect."""

from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.web import pagination
from crm.web.pagination import paginate
from customers import permissions as customer_policy
from customers.search import search_condition

from . import permissions as policy
from . import pipeline_selectors as selectors
from . import pipeline_services as services
from .commerce_totals import money
from .models import Opportunity, OpportunityLine, Pipeline, Stage
from .pipeline_filters import BoardFilter, OpportunityListFilter
from .pipeline_forms import (
    LineEditForm,
    LineForm,
    MoveForm,
    OpportunityForm,
    PipelineCreateForm,
    PipelineForm,
    StageDeleteForm,
    StageForm,
)

view_required = permission_required("sales.view_opportunity", raise_exception=True)
change_required = permission_required("sales.change_opportunity", raise_exception=True)
settings_required = permission_required("sales.change_pipeline", raise_exception=True)

CUSTOMER_CHOICES = 20
# Query parameters that are not filters: left out of the query string carried by moves and "more" links.
NOT_FILTERS = ("after", "page", "stage", "lost_reason", "csrfmiddlewaretoken")


def _partial(request, template: str, partial: str) -> str:
    return f"{template}#{partial}" if request.htmx and not request.htmx.boosted else template


def _add_errors(form, error: ValidationError) -> None:
    """A service's ValidationError on the form: on its fields where the form has them, on top otherwise."""
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            for each in errors:
                form.add_error(name if name in form.fields else None, each)
    else:
        form.add_error(None, error)


def _text(error: ValidationError) -> str:
    return " ".join(error.messages)


def _safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def _filter_query(querydict) -> str:
    query = querydict.copy()
    for name in NOT_FILTERS:
        query.pop(name, None)
    return query.urlencode()


# ------------------------------------------------------------------------------------------------ the board


def _board_set(request, filter_class=BoardFilter):
    filterset = filter_class(request.GET, queryset=policy.opportunities_for(request.user), user=request.user)
    return filterset, filterset.qs


@require_GET
@view_required
def board(request, pk=None):
    pipeline = selectors.board_pipeline(pk)
    stages = list(pipeline.stages.order_by("position", "pk"))
    filterset, queryset = _board_set(request)
    columns = selectors.board_columns(queryset, stages)
    context = {
        "pipeline": pipeline, "pipelines": selectors.pipelines_for_board(), "stages": stages, "columns": columns,
        "summary": selectors.board_summary(columns), "filter": filterset, "query": _filter_query(request.GET),
        "may_move": request.user.has_perm("sales.change_opportunity"), "today": timezone.localdate(),
    }
    return render(request, _partial(request, "sales/pipeline/board.html", "columns"), context)


@require_GET
@view_required
def board_column(request, stage_pk):
    """The next page of one column's cards ("more"): appended by htmx, or a page of its own without JavaScript."""
    stage = get_object_or_404(Stage.objects.select_related("pipeline"), pk=stage_pk)
    _filterset, queryset = _board_set(request)
    cards, next_cursor = selectors.column_cards(queryset, stage, after=selectors.decode_cursor(request.GET.get(
        "after")))
    context = {"stage": stage, "pipeline": stage.pipeline, "cards": cards, "next_cursor": next_cursor,
               "query": _filter_query(request.GET), "may_move": request.user.has_perm("sales.change_opportunity"),
               "today": timezone.localdate()}
    if request.htmx and not request.htmx.boosted:
        return render(request, "sales/pipeline/_column_page.html", context)
    return render(request, "sales/pipeline/board_column.html", context)


def _refused(request, message: str, status: int):
    """A move the server will not make: the board puts the card back and shows ``message``."""
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


@require_http_methods(["GET", "POST"])
@view_required
def opportunity_move(request, pk):
    """Move an opportunity to another stage: from the board (drag or the "move to" dialog, htmx) or from the page
    this view shows without JavaScript. The board's answer is the card and both columns' headers (out of band)."""
    opportunity = policy.get_or_404(policy.opportunities_for(request.user).select_related("stage", "pipeline"), pk)
    form = MoveForm(request.POST or None, opportunity=opportunity)
    board_request = bool(request.htmx)
    if request.method == "POST":
        if not request.user.has_perm("sales.change_opportunity"):
            if board_request:
                return _refused(request, _("You may not move opportunities."), 403)
            raise PermissionDenied
        if form.is_valid():
            try:
                moved = services.opportunity_move(actor=request.user, opportunity=opportunity,
                                                  stage=form.cleaned_data["stage"],
                                                  lost_reason=form.cleaned_data["lost_reason"])
            except PermissionDenied as error:
                if board_request:
                    return _refused(request, str(error) or _("You may not change this opportunity."), 403)
                form.add_error(None, str(error) or _("You may not change this opportunity."))
            except ValidationError as error:
                if board_request:
                    return _refused(request, _text(error), 422)
                _add_errors(form, error)
            else:
                if board_request:
                    return _moved(request, moved)
                messages.success(request, _("%(name)s moved to %(stage)s.") % {
                    "name": moved.opportunity.name, "stage": moved.opportunity.stage.name})
                return redirect(_safe_next(request, reverse("sales:pipeline_board", args=[opportunity.pipeline_id])))
        elif board_request:
            return _refused(request, _text(ValidationError(list(form.errors.values()))), 422)
    context = {"opportunity": opportunity, "form": form, "next": _safe_next(request, "")}
    return render(request, "sales/pipeline/opportunity_move.html", context)


def _moved(request, moved):
    """The moved card, and the headers of the column it left and the one it entered, counted again over the same
    filtered set as the board (the move request carries the board's query string)."""
    opportunity = (Opportunity.objects.select_related("customer", "owner", "stage").get(pk=moved.opportunity.pk))
    stages = list(Stage.objects.filter(pipeline_id=opportunity.pipeline_id).order_by("position", "pk"))
    _filterset, queryset = _board_set(request)
    columns = selectors.board_columns(queryset, stages, cards=False)
    affected = [c for c in columns if c.stage.pk in (moved.from_stage_id, opportunity.stage_id)]
    context = {"opportunity": opportunity, "columns": affected, "summary": selectors.board_summary(columns),
               "may_move": True, "query": _filter_query(request.GET), "today": timezone.localdate()}
    return render(request, "sales/pipeline/_moved.html", context)


# ------------------------------------------------------------------------------------------------- the list


@require_GET
@view_required
def opportunity_list(request):
    filterset = OpportunityListFilter(request.GET or None, queryset=selectors.opportunity_list(user=request.user),
                                      user=request.user)
    queryset = filterset.qs if filterset.is_bound else filterset.queryset.order_by("-updated_at", "-pk")
    searching = filterset.is_bound and filterset.form.is_valid() and filterset.form.cleaned_data.get("q")
    page = paginate(request, queryset, count_cap=pagination.SEARCH_COUNT_CAP if searching else None)
    context = {"filter": filterset, "page": page,
               "may_export": request.user.has_perm("sales.export_opportunity")}
    return render(request, _partial(request, "sales/pipeline/opportunity_list.html", "results"), context)


# ------------------------------------------------------------------------------------ one opportunity


@require_GET
@view_required
def opportunity_detail(request, pk):
    opportunity = selectors.opportunity_detail(user=request.user, pk=pk)
    may_change = request.user.has_perm("sales.change_opportunity") and selectors.may_change(request.user,
                                                                                             opportunity)
    lines = list(opportunity.lines.select_related("product").order_by("pk"))
    for line in lines:
        line.total = money(line.quantity * line.unit_price)
    context = {
        "opportunity": opportunity, "history": selectors.stage_history(opportunity), "lines": lines,
        "lines_total": sum((line.total for line in lines), start=Decimal("0")),
        "may_change": may_change,
        "move_form": MoveForm(opportunity=opportunity) if may_change else None,
        "line_form": LineForm() if may_change and request.user.has_perm("sales.add_opportunityline") else None,
        "may_delete": may_change and request.user.has_perm("sales.delete_opportunity"),
    }
    return render(request, "sales/pipeline/opportunity_detail.html", context)


@require_http_methods(["GET", "POST"])
@permission_required("sales.add_opportunity", raise_exception=True)
def opportunity_create(request):
    """A new opportunity. Started from a customer's page (``?customer=``), or by first finding the customer."""
    customer_pk = request.POST.get("customer") or request.GET.get("customer")
    if not customer_pk:
        query = request.GET.get("find", "").strip()  # not "q": base.html's customer search box reads that
        found = []
        if query:
            found = list(customer_policy.customers_for(request.user).filter(search_condition(query))
                         .select_related("owner").order_by("-updated_at")[:CUSTOMER_CHOICES])
        context = {"query": query, "found": found}
        return render(request, _partial(request, "sales/pipeline/opportunity_pick_customer.html", "found"), context)
    customer = customer_policy.get_customer_or_404(request.user, customer_pk)
    form = OpportunityForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            opportunity = services.opportunity_create(actor=request.user, customer=customer, **form.service_kwargs())
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, _("Opportunity %(name)s created.") % {"name": opportunity.name})
            return redirect(opportunity.get_absolute_url())
    return render(request, "sales/pipeline/opportunity_form.html", {"form": form, "customer": customer,
                                                                    "creating": True})


@require_http_methods(["GET", "POST"])
@change_required
def opportunity_update(request, pk):
    opportunity = policy.get_or_404(policy.opportunities_for(request.user, policy.CHANGE)
                                    .select_related("customer", "stage"), pk)
    form = OpportunityForm(request.POST or None, instance=opportunity, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.opportunity_update(actor=request.user, opportunity=opportunity, **form.service_kwargs())
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, _("Changes saved."))
            return redirect(opportunity.get_absolute_url())
    return render(request, "sales/pipeline/opportunity_form.html", {"form": form, "opportunity": opportunity,
                                                                    "customer": opportunity.customer})


@require_http_methods(["GET", "POST"])
@permission_required("sales.delete_opportunity", raise_exception=True)
def opportunity_delete(request, pk):
    opportunity = policy.get_or_404(policy.opportunities_for(request.user, policy.CHANGE)
                                    .select_related("customer"), pk)
    if request.method == "POST":
        services.opportunity_delete(actor=request.user, opportunity=opportunity)
        messages.success(request, _("Opportunity %(name)s deleted.") % {"name": opportunity.name})
        return redirect("sales:opportunity_list")
    return render(request, "sales/pipeline/opportunity_confirm_delete.html", {"opportunity": opportunity})


# ------------------------------------------------------------------------------------------ product lines


def _changeable(request, pk) -> Opportunity:
    return policy.get_or_404(policy.opportunities_for(request.user, policy.CHANGE).select_related("customer"), pk)


@require_http_methods(["GET", "POST"])
@permission_required("sales.add_opportunityline", raise_exception=True)
def opportunity_line_add(request, pk):
    opportunity = _changeable(request, pk)
    form = LineForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.opportunity_line_add(actor=request.user, opportunity=opportunity, product=data["product"],
                                          quantity=data["quantity"], unit_price=data["unit_price"],
                                          update_amount=data["update_amount"])
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, _("%(product)s added.") % {"product": data["product"]})
            return redirect(opportunity.get_absolute_url() + "#products")
    return render(request, "sales/pipeline/line_form.html", {"form": form, "opportunity": opportunity})


@require_http_methods(["GET", "POST"])
@permission_required("sales.change_opportunityline", raise_exception=True)
def opportunity_line_update(request, pk, line_pk):
    opportunity = _changeable(request, pk)
    line = get_object_or_404(OpportunityLine.objects.select_related("product"), pk=line_pk, opportunity=opportunity)
    form = LineEditForm(request.POST or None, initial={"quantity": line.quantity, "unit_price": line.unit_price})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.opportunity_line_update(actor=request.user, line=line, quantity=data["quantity"],
                                             unit_price=data["unit_price"], update_amount=data["update_amount"])
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, _("Changes saved."))
            return redirect(opportunity.get_absolute_url() + "#products")
    return render(request, "sales/pipeline/line_form.html", {"form": form, "opportunity": opportunity,
                                                             "line": line})


@require_POST
@permission_required("sales.change_opportunityline", raise_exception=True)
def opportunity_line_delete(request, pk, line_pk):
    opportunity = _changeable(request, pk)
    line = get_object_or_404(OpportunityLine.objects.select_related("product"), pk=line_pk, opportunity=opportunity)
    services.opportunity_line_remove(actor=request.user, line=line,
                                     update_amount=request.POST.get("update_amount") != "0")
    messages.success(request, _("%(product)s removed.") % {"product": line.product})
    return redirect(opportunity.get_absolute_url() + "#products")


# ------------------------------------------------------------------------------- pipeline and stage settings


@require_GET
@settings_required
def pipeline_settings(request):
    pipelines = list(Pipeline.objects.prefetch_related("stages"))
    stage_counts = dict(Opportunity.objects.order_by().values("stage_id").annotate(n=Count("pk"))
                        .values_list("stage_id", "n"))
    return render(request, "sales/pipeline/pipeline_settings.html", {
        "pipelines": pipelines, "stage_counts": stage_counts, "create_form": PipelineCreateForm(),
        "stage_form": StageForm(),
    })


@require_POST
@permission_required("sales.add_pipeline", raise_exception=True)
def pipeline_create(request):
    form = PipelineCreateForm(request.POST)
    if form.is_valid():
        try:
            pipeline = services.pipeline_create(actor=request.user, name=form.cleaned_data["name"])
        except ValidationError as error:
            messages.error(request, _text(error))
        else:
            messages.success(request, _("Pipeline %(name)s created: add its stages.") % {"name": pipeline.name})
            return redirect(reverse("sales:pipeline_settings") + f"#pipeline-{pipeline.pk}")
    else:
        messages.error(request, _text(ValidationError(list(form.errors.values()))))
    return redirect("sales:pipeline_settings")


@require_http_methods(["GET", "POST"])
@settings_required
def pipeline_update(request, pk):
    pipeline = get_object_or_404(Pipeline, pk=pk)
    form = PipelineForm(request.POST or None, instance=pipeline)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.pipeline_update(actor=request.user, pipeline=pipeline, name=data["name"], active=data["active"],
                                     is_default=data["is_default"])
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, _("Changes saved."))
            return redirect(reverse("sales:pipeline_settings") + f"#pipeline-{pipeline.pk}")
    return render(request, "sales/pipeline/pipeline_form.html", {"form": form, "pipeline": pipeline})


@require_POST
@permission_required("sales.delete_pipeline", raise_exception=True)
def pipeline_delete(request, pk):
    pipeline = get_object_or_404(Pipeline, pk=pk)
    try:
        services.pipeline_delete(actor=request.user, pipeline=pipeline)
    except ValidationError as error:
        messages.error(request, _text(error))
    else:
        messages.success(request, _("Pipeline %(name)s deleted.") % {"name": pipeline.name})
    return redirect("sales:pipeline_settings")


@require_http_methods(["GET", "POST"])
@permission_required("sales.add_stage", raise_exception=True)
def stage_create(request, pk):
    pipeline = get_object_or_404(Pipeline, pk=pk)
    form = StageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.stage_create(actor=request.user, pipeline=pipeline, name=data["name"],
                                  probability=data["probability"], kind=data["kind"])
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, _("Stage %(name)s added.") % {"name": data["name"]})
            return redirect(reverse("sales:pipeline_settings") + f"#pipeline-{pipeline.pk}")
    return render(request, "sales/pipeline/stage_form.html", {"form": form, "pipeline": pipeline})


@require_http_methods(["GET", "POST"])
@permission_required("sales.change_stage", raise_exception=True)
def stage_update(request, pk):
    stage = get_object_or_404(Stage.objects.select_related("pipeline"), pk=pk)
    form = StageForm(request.POST or None, instance=stage)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.stage_update(actor=request.user, stage=stage, name=data["name"], probability=data["probability"],
                                  kind=data["kind"])
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, _("Changes saved."))
            return redirect(reverse("sales:pipeline_settings") + f"#pipeline-{stage.pipeline_id}")
    stage.refresh_from_db()  # the form wrote the posted values into the instance
    return render(request, "sales/pipeline/stage_form.html", {"form": form, "pipeline": stage.pipeline,
                                                              "stage": stage})


@require_POST
@permission_required("sales.change_stage", raise_exception=True)
def stage_shift(request, pk):
    stage = get_object_or_404(Stage.objects.select_related("pipeline"), pk=pk)
    services.stage_shift(actor=request.user, stage=stage, offset=-1 if request.POST.get("direction") == "up" else 1)
    return redirect(reverse("sales:pipeline_settings") + f"#pipeline-{stage.pipeline_id}")


@require_http_methods(["GET", "POST"])
@permission_required("sales.delete_stage", raise_exception=True)
def stage_delete(request, pk):
    stage = get_object_or_404(Stage.objects.select_related("pipeline"), pk=pk)
    form = StageDeleteForm(request.POST or None, stage=stage)
    if request.method == "POST" and form.is_valid():
        try:
            services.stage_delete(actor=request.user, stage=stage, merge_into=form.cleaned_data["merge_into"])
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, _("Stage %(name)s deleted.") % {"name": stage.name})
            return redirect(reverse("sales:pipeline_settings") + f"#pipeline-{stage.pipeline_id}")
    context = {"stage": stage, "form": form, "opportunities": stage.opportunities.count()}
    return render(request, "sales/pipeline/stage_confirm_delete.html", context)
