"""Products, price lists, quotes, contracts, orders and payments. Included by sales/urls.py (namespace "sales")."""

from django.urls import path

from . import commerce_money_views as money
from . import commerce_views as views

urlpatterns = [
    # catalogue: admins write, the sales roles read
    path("products/", views.product_list, name="product_list"),
    path("products/new/", views.product_create, name="product_create"),
    path("products/<int:pk>/edit/", views.product_update, name="product_update"),
    path("price-lists/", views.pricelist_list, name="pricelist_list"),
    path("price-lists/new/", views.pricelist_create, name="pricelist_create"),
    path("price-lists/<int:pk>/", views.pricelist_detail, name="pricelist_detail"),
    path("price-lists/<int:pk>/edit/", views.pricelist_update, name="pricelist_update"),
    # quotes
    path("quotes/", views.quote_list, name="quote_list"),
    path("quotes/new/", views.quote_create, name="quote_create"),
    path("quotes/lines/", views.quote_lines, name="quote_lines"),
    path("quotes/<int:pk>/", views.quote_detail, name="quote_detail"),
    path("quotes/<int:pk>/edit/", views.quote_update, name="quote_update"),
    path("quotes/<int:pk>/print/", views.quote_print, name="quote_print"),
    path("quotes/<int:pk>/send/", views.quote_send, name="quote_send"),
    path("quotes/<int:pk>/reject/", views.quote_reject, name="quote_reject"),
    path("quotes/<int:pk>/reopen/", views.quote_reopen, name="quote_reopen"),
    path("quotes/<int:pk>/accept/", views.quote_accept, name="quote_accept"),
    # contracts
    path("contracts/", money.contract_list, name="contract_list"),
    path("contracts/new/", money.contract_create, name="contract_create"),
    path("contracts/<int:pk>/", money.contract_detail, name="contract_detail"),
    path("contracts/<int:pk>/edit/", money.contract_update, name="contract_update"),
    path("contracts/<int:pk>/attachments/", money.contract_attachment_add, name="contract_attachment_add"),
    path("contracts/<int:pk>/attachments/<int:attachment_pk>/", money.contract_attachment,
         name="contract_attachment"),
    path("contracts/<int:pk>/attachments/<int:attachment_pk>/delete/", money.contract_attachment_delete,
         name="contract_attachment_delete"),
    path("contracts/<int:pk>/plans/", money.contract_plan_add, name="contract_plan_add"),
    path("contracts/<int:pk>/payments/", money.contract_payment_add, name="contract_payment_add"),
    # orders: the customers' purchase history
    path("orders/", money.order_list, name="order_list"),
    path("orders/new/", money.order_create, name="order_create"),
    path("orders/lines/", money.order_lines, name="order_lines"),
    path("orders/<int:pk>/", money.order_detail, name="order_detail"),
    path("orders/<int:pk>/status/", money.order_status, name="order_status"),
    path("orders/<int:pk>/plans/", money.order_plan_add, name="order_plan_add"),
    path("orders/<int:pk>/payments/", money.order_payment_add, name="order_payment_add"),
    # instalments and payments (回款)
    path("payment-plans/<int:pk>/delete/", money.plan_delete, name="plan_delete"),
    path("payments/<int:pk>/delete/", money.payment_delete, name="payment_delete"),
]
