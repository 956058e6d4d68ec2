"""Leads: pages, the public web form, assignment rules. Included by sales/urls.py (namespace "sales")."""

from django.urls import path

from . import lead_rule_views, lead_views, lead_web

urlpatterns = [
    path("leads/", lead_views.lead_list, name="lead_list"),
    path("leads/new/", lead_views.lead_create, name="lead_create"),
    path("leads/bulk/", lead_views.lead_bulk, name="lead_bulk"),
    path("leads/<int:pk>/", lead_views.lead_detail, name="lead_detail"),
    path("leads/<int:pk>/edit/", lead_views.lead_update, name="lead_update"),
    path("leads/<int:pk>/claim/", lead_views.lead_claim, name="lead_claim"),
    path("leads/<int:pk>/assign/", lead_views.lead_assign, name="lead_assign"),
    path("leads/<int:pk>/status/", lead_views.lead_status, name="lead_status"),
    path("leads/<int:pk>/convert/", lead_views.lead_convert, name="lead_convert"),
    path("leads/rules/", lead_rule_views.rule_list, name="assignment_rule_list"),
    path("leads/rules/new/", lead_rule_views.rule_create, name="assignment_rule_create"),
    path("leads/rules/<int:pk>/edit/", lead_rule_views.rule_update, name="assignment_rule_update"),
    path("leads/rules/<int:pk>/delete/", lead_rule_views.rule_delete, name="assignment_rule_delete"),
    path("leads/rules/<int:pk>/move/", lead_rule_views.rule_move, name="assignment_rule_move"),
    # Public: the form a company embeds on its website (see sales.lead_web).
    path("leads/web-form/", lead_web.lead_web_form, name="lead_web_form"),
    path("leads/web-form/thanks/", lead_web.lead_web_form_thanks, name="lead_web_form_thanks"),
]
