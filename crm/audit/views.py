"""The audit log page, for administrators only (403 for everyone else, as the other administration pages):
"Changes" lists every recorded create, update and delete; "Logins" every sign-in, failed sign-in and sign-out."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from crm.accounts.roles import require_admin
from crm.web.pagination import paginate

from . import selectors
from .forms import AuditFilterForm

PER_PAGE = 50


@require_GET
def audit_log(request):
    require_admin(request.user)
    tab = "logins" if request.GET.get("tab") == "logins" else "changes"
    form = AuditFilterForm(request.GET or None, tab=tab)
    filters = form.cleaned_data if form.is_valid() else {}
    common = {"user": filters.get("user"), "action": filters.get("action") or "",
              "start": filters.get("start"), "end": filters.get("end")}
    if tab == "changes":
        page = paginate(request, selectors.change_event_list(
            model=filters.get("model") or "", object_id=filters.get("object_id") or "", **common), PER_PAGE)
        rows = selectors.log_rows(page.object_list)
    else:
        page = paginate(request, selectors.login_event_list(**common), PER_PAGE)
        rows = page.object_list
    template = "audit/log.html#results" if request.htmx and not request.htmx.boosted else "audit/log.html"
    return render(request, template,
                  {"tab": tab, "form": form, "page": page, "rows": rows})
