"""Campaigns for the marketing tests, written straight to their table (the services are what the tests exercise)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from marketing.models import Campaign


@pytest.fixture
def make_campaign(db):
    def make(owner, **values) -> Campaign:
        values.setdefault("name", "2026春季展会")
        values.setdefault("channel", "exhibition")
        values.setdefault("start_date", timezone.localdate())
        values.setdefault("actual_cost", Decimal("10000.00"))
        return Campaign.objects.create(owner=owner, team=values.pop("team", owner.team), created_by=owner, **values)

    return make


@pytest.fixture
def long_ago():
    return timezone.localdate() - timedelta(days=400)
