"""Pipelines and opportunities: the kanban board, the list, an opportunity's pages, pipeline and stage settings.
Included by sales/urls.py (namespace "sales")."""

from django.urls import path

from . import pipeline_views as views

urlpatterns = [
    path("board/", views.board, name="board"),
    path("board/<int:pk>/", views.board, name="pipeline_board"),
    path("board/stages/<int:stage_pk>/cards/", views.board_column, name="board_column"),
    path("opportunities/", views.opportunity_list, name="opportunity_list"),
    path("opportunities/new/", views.opportunity_create, name="opportunity_create"),
    path("opportunities/<int:pk>/", views.opportunity_detail, name="opportunity_detail"),
    path("opportunities/<int:pk>/edit/", views.opportunity_update, name="opportunity_update"),
    path("opportunities/<int:pk>/move/", views.opportunity_move, name="opportunity_move"),
    path("opportunities/<int:pk>/delete/", views.opportunity_delete, name="opportunity_delete"),
    path("opportunities/<int:pk>/products/new/", views.opportunity_line_add, name="opportunity_line_add"),
    path("opportunities/<int:pk>/products/<int:line_pk>/edit/", views.opportunity_line_update,
         name="opportunity_line_update"),
    path("opportunities/<int:pk>/products/<int:line_pk>/delete/", views.opportunity_line_delete,
         name="opportunity_line_delete"),
    path("pipelines/", views.pipeline_settings, name="pipeline_settings"),
    path("pipelines/new/", views.pipeline_create, name="pipeline_create"),
    path("pipelines/<int:pk>/edit/", views.pipeline_update, name="pipeline_update"),
    path("pipelines/<int:pk>/delete/", views.pipeline_delete, name="pipeline_delete"),
    path("pipelines/<int:pk>/stages/new/", views.stage_create, name="stage_create"),
    path("pipelines/stages/<int:pk>/edit/", views.stage_update, name="stage_update"),
    path("pipelines/stages/<int:pk>/shift/", views.stage_shift, name="stage_shift"),
    path("pipelines/stages/<int:pk>/delete/", views.stage_delete, name="stage_delete"),
]
