import pghistory
import pytest
from django.urls import reverse

from crm.audit.models import LoginEvent
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

SECRET = "wrong-Secret-42!"


def test_successful_login_and_logout_are_recorded(client, sales_rep):
    client.post(reverse("login"), {"username": sales_rep.username, "password": PASSWORD},
                REMOTE_ADDR="203.0.113.7")
    login = LoginEvent.objects.get(kind=LoginEvent.Kind.LOGIN)
    assert (login.user, login.username, login.address) == (sales_rep, sales_rep.username, "203.0.113.7")
    assert login.at is not None and login.at.utcoffset().total_seconds() == 0

    client.post(reverse("logout"), REMOTE_ADDR="203.0.113.7")
    logout = LoginEvent.objects.get(kind=LoginEvent.Kind.LOGOUT)
    assert (logout.user, logout.address) == (sales_rep, "203.0.113.7")


def test_failed_login_keeps_typed_name_and_address_but_no_password(client, sales_rep):
    client.post(reverse("login"), {"username": "nobody-here", "password": SECRET}, REMOTE_ADDR="198.51.100.9")
    client.post(reverse("login"), {"username": sales_rep.username, "password": SECRET}, REMOTE_ADDR="198.51.100.9")
    failed = list(LoginEvent.objects.filter(kind=LoginEvent.Kind.LOGIN_FAILED).order_by("id"))
    assert [(e.username, e.user, e.address) for e in failed] == [
        ("nobody-here", None, "198.51.100.9"), (sales_rep.username, sales_rep, "198.51.100.9"),
    ]
    for event in failed:
        assert SECRET not in str(LoginEvent.objects.filter(pk=event.pk).values().get())
    assert not LoginEvent.objects.filter(kind=LoginEvent.Kind.LOGIN).exists()


def _update_customer(customer, user):
    with pghistory.context(user=user.pk, url="/customers/x/edit/"):
        customer.name = "新名字有限公司"
        customer.save(update_fields=["name"])


def test_admin_page_lists_a_customer_update_filterable_by_user_and_record(
    client_as, admin_user, sales_manager, customer_factory, django_assert_max_num_queries
):
    customer = customer_factory(name="旧名字有限公司")
    other = customer_factory(name="别的公司")
    _update_customer(customer, sales_manager)
    _update_customer(other, admin_user)
    client = client_as(admin_user)
    url = reverse("audit:log")

    with django_assert_max_num_queries(15):
        page = client.get(url).content.decode()
    assert "旧名字有限公司" in page and "新名字有限公司" in page

    by_user = client.get(url, {"user": sales_manager.pk, "action": "update"}).content.decode()
    assert by_user.count("data-event=") == 1 and "新名字有限公司" in by_user and str(sales_manager) in by_user
    assert "/customers/x/edit/" in by_user

    by_record = client.get(url, {"model": "customers.Customer", "object_id": other.pk}).content.decode()
    assert f"#{other.pk}<" in by_record and f"#{customer.pk}<" not in by_record
    updates = client.get(url, {"model": "customers.Customer", "object_id": other.pk, "action": "update"})
    assert updates.content.decode().count("data-event=") == 1

    nobody = client.get(url, {"user": sales_manager.pk, "start": "2000-01-01", "end": "2000-01-02"})
    assert "data-event=" not in nobody.content.decode()


def test_page_is_bounded_in_queries_with_many_events(client_as, admin_user, customer_factory,
                                                     django_assert_max_num_queries):
    for i in range(30):
        _update_customer(customer_factory(name=f"公司{i}"), admin_user)
    client = client_as(admin_user)
    with django_assert_max_num_queries(15):
        client.get(reverse("audit:log"))
    with django_assert_max_num_queries(15):
        client.get(reverse("audit:log"), {"page": 2})


def test_logins_tab_filters_by_user(client_as, admin_user, sales_rep, client):
    client.post(reverse("login"), {"username": sales_rep.username, "password": SECRET}, REMOTE_ADDR="198.51.100.9")
    LoginEvent.objects.create(kind=LoginEvent.Kind.LOGIN, user=admin_user, username=admin_user.username)
    page = client_as(admin_user).get(reverse("audit:log"),
                                     {"tab": "logins", "user": sales_rep.pk}).content.decode()
    assert page.count("data-login-event=") == 1 and "198.51.100.9" in page and SECRET not in page


@pytest.mark.parametrize("role", ["sales_manager", "sales_rep", "marketing_user", "support_agent"])
def test_non_admins_are_refused(client_as, request, role):
    user = request.getfixturevalue(role)
    assert client_as(user).get(reverse("audit:log")).status_code == 403
    assert client_as(user).get(reverse("audit:log"), {"tab": "logins"}).status_code == 403


def test_page_in_chinese(client_as, admin_user, customer_factory):
    _update_customer(customer_factory(), admin_user)
    page = client_as(admin_user, language="zh-hans").get(reverse("audit:log")).content.decode()
    assert "操作日志" in page and "变更" in page and "登录记录" in page
    logins = client_as(admin_user, language="zh-hans").get(reverse("audit:log"), {"tab": "logins"}).content.decode()
    assert "登录记录" in logins


def test_changes_carry_the_clients_address_behind_a_trusted_proxy(rf, settings, sales_rep):
    from crm.audit.middleware import AuditContextMiddleware

    request = rf.get("/customers/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.9")
    request.user = sales_rep
    middleware = AuditContextMiddleware(lambda r: None)
    settings.CRM_TRUSTED_PROXY_COUNT = 0  # nobody in front: X-Forwarded-For is the client's own claim
    assert middleware.get_context(request)["ip"] == "10.0.0.5"
    settings.CRM_TRUSTED_PROXY_COUNT = 1  # one reverse proxy: the address it saw
    assert middleware.get_context(request)["ip"] == "198.51.100.9"
