"""Reads on exports. A job is visible to whoever requested it and to administrators; to anyone else it does
not exist (404), so nobody learns that a colleague exported something."""

from django.db.models import QuerySet
from django.http import Http404

from crm.accounts.roles import is_admin

from .models import ExportJob


def export_jobs_for(*, user) -> QuerySet[ExportJob]:
    qs = ExportJob.objects.select_related("created_by")
    return qs if is_admin(user) else qs.filter(created_by=user)


def export_job_list(*, user) -> QuerySet[ExportJob]:
    """The user's own exports, newest first (an admin's list is his own too: the audit trail has everyone's)."""
    return ExportJob.objects.filter(created_by=user).order_by("-created_at", "-pk")


def get_export_job_or_404(*, user, pk) -> ExportJob:
    try:
        return export_jobs_for(user=user).get(pk=pk)
    except (ExportJob.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
