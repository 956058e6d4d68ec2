from celery import shared_task

from . import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_export(job_id: int) -> None:
    """Write one export's file; a job already finished returns quietly (see services.export_job_run)."""
    services.export_job_run(job_id)
