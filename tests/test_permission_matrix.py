"""Every URL × every role: the status each role gets.

The URL list comes from the root resolver, so a new URL without an entry in EXPECTATIONS fails
``test_every_url_has_an_expectation`` (and its own matrix cases) until someone decides who may open it.
The admin site (namespace ``admin``) is checked separately below.

Path arguments point at a customer of 杭州组 (owned by another rep), so scope matters: 华东's manager
oversees it, the 上海组 rep does not, marketing and support have no business with it. The sales records in _path
(lead, opportunity, quote, contract, order, their lines, instalments and payments) are that rep's too, on that
customer; the catalogue and the pipeline settings are global (no record scope, only module permissions).
"""

import re
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from crm.accounts import roles
from crm.imports.models import ImportJob
from crm.notifications.models import Notification
from customers import services
from interactions.models import Attachment, FollowUp, Interaction, Mailbox, MailMessage
from marketing.models import Campaign
from reports.models import ReportSubscription
from sales.models import ContractAttachment, Lead, OpportunityLine, Pipeline, Stage, StageKind
from tests.factories import ContactFactory, CustomerFactory, UserFactory
from tests.factories.exports import ExportJobFactory
from tests.factories.sales_commerce import (
    PriceListFactory,
    ProductFactory,
    make_contract,
    make_order,
    make_quote,
    pay,
    plan,
    price,
)
from tests.factories.sales_leads import AssignmentRuleFactory, LeadFactory
from tests.factories.sales_pipeline import OpportunityFactory

ROLES = ["admin", "sales_manager", "sales_rep", "marketing", "support_agent", "anonymous"]
ROLE_FIXTURES = {
    "admin": "admin_user", "sales_manager": "sales_manager", "sales_rep": "sales_rep",
    "marketing": "marketing_user", "support_agent": "support_agent",
}


def row(admin, sales_manager, sales_rep, marketing, support_agent, anonymous=302) -> dict[str, int]:
    """Expected statuses, one per role; anonymous visitors are sent to the login page by default."""
    return dict(zip(ROLES, [admin, sales_manager, sales_rep, marketing, support_agent, anonymous], strict=True))


