"""Pipelines and opportunities: the kanban board, the list, stage history. Included by sales/urls.py (namespace "sales")."""

urlpatterns = []
