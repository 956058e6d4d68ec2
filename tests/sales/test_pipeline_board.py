"""The kanban board: columns' counts and sums against a Python sum (also after moves), the move endpoint's answer
(the card and both columns' headers out of band), refused moves, scope, filters, per-column pages and query counts."""

import random
import re
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers import services as customer_services
from sales.models import Opportunity, StageKind
from tests.factories import CustomerFactory
from tests.factories.sales_pipeline import OpportunityFactory, other_pipeline_fixture, stages_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
CENT = Decimal("0.01")


def board_url(stages, **query) -> str:
    url = reverse("sales:pipeline_board", args=[stages.pipeline.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def move_url(opportunity, query: str = "") -> str:
    return reverse("sales:opportunity_move", args=[opportunity.pk]) + (f"?{query}" if query else "")


def card_ids(html: str, stage=None) -> list[int]:
    """Ids of the cards on the page (of one column's list if ``stage`` is given), in display order."""
    if stage is not None:
        found = re.search(rf'id="column-cards-{stage.pk}".*?</ol>', html, re.S)
        html = found.group(0) if found else ""
    return [int(pk) for pk in re.findall(r'<li class="card kanban-card[^"]*" id="opportunity-(\d+)"', html)]


def header(html: str, stage) -> dict | None:
    """What a column's header shows: count, total and weighted amount (None if the page has no such header)."""
    found = re.search(rf'<header[^>]*id="column-head-{stage.pk}"(?P<attrs>[^>]*)>(?P<body>.*?)</header>', html, re.S)
    if not found:
        return None
    body = found.group("body")

    def money(name):
        value = re.search(rf"data-{name}>[^<]*?¥([\d,.]+)<", body)
        return Decimal(value.group(1).replace(",", "")) if value else None

    return {"count": int(re.search(r"data-count[^>]*>(\d+)<", body).group(1)), "total": money("total"),
            "weighted": money("weighted"), "oob": 'hx-swap-oob="true"' in found.group("attrs")}


def python_totals(stage, rows=None) -> dict:
    rows = list(rows if rows is not None else Opportunity.objects.filter(stage=stage))
    total = sum((o.amount for o in rows), Decimal("0"))
    return {"count": len(rows), "total": total.quantize(CENT, rounding=ROUND_HALF_UP),
            "weighted": (total * stage.probability / 100).quantize(CENT, rounding=ROUND_HALF_UP)}


def shown(head: dict, stage) -> dict:
    return {"count": head["count"], "total": head["total"],
            "weighted": head["weighted"] if stage.kind == StageKind.OPEN else
            (head["total"] * stage.probability / 100).quantize(CENT, rounding=ROUND_HALF_UP)}


# ------------------------------------------------------------------------------------------- counts and sums


def test_columns_count_and_sum_like_python_after_every_move(client_as, sales_manager, sales_rep, other_rep, stages):
    rng = random.Random(5)
    deals = [OpportunityFactory(owner=rng.choice([sales_rep, other_rep]), stage=rng.choice(stages.all[:4]),
                                amount=Decimal(rng.randrange(100, 10_000_000)) / 100)
             for _ in range(30)]
    client = client_as(sales_manager)
    for step in range(12):
        deal = rng.choice(deals)
        deal.refresh_from_db()
        target = rng.choice([s for s in stages.all if s.pk != deal.stage_id])
        origin = deal.stage
        # when the manager drags a card to another column
        response = client.post(move_url(deal), {"stage": target.pk, "lost_reason": "预算取消"}, headers=HTMX)
        assert response.status_code == 200, response.content
        html = response.content.decode()
        # then the answer re-renders exactly the two columns it touched, each equal to a Python sum at this moment
        for stage in stages.all:
            head = header(html, stage)
            if stage in (origin, target):
                assert head is not None and head["oob"], (step, stage)
                assert shown(head, stage) == python_totals(stage), (step, stage.name)
            else:
                assert head is None
    # and the board, loaded afresh, agrees in every column
    html = client.get(board_url(stages, closed="all")).content.decode()
    for stage in stages.all:
        assert shown(header(html, stage), stage) == python_totals(stage), stage.name
    context_columns = client.get(board_url(stages, closed="all")).context["columns"]
    for column in context_columns:
        expected = python_totals(column.stage)
        assert (column.count, column.total, column.weighted) == (expected["count"], expected["total"],
                                                                  expected["weighted"])


def test_the_summary_adds_the_open_columns(client_as, sales_rep, stages):
    OpportunityFactory(owner=sales_rep, stage=stages.first, amount=Decimal("1000"))
    OpportunityFactory(owner=sales_rep, stage=stages.fourth, amount=Decimal("2000"))
    OpportunityFactory(owner=sales_rep, stage=stages.won, amount=Decimal("99999"))
    summary = client_as(sales_rep).get(board_url(stages)).context["summary"]
    assert summary.count == 2 and summary.total == Decimal("3000.00")
    assert summary.weighted == Decimal("100.00") + Decimal("1400.00")


# ------------------------------------------------------------------------------------------------- moves


def test_the_move_answer_is_the_card_and_both_headers_out_of_band(client_as, sales_rep, stages):
    deal = OpportunityFactory(owner=sales_rep, amount=Decimal("500.00"))
    OpportunityFactory(owner=sales_rep, stage=stages.third, amount=Decimal("250.00"))
    response = client_as(sales_rep).post(move_url(deal), {"stage": stages.third.pk}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    # the card itself, first (swapped in place of the dragged card), now in the third stage
    assert html.lstrip().startswith(f'<li class="card kanban-card shadow-sm mb-2" id="opportunity-{deal.pk}"')
    assert f'data-stage="{stages.third.pk}"' in html.split("</li>")[0]
    assert header(html, stages.first) == {"count": 0, "total": Decimal("0.00"), "weighted": Decimal("0.00"),
                                          "oob": True}
    assert header(html, stages.third) == {"count": 2, "total": Decimal("750.00"), "weighted": Decimal("375.00"),
                                          "oob": True}
    assert 'id="board-summary" hx-swap-oob="true"' in html


def test_the_move_answer_counts_over_the_boards_filters(client_as, sales_manager, sales_rep, other_rep, stages):
    mine = OpportunityFactory(owner=sales_rep, amount=Decimal("100"))
    OpportunityFactory(owner=other_rep, stage=stages.second, amount=Decimal("7000"))
    # the board is filtered to sales_rep's deals: the move request carries that query string
    response = sales_manager_client = client_as(sales_manager)
    response = sales_manager_client.post(move_url(mine, f"owner={sales_rep.pk}"), {"stage": stages.second.pk},
                                         headers=HTMX)
    assert header(response.content.decode(), stages.second)["count"] == 1
    assert header(response.content.decode(), stages.second)["total"] == Decimal("100.00")


def test_a_move_without_javascript_redirects_to_the_board(client_as, sales_rep, stages):
    deal = OpportunityFactory(owner=sales_rep)
    response = client_as(sales_rep).post(move_url(deal), {"stage": stages.second.pk})
    assert response.status_code == 302 and response.url == board_url(stages)
    deal.refresh_from_db()
    assert deal.stage == stages.second


def test_lost_without_a_reason_is_refused_with_a_message(client_as, sales_rep, stages):
    deal = OpportunityFactory(owner=sales_rep)
    response = client_as(sales_rep).post(move_url(deal), {"stage": stages.lost.pk}, headers=HTMX)
    assert response.status_code == 422
    assert response["Content-Type"].startswith("text/plain")
    assert "lost" in response.content.decode()
    deal.refresh_from_db()
    assert deal.stage == stages.first
    # without JavaScript: the move page again, with the error on its field
    page = client_as(sales_rep).post(move_url(deal), {"stage": stages.lost.pk})
    assert page.status_code == 200 and page.context["form"].errors["lost_reason"]


def test_a_move_the_user_may_not_make_is_refused(client_as, sales_rep, other_rep, stages):
    # a deal of another rep on a customer he shared with sales_rep to read: sales_rep sees it, may not change it
    pooled = OpportunityFactory(owner=other_rep)
    customer_services.customer_share(actor=other_rep, customer=pooled.customer, level="view_customer",
                                     user=sales_rep)
    client = client_as(sales_rep)
    assert client.get(reverse("sales:opportunity_detail", args=[pooled.pk])).status_code == 200
    response = client.post(move_url(pooled), {"stage": stages.second.pk}, headers=HTMX)
    assert response.status_code == 403 and response.content.decode()
    # another rep's deal on his own customer: not even visible
    hidden = OpportunityFactory(owner=other_rep)
    assert client.post(move_url(hidden), {"stage": stages.second.pk}, headers=HTMX).status_code == 404
    for deal in (pooled, hidden):
        deal.refresh_from_db()
        assert deal.stage == stages.first


def test_a_stage_of_another_pipeline_is_refused(client_as, sales_rep, stages, other_pipeline):
    deal = OpportunityFactory(owner=sales_rep)
    response = client_as(sales_rep).post(move_url(deal), {"stage": other_pipeline.won.pk}, headers=HTMX)
    assert response.status_code == 422
    response = client_as(sales_rep).post(move_url(deal), {"stage": 999_999}, headers=HTMX)
    assert response.status_code == 422


def test_roles_without_opportunities_cannot_move(client_as, marketing_user, support_agent, sales_rep, stages):
    deal = OpportunityFactory(owner=sales_rep)
    for user in (marketing_user, support_agent):
        assert client_as(user).post(move_url(deal), {"stage": stages.second.pk}, headers=HTMX).status_code == 403


# ------------------------------------------------------------------------------------------------ scope


def test_a_rep_sees_his_cards_a_manager_his_subtree(client_as, sales_rep, other_rep, south_rep, sales_manager,
                                                    stages):
    mine = OpportunityFactory(owner=sales_rep)
    colleague = OpportunityFactory(owner=other_rep)
    far = OpportunityFactory(owner=south_rep)
    rep_cards = card_ids(client_as(sales_rep).get(board_url(stages)).content.decode())
    assert rep_cards == [mine.pk]
    manager_cards = card_ids(client_as(sales_manager).get(board_url(stages)).content.decode())
    assert sorted(manager_cards) == sorted([mine.pk, colleague.pk])
    assert far.pk not in manager_cards


def test_another_reps_opportunity_is_404_for_a_rep(client_as, sales_rep, other_rep, sales_manager, south_rep, stages):
    colleague = OpportunityFactory(owner=other_rep)
    for name in ("sales:opportunity_detail", "sales:opportunity_update", "sales:opportunity_move"):
        url = reverse(name, args=[colleague.pk])
        assert client_as(sales_rep).get(url).status_code == 404, name
        assert client_as(sales_manager).get(url).status_code == 200, name
    far = OpportunityFactory(owner=south_rep)
    assert client_as(sales_manager).get(reverse("sales:opportunity_detail", args=[far.pk])).status_code == 404


def test_the_columns_count_only_what_the_user_may_see(client_as, sales_rep, other_rep, stages):
    OpportunityFactory(owner=sales_rep, amount=Decimal("10"))
    OpportunityFactory(owner=other_rep, amount=Decimal("1000"))
    column = client_as(sales_rep).get(board_url(stages)).context["columns"][0]
    assert (column.count, column.total) == (1, Decimal("10.00"))


# ---------------------------------------------------------------------------------------------- filters


def test_filters_owner_team_close_date_and_search(client_as, sales_manager, sales_rep, other_rep, stages):
    a = OpportunityFactory(owner=sales_rep, name="华东年度订阅", expected_close=date(2027, 3, 1))
    b = OpportunityFactory(owner=other_rep, name="培训采购", expected_close=date(2027, 6, 1),
                           customer=CustomerFactory(owner=other_rep, name="杭州恒通物流有限公司"))
    c = OpportunityFactory(owner=other_rep, name="二期项目", expected_close=None)
    client = client_as(sales_manager)

    def cards(**query):
        return sorted(card_ids(client.get(board_url(stages, **query)).content.decode()))

    assert cards() == sorted([a.pk, b.pk, c.pk])
    assert cards(owner=sales_rep.pk) == [a.pk]
    assert cards(team=other_rep.team_id) == sorted([b.pk, c.pk])
    assert cards(expected_close_after="2027-02-01", expected_close_before="2027-04-01") == [a.pk]
    assert cards(expected_close_after="2027-05-01") == [b.pk]
    assert cards(q="年度") == [a.pk]
    assert cards(q="恒通物流") == [b.pk]  # the customer's name
    # the column headers follow the same filters
    columns = client.get(board_url(stages, owner=other_rep.pk)).context["columns"]
    assert columns[0].count == 2


def test_old_won_and_lost_deals_leave_the_board(client_as, sales_rep, stages):
    recent = OpportunityFactory(owner=sales_rep, stage=stages.won, entered_ago=timedelta(days=10))
    old = OpportunityFactory(owner=sales_rep, stage=stages.won, entered_ago=timedelta(days=200))
    client = client_as(sales_rep)
    assert card_ids(client.get(board_url(stages)).content.decode(), stages.won) == [recent.pk]
    assert card_ids(client.get(board_url(stages, closed="all")).content.decode(), stages.won) == [recent.pk, old.pk]
    assert client.get(board_url(stages, closed="all")).context["columns"][4].count == 2


def test_the_filter_choices_are_scoped(client_as, sales_rep, sales_manager, other_rep, south_rep, stages):
    rep_owners = client_as(sales_rep).get(board_url(stages)).context["filter"].form.fields["owner"].queryset
    assert list(rep_owners) == [sales_rep]
    manager_owners = set(client_as(sales_manager).get(board_url(stages)).context["filter"].form.fields[
        "owner"].queryset)
    assert {sales_rep, other_rep, sales_manager} <= manager_owners and south_rep not in manager_owners


def test_htmx_filtering_swaps_the_columns_alone(client_as, sales_rep, stages):
    response = client_as(sales_rep).get(board_url(stages, owner=sales_rep.pk), headers=HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="board-columns"') and "<html" not in html
    assert f'data-query="owner={sales_rep.pk}"' in html


# ------------------------------------------------------------------------------------ pages of a column


def test_a_column_shows_20_cards_and_more_follow_after_the_last(client_as, sales_rep, stages):
    deals = [OpportunityFactory(owner=sales_rep, entered_ago=timedelta(hours=i)) for i in range(25)]
    OpportunityFactory(owner=sales_rep, stage=stages.second)
    client = client_as(sales_rep)
    html = client.get(board_url(stages)).content.decode()
    first_page = card_ids(html, stages.first)
    assert first_page == [d.pk for d in deals[:20]]  # newest in the stage first
    assert header(html, stages.first)["count"] == 25
    more = re.search(rf'id="column-more-{stages.first.pk}".*?hx-get="([^"]+)"', html, re.S).group(1)
    assert f'id="column-more-{stages.second.pk}"' in html
    assert "hx-get" not in re.search(rf'id="column-more-{stages.second.pk}".*?</div>', html, re.S).group(0)
    # when the user asks for more
    response = client.get(more.replace("&amp;", "&"), headers=HTMX)
    page = response.content.decode()
    assert card_ids(page) == [d.pk for d in deals[20:]]
    # then the "more" button is replaced out of band, and no further page is offered
    more_box = re.search(rf'<div[^>]*id="column-more-{stages.first.pk}"[^>]*>.*?</div>', page, re.S).group(0)
    assert 'hx-swap-oob="true"' in more_box and "hx-get" not in more_box


def test_moves_while_scrolling_neither_hide_nor_repeat_cards(client_as, sales_rep, stages):
    deals = [OpportunityFactory(owner=sales_rep, entered_ago=timedelta(hours=i)) for i in range(25)]
    client = client_as(sales_rep)
    html = client.get(board_url(stages)).content.decode()
    more = re.search(rf'id="column-more-{stages.first.pk}".*?hx-get="([^"]+)"', html, re.S).group(1)
    # meanwhile a card of the first page leaves the column and a new one enters it
    client.post(move_url(deals[3]), {"stage": stages.second.pk}, headers=HTMX)
    arrived = OpportunityFactory(owner=sales_rep, stage=stages.second)
    client.post(move_url(arrived), {"stage": stages.first.pk}, headers=HTMX)
    rest = card_ids(client.get(more.replace("&amp;", "&"), headers=HTMX).content.decode())
    assert rest == [d.pk for d in deals[20:]]


def test_the_more_link_keeps_the_filters(client_as, sales_manager, sales_rep, other_rep, stages):
    for i in range(22):
        OpportunityFactory(owner=sales_rep, entered_ago=timedelta(hours=i))
    OpportunityFactory(owner=other_rep, entered_ago=timedelta(days=30))
    client = client_as(sales_manager)
    html = client.get(board_url(stages, owner=sales_rep.pk)).content.decode()
    more = re.search(rf'id="column-more-{stages.first.pk}".*?hx-get="([^"]+)"', html, re.S).group(1)
    assert f"owner={sales_rep.pk}" in more
    rest = card_ids(client.get(more.replace("&amp;", "&"), headers=HTMX).content.decode())
    assert len(rest) == 2 and all(Opportunity.objects.get(pk=pk).owner == sales_rep for pk in rest)


def test_more_without_javascript_is_a_page(client_as, sales_rep, stages):
    for i in range(21):
        OpportunityFactory(owner=sales_rep, entered_ago=timedelta(hours=i))
    client = client_as(sales_rep)
    html = client.get(board_url(stages)).content.decode()
    href = re.search(rf'id="column-more-{stages.first.pk}".*?href="([^"]+)"', html, re.S).group(1)
    page = client.get(href.replace("&amp;", "&"))
    assert page.status_code == 200 and "<html" in page.content.decode() and len(card_ids(page.content.decode())) == 1


# ---------------------------------------------------------------------------------------------- queries


def _queries(client, url, method="get", data=None, headers=None) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = getattr(client, method)(url, data or {}, headers=headers or {})
        assert response.status_code == 200, response.status_code
    return len(captured)


def test_the_board_runs_a_bounded_number_of_queries(client_as, sales_manager, sales_rep, other_rep, stages,
                                                    django_assert_max_num_queries):
    client = client_as(sales_manager)
    for stage in stages.all:
        OpportunityFactory(owner=sales_rep, stage=stage)
    small = _queries(client, board_url(stages))
    # given many more cards in every column, with other owners and customers
    for i in range(150):
        OpportunityFactory(owner=[sales_rep, other_rep][i % 2], stage=stages.all[i % len(stages.all)])
    with django_assert_max_num_queries(small):
        client.get(board_url(stages))
    # one query per column for its cards, one for all the totals, the rest for the page around them (session,
    # permissions, roles, teams, pipelines, filter choices, the sidebar's badges, the two-factor check)
    assert small <= 15 + len(stages.all), small


def test_more_and_move_run_a_bounded_number_of_queries(client_as, sales_rep, stages, django_assert_max_num_queries):
    client = client_as(sales_rep)
    deals = [OpportunityFactory(owner=sales_rep, entered_ago=timedelta(minutes=i)) for i in range(60)]
    html = client.get(board_url(stages)).content.decode()
    more = re.search(rf'id="column-more-{stages.first.pk}".*?hx-get="([^"]+)"', html, re.S).group(1)
    with django_assert_max_num_queries(10):
        client.get(more.replace("&amp;", "&"), headers=HTMX)
    with django_assert_max_num_queries(21):
        response = client.post(move_url(deals[0]), {"stage": stages.second.pk}, headers=HTMX)
    assert response.status_code == 200