# GET for every URL; POST as well for the views that only accept POST (GET is 405 there).
EXPECTATIONS: dict[str, dict[str, dict[str, int]]] = {
    #                                      admin  mgr  rep  mkt  sup  anon
    # the home page is the dashboard of the user's role (reads only)
    "home":                    {"GET": row(200, 200, 200, 200, 200)},
    "login":                   {"GET": row(302, 302, 302, 302, 302, 200)},
    "logout":                  {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 302, 302, 302)},
    "password_change":         {"GET": row(200, 200, 200, 200, 200)},
    "password_change_done":    {"GET": row(200, 200, 200, 200, 200)},
    # set_language changes nothing on GET; it only redirects back
    "set_language":            {"GET": row(302, 302, 302, 302, 302, 302),
                                "POST": row(302, 302, 302, 302, 302, 302)},
    "customers:list":          {"GET": row(200, 200, 200, 200, 200)},
    "customers:create":        {"GET": row(200, 200, 200, 403, 403)},
    "customers:bulk":          {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 302, 403, 403)},
    "customers:recycle_bin":   {"GET": row(200, 403, 403, 403, 403)},
    "customers:detail":        {"GET": row(200, 200, 404, 404, 404)},
    "customers:update":        {"GET": row(200, 200, 404, 403, 403)},
    "customers:delete":        {"GET": row(200, 200, 404, 403, 403)},
    "customers:restore":       {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 403, 403, 403, 403)},
    # the customer is owned: admin and manager are told so (302 with a message), the rep never saw it
    "customers:claim":         {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 404, 403, 403)},
    "customers:release":       {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 404, 403, 403)},
    "customers:share":         {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 404, 403, 403)},
    "customers:unshare":       {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 404, 403, 403)},
    "customers:contact_create": {"GET": row(200, 200, 404, 403, 403)},
    "customers:contact_update": {"GET": row(200, 200, 404, 403, 403)},
    "customers:contact_delete": {"GET": row(405, 405, 405, 405, 405),
                                 "POST": row(302, 302, 404, 403, 403)},
    # exports: the job in _path is another rep's (杭州组), finished: only its creator and admins see it
    "exports:list":            {"GET": row(200, 200, 200, 200, 200)},
    "exports:create":          {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 403, 302, 403)},
    "exports:detail":          {"GET": row(200, 404, 404, 404, 404)},
    "exports:download":        {"GET": row(200, 404, 404, 404, 404)},
    # imports: admins import customers; sales managers and marketing import leads (sales.import_lead), so the
    # import pages are theirs too (each lists only what the user may import); the job in _path is another user's
    # customer import (a rep given the permission), so admins see it and nobody else learns it exists
    "imports:list":            {"GET": row(200, 200, 403, 200, 403)},
    "imports:new":             {"GET": row(200, 200, 403, 200, 403)},
    "imports:detail":          {"GET": row(200, 404, 404, 404, 404)},
    "imports:errors":          {"GET": row(200, 404, 404, 404, 404)},
    "imports:undo":            {"GET": row(200, 404, 404, 404, 404),
                                "POST": row(302, 404, 404, 404, 404)},
    # the job is already committed: the admin is told so (an invalid mapping form, a message)
    "imports:configure":       {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(200, 404, 404, 404, 404)},
    "imports:commit":          {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 404, 404, 404, 404)},
    "imports:cancel":          {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 404, 404, 404, 404)},
    # interactions follow their customer (杭州组's): marketing may read interactions, not log them; support
    # may log, but only on customers it can see
    "interactions:log":        {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(200, 200, 404, 403, 404)},
    "interactions:attachment": {"GET": row(200, 200, 404, 404, 404)},
    "interactions:followup_complete": {"GET": row(405, 405, 405, 405, 405),
                                       "POST": row(302, 302, 404, 403, 404)},
    "interactions:followup_cancel":   {"GET": row(405, 405, 405, 405, 405),
                                       "POST": row(302, 302, 404, 403, 404)},
    "interactions:followup_snooze":   {"GET": row(405, 405, 405, 405, 405),
                                       "POST": row(302, 302, 404, 403, 404)},
    "interactions:followup_reassign": {"GET": row(405, 405, 405, 405, 405),
                                       "POST": row(302, 302, 404, 403, 404)},
    # mail: the module needs view_mailmessage (marketing has not: 403); mailboxes and their unfiled mail are
    # their owner's (the ones in _path are another rep's), only admins see other people's
    "interactions:mailbox_list":   {"GET": row(200, 200, 200, 403, 200)},
    "interactions:mailbox_create": {"GET": row(200, 200, 200, 403, 200)},
    "interactions:mailbox_update": {"GET": row(200, 404, 404, 403, 404)},
    "interactions:mailbox_delete": {"GET": row(200, 404, 404, 403, 404),
                                    "POST": row(302, 404, 404, 403, 404)},
    "interactions:mailbox_sync":   {"GET": row(405, 405, 405, 405, 405),
                                    "POST": row(302, 404, 404, 403, 404)},
    "interactions:mail_unfiled":   {"GET": row(200, 200, 200, 403, 200)},
    # POST without a customer: the admin gets the page back with the error
    "interactions:mail_file":      {"GET": row(200, 404, 404, 403, 404),
                                    "POST": row(200, 404, 404, 403, 404)},
    # writing to the customer follows its scope (as interactions:log); an empty POST is the form with its errors
    "interactions:mail_compose":   {"GET": row(200, 200, 404, 403, 404),
                                    "POST": row(200, 200, 404, 403, 404)},
    # my tasks, the week and my activity are everyone's own; team activity is for those who oversee teams
    "interactions:my_tasks":    {"GET": row(200, 200, 200, 200, 200)},
    "interactions:week":        {"GET": row(200, 200, 200, 200, 200)},
    "interactions:my_activity": {"GET": row(200, 200, 200, 200, 200)},
    "interactions:activity":    {"GET": row(200, 200, 403, 403, 403)},
    # notifications are each user's own: the one in _path is another rep's, so nobody else may mark it read
    "notifications:list":       {"GET": row(200, 200, 200, 200, 200)},
    "notifications:bell":       {"GET": row(200, 200, 200, 200, 200)},
    "notifications:menu":       {"GET": row(200, 200, 200, 200, 200)},
    "notifications:read":       {"GET": row(405, 405, 405, 405, 405),
                                 "POST": row(404, 404, 404, 404, 404)},
    "notifications:read_all":   {"GET": row(405, 405, 405, 405, 405),
                                 "POST": row(302, 302, 302, 302, 302)},
    "account_settings":         {"GET": row(200, 200, 200, 200, 200)},
    # two-factor authentication (crm.accounts.mfa_views): client_as gives the admin an enrolled app and a verified
    # session (tests/conftest.py), the other roles neither (not required). So the code page sends everyone on; the
    # set-up page shows the admin his state and the others the enrolment (its new key goes to the session only), and
    # an empty POST is that page again with the code missing; recovery codes show only right after they are made; the
    # admin asks for new ones with a current code (an empty POST is that page again), the others have none to
    # renew; nobody here may turn it off (the admin's role requires it, the others have nothing to turn off); the
    # policy is the administrators' (403 for others; an empty POST saves "no other role")
    "mfa_verify":               {"GET": row(302, 302, 302, 302, 302),
                                 "POST": row(302, 302, 302, 302, 302)},
    "mfa_setup":                {"GET": row(200, 200, 200, 200, 200),
                                 "POST": row(200, 200, 200, 200, 200)},
    "mfa_recovery_codes":       {"GET": row(302, 302, 302, 302, 302)},
    "mfa_regenerate":           {"GET": row(200, 302, 302, 302, 302),
                                 "POST": row(200, 302, 302, 302, 302)},
    "mfa_remove":               {"GET": row(302, 302, 302, 302, 302),
                                 "POST": row(302, 302, 302, 302, 302)},
    "mfa_policy":               {"GET": row(200, 403, 403, 403, 403),
                                 "POST": row(302, 403, 403, 403, 403)},
    # backups are the administrators' alone (403 like the other administration pages: no record to hide); the POST
    # only enqueues a backup after the commit
    "backups:list":             {"GET": row(200, 403, 403, 403, 403)},
    "backups:create":           {"GET": row(405, 405, 405, 405, 405),
                                 "POST": row(302, 403, 403, 403, 403)},
    # the nightly schedule (a valid form: saved, back to the list)
    "backups:schedule":         {"GET": row(405, 405, 405, 405, 405),
                                 "POST": row(302, 403, 403, 403, 403)},
    # the audit log is the administrators' alone (403 like the other administration pages); it only reads
    "audit:log":                {"GET": row(200, 403, 403, 403, 403)},
    # reports: each report needs the module permissions of the data it reads, and counts only the viewer's scope
    # (a rep's own records); _path opens the activity report, which every role with interactions may read; its
    # export needs interactions.export_interaction too, which only admins and managers have
    "reports:index":            {"GET": row(200, 200, 200, 200, 200)},
    "reports:report":           {"GET": row(200, 200, 200, 200, 200)},
    "reports:export":           {"GET": row(200, 200, 403, 403, 403)},
    # sales targets: admins and managers of a team set them (for their subtree); others 403. An empty month POST
    # writes nothing and goes back to the month's page
    "reports:target_list":      {"GET": row(200, 200, 403, 403, 403),
                                 "POST": row(302, 302, 403, 403, 403)},
    "reports:target_copy":      {"GET": row(405, 405, 405, 405, 405),
                                 "POST": row(302, 302, 403, 403, 403)},
    # scheduled report mails: open to whoever may open a report. The subscription in _path is other_rep's (to the
    # activity report, mailed to himself): an admin manages everyone's, nobody else sees it (404); nobody of the
    # five receives it, so leaving it is 404 for all. POST create subscribes sales_rep: the admin, his manager and
    # he himself may; marketing and support may not choose him (the form comes back with an error, 200)
    "reports:subscription_list":   {"GET": row(200, 200, 200, 200, 200)},
    "reports:subscription_create": {"GET": row(200, 200, 200, 200, 200),
                                    "POST": row(302, 302, 302, 200, 200)},
    "reports:subscription_delete": {"GET": row(200, 404, 404, 404, 404),
                                    "POST": row(302, 404, 404, 404, 404)},
    "reports:subscription_leave":  {"GET": row(405, 405, 405, 405, 405),
                                    "POST": row(404, 404, 404, 404, 404)},
    # ----------------------------------------------------------------------------------------- sales: leads
    # leads carry their own owner (the one in _path is 杭州组's): admins and 华东's manager see it, the 上海组 rep
    # does not (404); marketing may view and add leads but sees only its own (404); support has no lead module (403)
    "sales:lead_list":         {"GET": row(200, 200, 200, 200, 403)},
    "sales:lead_create":       {"GET": row(200, 200, 200, 200, 403)},
    "sales:lead_detail":       {"GET": row(200, 200, 404, 404, 403)},
    "sales:lead_update":       {"GET": row(200, 200, 404, 403, 403)},
    "sales:lead_convert":      {"GET": row(200, 200, 404, 403, 403)},
    "sales:lead_status":       {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 404, 403, 403)},
    # the lead is owned: those who see it are told it is taken (302 with a message), the rep never saw it
    "sales:lead_claim":        {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 404, 403, 403)},
    # assigning is the managers' (reps have no assign_lead: 403, which tells nothing about the lead)
    "sales:lead_assign":       {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 403, 403, 403)},
    "sales:lead_bulk":         {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 403, 403, 403)},
    # assignment rules are the administrators' alone
    "sales:assignment_rule_list":   {"GET": row(200, 403, 403, 403, 403)},
    "sales:assignment_rule_create": {"GET": row(200, 403, 403, 403, 403)},
    "sales:assignment_rule_update": {"GET": row(200, 403, 403, 403, 403)},
    "sales:assignment_rule_delete": {"GET": row(200, 403, 403, 403, 403)},
    "sales:assignment_rule_move":   {"GET": row(405, 405, 405, 405, 405),
                                     "POST": row(302, 403, 403, 403, 403)},
    # the web-to-lead form is public (no login, embedded on the company's site); an empty POST is the form again
    # with its errors, and stores nothing
    "sales:lead_web_form":        {"GET": row(200, 200, 200, 200, 200, 200),
                                   "POST": row(200, 200, 200, 200, 200, 200)},
    "sales:lead_web_form_thanks": {"GET": row(200, 200, 200, 200, 200, 200)},
    # -------------------------------------------------------------------------------------- sales: pipeline
    # the board, its columns and the list are every sales role's, filtered by scope (the 上海组 rep gets an
    # empty column); marketing and support have no opportunity module
    "sales:board":             {"GET": row(200, 200, 200, 403, 403)},
    "sales:pipeline_board":    {"GET": row(200, 200, 200, 403, 403)},
    "sales:board_column":      {"GET": row(200, 200, 200, 403, 403)},
    "sales:opportunity_list":  {"GET": row(200, 200, 200, 403, 403)},
    "sales:opportunity_create": {"GET": row(200, 200, 200, 403, 403)},
    # the opportunity in _path is 杭州组's: its owner's managers and admins see and change it
    "sales:opportunity_detail": {"GET": row(200, 200, 404, 403, 403)},
    "sales:opportunity_update": {"GET": row(200, 200, 404, 403, 403)},
    "sales:opportunity_move":   {"GET": row(200, 200, 404, 403, 403)},
    # deleting opportunities is for managers and admins (reps have no delete_opportunity)
    "sales:opportunity_delete": {"GET": row(200, 200, 403, 403, 403)},
    "sales:opportunity_line_add":    {"GET": row(200, 200, 404, 403, 403)},
    "sales:opportunity_line_update": {"GET": row(200, 200, 404, 403, 403)},
    "sales:opportunity_line_delete": {"GET": row(405, 405, 405, 405, 405),
                                      "POST": row(302, 302, 404, 403, 403)},
    # pipelines and stages are set up by administrators only
    "sales:pipeline_settings": {"GET": row(200, 403, 403, 403, 403)},
    "sales:pipeline_create":   {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 403, 403, 403, 403)},
    "sales:pipeline_update":   {"GET": row(200, 403, 403, 403, 403)},
    # the pipeline has opportunities: the admin is told to deactivate it instead (302 with a message)
    "sales:pipeline_delete":   {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 403, 403, 403, 403)},
    "sales:stage_create":      {"GET": row(200, 403, 403, 403, 403)},
    "sales:stage_update":      {"GET": row(200, 403, 403, 403, 403)},
    "sales:stage_shift":       {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 403, 403, 403, 403)},
    "sales:stage_delete":      {"GET": row(200, 403, 403, 403, 403)},
    # -------------------------------------------------------------------------------------- sales: commerce
    # the catalogue: everyone who works with customers reads products, the sales roles price lists; only
    # administrators write either
    "sales:product_list":      {"GET": row(200, 200, 200, 200, 200)},
    "sales:product_create":    {"GET": row(200, 403, 403, 403, 403)},
    "sales:product_update":    {"GET": row(200, 403, 403, 403, 403)},
    "sales:pricelist_list":    {"GET": row(200, 200, 200, 403, 403)},
    "sales:pricelist_create":  {"GET": row(200, 403, 403, 403, 403)},
    "sales:pricelist_detail":  {"GET": row(200, 200, 200, 403, 403)},
    "sales:pricelist_update":  {"GET": row(200, 403, 403, 403, 403)},
    # quotes: the sales roles only; the quote in _path is 杭州组's (a draft) on 杭州组's customer
    "sales:quote_list":        {"GET": row(200, 200, 200, 403, 403)},
    "sales:quote_create":      {"GET": row(200, 200, 200, 403, 403)},
    # the line editor computes amounts and totals, it stores nothing
    "sales:quote_lines":       {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(200, 200, 200, 403, 403)},
    "sales:quote_detail":      {"GET": row(200, 200, 404, 403, 403)},
    "sales:quote_update":      {"GET": row(200, 200, 404, 403, 403)},
    "sales:quote_print":       {"GET": row(200, 200, 404, 403, 403)},
    "sales:quote_accept":      {"GET": row(200, 200, 404, 403, 403)},
    "sales:quote_send":        {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 404, 403, 403)},
    "sales:quote_reject":      {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 404, 403, 403)},
    # a draft cannot be reopened: those who may change it are told so (302 with a message)
    "sales:quote_reopen":      {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 404, 403, 403)},
    # contracts and orders: support reads them (the customer's purchase history) but only on customers it can
    # see, so 杭州组's are 404 to it as to the 上海组 rep
    "sales:contract_list":     {"GET": row(200, 200, 200, 403, 200)},
    "sales:contract_create":   {"GET": row(200, 200, 200, 403, 403)},
    "sales:contract_detail":   {"GET": row(200, 200, 404, 403, 404)},
    "sales:contract_update":   {"GET": row(200, 200, 404, 403, 403)},
    "sales:contract_attachment": {"GET": row(200, 200, 404, 403, 404)},
    "sales:contract_attachment_add":    {"GET": row(405, 405, 405, 405, 405),
                                         "POST": row(302, 302, 404, 403, 403)},
    "sales:contract_attachment_delete": {"GET": row(405, 405, 405, 405, 405),
                                         "POST": row(302, 302, 404, 403, 403)},
    "sales:contract_plan_add":    {"GET": row(405, 405, 405, 405, 405),
                                   "POST": row(302, 302, 404, 403, 403)},
    "sales:contract_payment_add": {"GET": row(405, 405, 405, 405, 405),
                                   "POST": row(302, 302, 404, 403, 403)},
    "sales:order_list":        {"GET": row(200, 200, 200, 403, 200)},
    "sales:order_create":      {"GET": row(200, 200, 200, 403, 403)},
    "sales:order_lines":       {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(200, 200, 200, 403, 403)},
    "sales:order_detail":      {"GET": row(200, 200, 404, 403, 404)},
    "sales:order_status":      {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 404, 403, 403)},
    "sales:order_plan_add":    {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 404, 403, 403)},
    "sales:order_payment_add": {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 404, 403, 403)},
    # instalments follow their contract or order; deleting a recorded payment is for administrators only
    "sales:plan_delete":       {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 404, 403, 403)},
    "sales:payment_delete":    {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 403, 403, 403, 403)},
    # ------------------------------------------------------------------------------------ marketing: campaigns
    # every sales and marketing role reads campaigns (company figures; reps pick them on leads), support has no
    # module; marketing and admins change them. The campaign in _path is another marketer's (总公司): marketing
    # (市场部) may not change it (404), the sales roles have no change permission at all (403)
    "marketing:campaign_list":   {"GET": row(200, 200, 200, 200, 403)},
    "marketing:campaign_create": {"GET": row(200, 403, 403, 200, 403)},
    "marketing:campaign_detail": {"GET": row(200, 200, 200, 200, 403)},
    "marketing:campaign_update": {"GET": row(200, 403, 403, 404, 403)},
    "marketing:campaign_delete": {"GET": row(200, 403, 403, 404, 403),
                                  "POST": row(302, 403, 403, 404, 403)},
}


