"""Products, price lists, quotes, contracts, orders and payments. Included by sales/urls.py (namespace "sales")."""

urlpatterns = []
