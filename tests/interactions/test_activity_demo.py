"""The demo's activity (interactions/management/commands/seed_activity_demo.py): a fresh demo shows the reps' calls
and visits in the activity report and on the customers, and running the command again adds nothing."""

import io

from django.core.management import call_command
from django.urls import reverse

from crm.accounts.models import User
from customers import demo
from interactions.models import FollowUp, Interaction
from tests.factories import CustomerFactory


def test_the_demo_reps_have_activity_to_show(db, client_as):
    demo.ensure_organisation()
    rep = User.objects.get(username="rep")
    customers = CustomerFactory.create_batch(12, owner=rep, team=rep.team)
    call_command("seed_activity_demo", stdout=io.StringIO())
    logged = Interaction.objects.filter(author=rep).count()
    assert logged > 0 and FollowUp.objects.filter(assignee=rep).exists()
    # what the rep sees: his weeks in the activity report, and "last contacted" on the customers he called
    response = client_as(rep).get(reverse("reports:report", args=["activity"]), {"period": "last_12_months"})
    summary = next(table for table in response.context["tables"] if table.key != "weekly")
    assert summary.rows and summary.rows[0][0] == str(rep) and summary.rows[0][1] == logged
    assert any(c.last_contacted_at for c in type(customers[0]).objects.filter(owner=rep))
    out = io.StringIO()
    call_command("seed_activity_demo", stdout=out)
    assert "none added" in out.getvalue() and Interaction.objects.filter(author=rep).count() == logged