def _walk(resolver, namespace=""):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _walk(pattern, inner)
        elif isinstance(pattern, URLPattern):
            # an unnamed pattern cannot be reversed or given an expectation: it shows up as missing
            yield f"{namespace}{pattern.name or f'<unnamed {pattern.pattern}>'}", pattern


def url_patterns(*, admin: bool) -> dict:
    found = {}
    for name, pattern in _walk(get_resolver()):
        if name.startswith("admin:") == admin:
            found[name] = pattern
    return found


APP_URLS = url_patterns(admin=False)
CASES = [
    (name, method, role)
    for name in sorted(set(APP_URLS) | set(EXPECTATIONS))
    for method in ("GET", "POST")
    if method == "GET" or method in EXPECTATIONS.get(name, {})
    for role in ROLES
]


def test_every_url_has_an_expectation():
    missing = sorted(set(APP_URLS) - set(EXPECTATIONS))
    stale = sorted(set(EXPECTATIONS) - set(APP_URLS))
    assert not missing, f"URLs without an entry in EXPECTATIONS: {missing}"
    assert not stale, f"EXPECTATIONS for URLs that no longer exist: {stale}"


def test_every_expectation_covers_every_role():
    for name, methods in EXPECTATIONS.items():
        assert "GET" in methods, name
        for method, statuses in methods.items():
            assert set(statuses) == set(ROLES), (name, method)


