"""Sales tasks: thin, idempotent; the work is in the services. Each part of sales adds its own below."""

from celery import shared_task
from django.db import OperationalError

# Routing that meets a deadlock, a lock timeout or a dropped connection runs again a little later (2, 4, 8 s, with
# jitter); it is idempotent, since a lead routed meanwhile is left alone. After the last try the sweep
# (route_waiting_leads) still finds the lead, as long as its routing never committed.
ROUTING_RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": 2, "retry_backoff_max": 60,
                 "max_retries": 3}

# ------------------------------------------------------------------------------------------- commerce (回款)


@shared_task(acks_late=True)
def remind_overdue_payments() -> int:
    """Each morning (CELERY_BEAT_SCHEDULE "sales-remind-overdue-payments"): the owner of every contract or order
    with an instalment past due and not fully paid is told, once per instalment, in his language."""
    from .commerce_payments import payments_remind_overdue

    return payments_remind_overdue()


# ------------------------------------------------------------------------------------------------------ leads


@shared_task(acks_late=True, reject_on_worker_lost=True, **ROUTING_RETRY)
def route_lead(lead_id: int) -> int | None:
    """A new lead (queued on its commit): give it to the rep its assignment rules choose. Safe twice: a lead that
    has an owner by then is left alone. The id of the assignee, or None (the lead stays in the pool)."""
    from .assignment import lead_route

    assignment = lead_route(lead_id)
    return assignment.user_id if assignment else None


@shared_task(acks_late=True, reject_on_worker_lost=True, **ROUTING_RETRY)
def route_leads(lead_ids: list[int]) -> int:
    """Several new leads (a bulk entry), routed one after the other; how many found a rep."""
    from .assignment import lead_route

    return sum(1 for lead_id in lead_ids if lead_route(lead_id) is not None)


@shared_task(acks_late=True, reject_on_worker_lost=True, **ROUTING_RETRY)
def route_imported_leads(job_id: int) -> int:
    """After an import of leads commits: route the leads it created without an owner."""
    from .assignment import lead_route
    from .lead_resource import imported_pool_lead_ids

    return sum(1 for lead_id in imported_pool_lead_ids(job_id) if lead_route(lead_id) is not None)


@shared_task(acks_late=True, **ROUTING_RETRY)
def route_waiting_leads() -> int:
    """Every five minutes (CELERY_BEAT_SCHEDULE "sales-route-waiting-leads"): new leads whose routing task was lost
    or failed go through the rules now; how many found a rep."""
    from .assignment import leads_route_waiting

    return leads_route_waiting()


@shared_task(acks_late=True, **ROUTING_RETRY)
def reassign_untouched_leads() -> int:
    """Every few minutes (CELERY_BEAT_SCHEDULE): leads a rule assigned and nobody handled in time go to the next
    rep of the rule; the old owner's manager is told."""
    from .assignment import leads_reassign_untouched

    return leads_reassign_untouched()


# --------------------------------------------------------------------------------------------------- pipelines


@shared_task(acks_late=True, reject_on_worker_lost=True)
def refresh_furthest_positions(pipeline_id: int) -> int:
    """After an administrator changed a pipeline's stages (queued on commit): recompute how far each of its deals got
    (sales.pipeline_furthest). Idempotent; how many deals changed."""
    from .pipeline_furthest import furthest_refresh

    return furthest_refresh(pipeline_id=pipeline_id)
