"""The hourly beat task that returns stale customers to the pool, run by a real Celery worker over the
real Redis broker against the committed test database."""

import time
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from customers.models import Customer
from customers.tasks import return_stale_customers_to_pool
from tests.factories import CustomerFactory, UserFactory, pool_settings


def _wait_for(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.mark.django_db(transaction=True)
def test_beat_task_returns_stale_customers_through_a_real_worker(live_celery_worker):
    # given a 10-day rule, a customer quiet for 40 days and one contacted yesterday
    pool_settings(return_after_days=10)
    rep = UserFactory()
    now = timezone.now()
    stale, fresh = CustomerFactory(owner=rep), CustomerFactory(owner=rep)
    Customer.objects.filter(pk__in=[stale.pk, fresh.pk]).update(
        created_at=now - timedelta(days=90), owned_since=now - timedelta(days=40)
    )
    Customer.objects.filter(pk=stale.pk).update(last_contacted_at=now - timedelta(days=40))
    Customer.objects.filter(pk=fresh.pk).update(last_contacted_at=now - timedelta(days=1))
    # when beat's task is sent to the broker
    return_stale_customers_to_pool.delay()
    # then the worker puts the stale customer back in the pool, and only it
    assert _wait_for(lambda: Customer.objects.get(pk=stale.pk).owner_id is None), "the worker did not run the task"
    assert Customer.objects.get(pk=fresh.pk).owner_id == rep.pk


@pytest.mark.django_db(transaction=True)
def test_beat_task_is_safe_to_run_twice(live_celery_worker):
    pool_settings(return_after_days=10)
    rep = UserFactory()
    customer = CustomerFactory(owner=rep)
    Customer.objects.filter(pk=customer.pk).update(
        created_at=timezone.now() - timedelta(days=90), owned_since=timezone.now() - timedelta(days=40)
    )
    # when the task is delivered twice
    sent = {return_stale_customers_to_pool.delay().id, return_stale_customers_to_pool.delay().id}
    # then both runs finish, and the customer went back to the pool once: one recorded change
    assert _wait_for(lambda: sent <= set(live_celery_worker.finished)), "the worker did not run both tasks"
    assert Customer.objects.get(pk=customer.pk).owner_id is None
    events = apps.get_model("customers", "CustomerEvent").objects.filter(
        pgh_obj_id=customer.pk, pgh_context__metadata__reason="pool_return"
    )
    assert events.count() == 1