def _subscription(owner):
    subscription = ReportSubscription.objects.create(report="activity", query="period=this_month",
                                                     frequency="weekly", created_by=owner)
    subscription.recipients.set([owner])
    return subscription


def _interaction_with_attachment(customer, author):
    interaction = Interaction.objects.create(customer=customer, author=author, occurred_at=timezone.now(),
                                             subject="电话回访")
    Attachment.objects.create(interaction=interaction, name="报价.txt", size=3,
                              file=ContentFile(b"abc", name="quote.txt"))
    return interaction


@pytest.fixture(name="world")  # world_fixture: importable by other test modules (tests/test_request_safety.py)
def world_fixture(other_rep, sales_rep):
    customer = CustomerFactory(owner=other_rep, name="杭州组的客户")
    binned = CustomerFactory(owner=other_rep, name="回收站里的客户")
    services.customer_delete(actor=other_rep, customer=binned)
    mailbox = Mailbox.objects.create(owner=other_rep, name="李芳的邮箱", host="imap.example.com", username="rep2",
                                     password="secret", address="rep2@example.com")
    return SimpleNamespace(
        mailbox=mailbox,
        subscription=_subscription(other_rep),
        unfiled_mail=MailMessage.objects.create(mailbox=mailbox, message_id="<unfiled@example.com>",
                                                thread_key="<unfiled@example.com>", subject="陌生来信",
                                                sent_at=timezone.now()),
        notification=Notification.objects.create(user=other_rep, kind="reminder", title="回访提醒",
                                                 url=f"/customers/{customer.pk}/?tab=timeline"),
        customer=customer, binned=binned, contact=ContactFactory(customer=customer), sales_rep=sales_rep,
        export_job=ExportJobFactory(created_by=other_rep, done=True),
        interaction=_interaction_with_attachment(customer, other_rep),
        followup=FollowUp.objects.create(customer=customer, title="回访", assignee=other_rep,
                                         due_at=timezone.now() + timedelta(days=1)),
        import_job=ImportJob.objects.create(
            resource="customers.customer", created_by=other_rep, file="imports/list.xlsx", file_name="list.xlsx",
            file_sha256="0" * 64, file_type="xlsx", status="committed", headers=["姓名"], mapping={"0": "name"},
            committed_at=timezone.now(),
        ),
        **_sales_world(customer, other_rep),
        campaign=_campaign(other_rep),
    )


