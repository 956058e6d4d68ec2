"""Import steps as Celery tasks: thin, idempotent, safe to run twice (see crm.imports.services)."""

from celery import shared_task

from . import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def parse_import(job_id: int) -> None:
    services.import_job_parse(job_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def validate_import(job_id: int) -> None:
    services.import_job_validate(job_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def commit_import(job_id: int) -> None:
    services.import_job_commit(job_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def undo_import(job_id: int) -> None:
    services.import_job_undo(job_id)


@shared_task(acks_late=True)
def resume_stalled_imports() -> list[int]:
    """Every minute: jobs whose worker died go to another worker."""
    return services.import_jobs_resume_stalled()
