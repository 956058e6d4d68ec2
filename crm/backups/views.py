"""The backups page, for administrators only (403 for everyone else, as the other administration pages): the list
of backups and the "Back up now" button, which only enqueues the work for a worker."""

from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from crm.accounts.roles import require_admin
from crm.web.pagination import paginate

from . import schedule, selectors
from .forms import BackupScheduleForm


@require_GET
def backup_list(request):
    require_admin(request.user)
    return _page(request)


def _page(request, schedule_form=None):
    """The list; ``schedule_form`` is the schedule form sent back with its errors, else the stored schedule's."""
    page = paginate(request, selectors.backup_list())
    rows = [(backup, selectors.labelled_counts(backup)) for backup in page.object_list]
    current = schedule.backup_schedule()
    return render(request, "backups/backup_list.html", {
        "page": page, "rows": rows, "running": selectors.backup_running(),
        "schedule_text": schedule.describe(current),
        "schedule_form": BackupScheduleForm.for_schedule(current) if schedule_form is None else schedule_form,
    })


@require_POST
def backup_schedule_update(request):
    require_admin(request.user)
    form = BackupScheduleForm(request.POST)
    if not form.is_valid():
        return _page(request, form)
    schedule.backup_schedule_set(form.schedule())
    messages.success(request, _("The backup schedule has been saved."))
    return redirect("backups:list")


@require_POST
def backup_start(request):
    require_admin(request.user)
    from .tasks import run_backup

    if selectors.backup_running():
        messages.warning(request, _("A backup is already running."))
        return redirect("backups:list")
    actor_id = request.user.pk
    transaction.on_commit(lambda: run_backup.delay(actor_id))
    messages.success(request, _("The backup has started. Reload this page in a few minutes to see it."))
    return redirect("backups:list")