def _campaign(other_rep):
    """A campaign of another marketer, in 总公司 (not 市场部, marketing_user's team)."""
    marketer = UserFactory(username="marketing_hq", role=roles.MARKETING, team=other_rep.team.parent.parent)
    return Campaign.objects.create(name="矩阵展会", channel="exhibition", start_date=timezone.localdate(),
                                   actual_cost=Decimal("1000.00"), owner=marketer, team=marketer.team,
                                   created_by=marketer)


def _sales_world(customer, other_rep) -> dict:
    """The sales records of _path: all other_rep's (杭州组), on his customer."""
    pipeline = Pipeline.objects.create(name="渠道销售", position=1)
    stage = Stage.objects.create(pipeline=pipeline, name="渠道接洽", probability=20, position=0)
    Stage.objects.create(pipeline=pipeline, name="渠道赢单", probability=100, kind=StageKind.WON, position=1)
    Stage.objects.create(pipeline=pipeline, name="渠道输单", probability=0, kind=StageKind.LOST, position=2)
    opportunity = OpportunityFactory(owner=other_rep, customer=customer, stage=stage)
    product = ProductFactory(code="MX-001", name="矩阵产品")
    price_list = PriceListFactory(name="经销商价")
    price(price_list, product, "90.00")
    contract = make_contract(actor=other_rep, customer=customer, opportunity=opportunity)
    order = make_order(actor=other_rep, customer=customer)
    return {
        "lead": LeadFactory(owner=other_rep),
        "rule": AssignmentRuleFactory(team=other_rep.team),
        "pipeline": pipeline, "stage": stage, "opportunity": opportunity,
        "opportunity_line": OpportunityLine.objects.create(opportunity=opportunity, product=product,
                                                           quantity=Decimal("2"), unit_price=Decimal("100.00")),
        "product": product, "price_list": price_list,
        "quote": make_quote(actor=other_rep, customer=customer, opportunity=opportunity, price_list=price_list),
        "contract": contract,
        "contract_attachment": ContractAttachment.objects.create(
            contract=contract, name="合同扫描件.txt", size=3, file=ContentFile(b"abc", name="contract.txt")),
        "order": order,
        "payment_plan": plan(contract, due_on=timezone.localdate() + timedelta(days=30), amount="5000.00"),
        "payment": pay(actor=other_rep, parent=order, amount="100.00"),
    }


