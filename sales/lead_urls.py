"""Leads: pages, the public web form, assignment rules. Included by sales/urls.py (namespace "sales")."""

urlpatterns = []
