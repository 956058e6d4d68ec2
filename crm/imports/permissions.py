"""Who may see which import: its importer, and administrators. Anyone else gets 404."""

from django.http import Http404

from crm.accounts.roles import is_admin

from . import resources
from .models import ImportJob


def may_import(user) -> bool:
    return user.is_authenticated and bool(resources.available(user))


def jobs_for(user):
    jobs = ImportJob.objects.select_related("created_by")
    if not may_import(user):
        return jobs.none()
    return jobs if is_admin(user) else jobs.filter(created_by=user)


def get_job_or_404(user, pk) -> ImportJob:
    job = jobs_for(user).filter(pk=pk).first()
    if job is None or not user.has_perm(resources.get(job.resource).permission):
        raise Http404
    return job