def _path(name, world) -> str:
    values = {"pk": world.customer.pk, "contact_pk": world.contact.pk}
    if name == "customers:restore":
        values["pk"] = world.binned.pk
    if name.startswith("exports:"):
        values["pk"] = world.export_job.pk
    if name.startswith("imports:"):
        values["pk"] = world.import_job.pk
    if name == "interactions:log":
        values["customer_pk"] = world.customer.pk
    if name == "interactions:attachment":
        values["pk"], values["attachment_pk"] = world.interaction.pk, world.interaction.attachments.get().pk
    if name.startswith("interactions:followup_"):
        values["pk"] = world.followup.pk
    if name.startswith("interactions:mailbox_"):
        values["pk"] = world.mailbox.pk
    if name == "interactions:mail_file":
        values["pk"] = world.unfiled_mail.pk
    if name == "interactions:mail_compose":
        values["customer_pk"] = world.customer.pk
    if name == "notifications:read":
        values["pk"] = world.notification.pk
    if name.startswith("reports:"):
        values["key"], values["table"] = "activity", "weekly"
    if name.startswith("reports:subscription_"):
        values["pk"] = world.subscription.pk
    if name.startswith("sales:"):
        values.update(_sales_path_values(name, world))
    if name.startswith("marketing:"):
        values["pk"] = world.campaign.pk
    params = APP_URLS[name].pattern.converters
    unknown = set(params) - set(values)
    assert not unknown, f"give {name} a value for {unknown} in _path()"
    return reverse(name, kwargs={p: values[p] for p in params})


