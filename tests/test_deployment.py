"""Deployment hardening that a user or an auditor would notice: production settings pass Django's deployment
checks, and pages with customer data are never kept by a browser or proxy cache."""

import os
import subprocess
import sys
from pathlib import Path

from django.urls import reverse

from tests.factories import CustomerFactory

ROOT = Path(__file__).resolve().parent.parent


def test_production_settings_pass_the_deployment_checks_without_a_warning():
    # The browser tests' DJANGO_ALLOW_ASYNC_UNSAFE is for tests only; a deployment never sets it.
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env |= {"DJANGO_SETTINGS_MODULE": "crm.settings.production",
           "DJANGO_SECRET_KEY": "a-long-random-secret-for-this-test-only-7f3k2m9q1z8x4c6v5b0n3m2l1k9j8h7g6f5",
           "DJANGO_ALLOWED_HOSTS": "crm.example.com"}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_pages_with_customer_data_are_not_stored(client_as, sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    client = client_as(sales_rep)
    for url in (reverse("customers:list"), customer.get_absolute_url(), reverse("home")):
        cache_control = client.get(url)["Cache-Control"]
        assert "no-store" in cache_control and "private" in cache_control, url