# The record each sales URL's ``pk`` names, by the URL name's prefix (first match wins).
SALES_PK = [
    ("sales:lead_", "lead"), ("sales:assignment_rule_", "rule"), ("sales:opportunity_", "opportunity"),
    ("sales:pipeline_", "pipeline"), ("sales:stage_create", "pipeline"), ("sales:stage_", "stage"),
    ("sales:product_", "product"), ("sales:pricelist_", "price_list"), ("sales:quote_", "quote"),
    ("sales:contract_", "contract"), ("sales:order_", "order"), ("sales:plan_", "payment_plan"),
    ("sales:payment_", "payment"),
]


def _sales_path_values(name, world) -> dict:
    values = {"stage_pk": world.stage.pk, "line_pk": world.opportunity_line.pk,
              "attachment_pk": world.contract_attachment.pk}
    attribute = next((attr for prefix, attr in SALES_PK if name.startswith(prefix)), None)
    if attribute:
        values["pk"] = getattr(world, attribute).pk
    return values


def _upload():
    return SimpleUploadedFile("补充协议.txt", "双方同意延长服务期。".encode(), content_type="text/plain")


POST_DATA = {
    "reports:subscription_create": lambda world: {"report": "activity", "query": "period=this_month",
                                                  "frequency": "weekly", "recipients": [world.sales_rep.pk]},
    "backups:schedule": lambda world: {"enabled": "on", "time": "03:15", "days": ["1", "3"]},
    "reports:target_list": lambda world: {"month": "2025-03"},
    "reports:target_copy": lambda world: {"month": "2025-03"},
    "customers:unshare": lambda world: {"user": world.sales_rep.pk},
    "customers:share": lambda world: {"user": world.sales_rep.pk, "level": "view_customer"},
    "exports:create": lambda world: {"model": "customers.customer", "query": "", "format": "csv"},
    "sales:lead_status": lambda world: {"status": "contacted"},
    "sales:lead_assign": lambda world: {"owner": world.sales_rep.pk},
    "sales:lead_bulk": lambda world: {"ids": [world.lead.pk], "owner": world.sales_rep.pk},
    "sales:assignment_rule_move": lambda world: {"direction": "up"},
    "sales:pipeline_create": lambda world: {"name": "渠道二部"},
    "sales:stage_shift": lambda world: {"direction": "down"},
    "sales:order_status": lambda world: {"status": "delivered"},
    "sales:contract_attachment_add": lambda world: {"files": _upload()},
    "sales:contract_plan_add": lambda world: {"due_on": timezone.localdate().isoformat(), "amount": "100.00"},
    "sales:order_plan_add": lambda world: {"due_on": timezone.localdate().isoformat(), "amount": "100.00"},
    # the contract has an instalment: a payment names it
    "sales:contract_payment_add": lambda world: {"amount": "100.00", "received_on": timezone.localdate().isoformat(),
                                                 "plan": world.payment_plan.pk},
    "sales:order_payment_add": lambda world: {"amount": "100.00", "received_on": timezone.localdate().isoformat()},
}


# Inside a request pghistory puts the audit context before each write ("SELECT set_config(...); INSERT ..."): look
# past it. The downloads record who took the data (tests/test_request_safety.py GET_WRITES): not a state change.
_AUDIT_CONTEXT = re.compile(r"^\s*SELECT set_config\('pghistory\.context_id'[^;]*;\s*")
_DOWNLOAD_RECORDS = ("reports_reportexport", "exports_exportjobevent")


def _writes(queries) -> list[str]:
    statements = [_AUDIT_CONTEXT.sub("", q["sql"]) for q in queries.captured_queries]
    return [sql[:120] for sql in statements
            if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) and "django_session" not in sql
            and not any(table in sql for table in _DOWNLOAD_RECORDS)]


@pytest.mark.parametrize(("name", "method", "role"), CASES)
def test_permission_matrix(request, client_as, world, name, method, role):
    assert name in EXPECTATIONS, f"{name} has no entry in EXPECTATIONS: decide who may open it"
    assert name in APP_URLS, f"{name} is in EXPECTATIONS but no longer a URL"
    expected = EXPECTATIONS[name][method][role]
    user = None if role == "anonymous" else request.getfixturevalue(ROLE_FIXTURES[role])
    client = client_as(user)
    path = _path(name, world)
    leads = Lead.objects.count()
    # when the role requests the URL
    if method == "GET":
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        # no state change on GET, for anybody (the session, which carries messages, is not the application's state)
        assert not _writes(queries), f"{role} GET {path} wrote: {_writes(queries)}"
    else:
        response = client.post(path, POST_DATA.get(name, lambda w: {})(world))
    # then it gets exactly the expected status: in particular no 200 that was not decided on
    assert response.status_code == expected, f"{role} {method} {path}: {response.status_code}, expected {expected}"
    if role == "anonymous" and expected == 302 and name not in ("login", "set_language"):
        assert response.url.startswith(reverse("login") + "?next="), response.url
    if name == "sales:lead_web_form":
        # the public form is the CRM's only write open to anybody: the matrix's (empty) posts store no lead
        assert Lead.objects.count() == leads


# ------------------------------------------------------------------------------------------ each report

# reports:report and reports:export take the report's key: every registered report × role, and one table's export.
# A report needs the module permissions of what it reads: marketing has no sales, support no leads. Its export needs
# on top the export permission of the records behind its rows (Report.export_permissions): interactions and sales
# records are exported by admins and managers only, customers by marketing too; leads have no export permission.
REPORT_STATUSES = {
    #                  table          page: admin mgr rep  mkt  sup       export: admin mgr rep mkt sup
    "activity":        ("weekly",     row(200, 200, 200, 200, 200), row(200, 200, 403, 403, 403)),
    "not_contacted":   ("customers",  row(200, 200, 200, 200, 200), row(200, 200, 403, 200, 403)),
    "funnel":          ("funnel",     row(200, 200, 200, 403, 403), row(200, 200, 403, 403, 403)),
    "forecast":        ("forecast",   row(200, 200, 200, 403, 403), row(200, 200, 403, 403, 403)),
    "performance":     ("ranking",    row(200, 200, 200, 403, 403), row(200, 200, 403, 403, 403)),
    "new_customers":   ("months",     row(200, 200, 200, 200, 200), row(200, 200, 403, 200, 403)),
    "customer_base":   ("statuses",   row(200, 200, 200, 200, 200), row(200, 200, 403, 200, 403)),
    "rfm":             ("customers",  row(200, 200, 200, 403, 200), row(200, 200, 403, 403, 403)),
    "lead_conversion": ("sources",    row(200, 200, 200, 200, 403), row(200, 200, 200, 200, 403)),
    "acquisition_cost": ("campaigns", row(200, 200, 200, 200, 403), row(200, 200, 200, 200, 403)),
}


def test_every_report_has_an_expectation():
    from reports import registry

    assert sorted(r.key for r in registry.all_reports()) == sorted(REPORT_STATUSES)


@pytest.mark.parametrize("key", sorted(REPORT_STATUSES))
@pytest.mark.parametrize("role", ROLES)
def test_each_report_and_its_export_by_role(request, client_as, world, key, role):
    table, page_statuses, export_statuses = REPORT_STATUSES[key]
    user = None if role == "anonymous" else request.getfixturevalue(ROLE_FIXTURES[role])
    client = client_as(user)
    page = client.get(reverse("reports:report", args=[key]))
    assert page.status_code == page_statuses[role]
    assert client.get(reverse("reports:export", args=[key, table])).status_code == export_statuses[role]
    if page.status_code == 200:
        # the page offers the export exactly to those who may take it
        assert (b"data-export=" in page.content) == (export_statuses[role] == 200)


# -------------------------------------------------------------------------------------- admin site

ADMIN_PAGES = sorted(
    name for name in url_patterns(admin=True) if name == "admin:index" or name.endswith("_changelist")
)


@pytest.mark.parametrize("name", ADMIN_PAGES)
@pytest.mark.parametrize("role", ROLES)
def test_admin_site_is_for_admins_only(request, client_as, role, name):
    user = None if role == "anonymous" else request.getfixturevalue(ROLE_FIXTURES[role])
    response = client_as(user).get(reverse(name))
    if role == "admin":
        assert response.status_code == 200
    elif role == "anonymous":
        # to a login page: the admin's own (the admin index is public in Django) or the site's
        assert response.status_code == 302
        assert response.url.startswith((reverse("login") + "?next=", reverse("admin:login") + "?next="))
    else:
        # non-staff users are sent to the admin's login page, which they cannot pass
        assert response.status_code == 302
        assert response.url.startswith(reverse("admin:login") + "?next=")
