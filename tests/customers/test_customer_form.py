"""The customer form: required fields, a way to reach the customer, and the duplicate warning."""

from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from tests.customers.pages import field_errors, form_data
from tests.factories import CustomerFactory, TagFactory

BASE = {"kind": "company", "level": "B", "status": "potential"}


def _post(client, **fields):
    return client.post(reverse("customers:create"), {**BASE, **fields})


def test_create_form_saves_and_opens_the_new_customer(client_as, sales_rep, teams):
    vip = TagFactory(name="VIP")
    response = _post(
        client_as(sales_rep), name="杭州恒通物流", company="杭州恒通物流有限公司", mobile="13812345678",
        level="A", source="referral", province="浙江省", city="杭州市", tags=[vip.pk],
    )
    customer = Customer.objects.get(name="杭州恒通物流")
    assert response.status_code == 302
    assert response.url == customer.get_absolute_url()
    assert (customer.owner, customer.team) == (sales_rep, teams.shanghai)
    assert (customer.level, customer.source) == ("A", "referral")
    assert list(customer.tags.all()) == [vip]


def test_name_is_required(client_as, sales_rep):
    response = _post(client_as(sales_rep), name="", mobile="13812345678")
    assert field_errors(response, "name") == ["This field is required."]
    assert not Customer.objects.exists()


def test_a_way_to_reach_the_customer_is_required(client_as, sales_rep):
    response = _post(client_as(sales_rep), name="没有联系方式")
    assert field_errors(response, "mobile") == ["Enter at least one way to reach the customer: mobile, phone or email."]
    assert not Customer.objects.exists()


def test_any_one_way_to_reach_is_enough(client_as, sales_rep):
    client = client_as(sales_rep)
    assert _post(client, name="只有座机", phone="021-66668888").status_code == 302
    assert _post(client, name="只有邮箱", email="only@example.com").status_code == 302
    assert Customer.objects.count() == 2


def test_email_is_stored_in_lower_case(client_as, sales_rep):
    _post(client_as(sales_rep), name="大写邮箱", email="Boss@Example.COM")
    assert Customer.objects.get(name="大写邮箱").email == "boss@example.com"


def test_a_rep_is_not_offered_an_owner_field(client_as, sales_rep, sales_manager):
    assert "owner" not in client_as(sales_rep).get(reverse("customers:create")).context["form"].fields
    assert "owner" in client_as(sales_manager).get(reverse("customers:create")).context["form"].fields


def test_owner_choices_are_scoped_for_a_manager(client_as, sales_manager, sales_rep, other_rep, south_rep):
    form = client_as(sales_manager).get(reverse("customers:create")).context["form"]
    assert set(form.fields["owner"].queryset) == {sales_manager, sales_rep, other_rep}


def test_manager_creates_a_customer_for_a_rep_of_his_subtree(client_as, sales_manager, other_rep, teams):
    response = _post(client_as(sales_manager), name="分给李芳", mobile="13812345678", owner=other_rep.pk)
    assert response.status_code == 302
    customer = Customer.objects.get(name="分给李芳")
    assert (customer.owner, customer.team) == (other_rep, teams.hangzhou)


# ---------------------------------------------------------------------------------- duplicates


def test_duplicate_mobile_is_flagged_then_saved_on_confirmation(client_as, sales_rep):
    existing = CustomerFactory(owner=sales_rep, name="已有客户", mobile="+8613812345678")
    client = client_as(sales_rep)
    # when a customer with the same mobile, typed differently, is entered
    response = _post(client, name="重复客户", mobile="138-1234-5678")
    # then the form warns, names the existing customer with a link to it, and saves nothing
    assert response.status_code == 200
    warning = " ".join(response.context["form"].non_field_errors())
    assert "已有客户" in warning and existing.get_absolute_url() in warning
    assert 'name="confirm_duplicate"' in response.content.decode()
    assert not Customer.objects.filter(name="重复客户").exists()
    # when the rep confirms
    response = _post(client, name="重复客户", mobile="138-1234-5678", confirm_duplicate="on")
    # then it is saved
    assert response.status_code == 302
    assert Customer.objects.filter(mobile="+8613812345678").count() == 2


def test_duplicate_number_is_found_in_either_phone_field(client_as, sales_rep):
    # given a customer whose mobile number was put in the phone field
    CustomerFactory(owner=sales_rep, name="号码放错栏", mobile="", phone="+8613812345678")
    # when a new customer is entered with that number as his mobile
    response = _post(client_as(sales_rep), name="新客户", mobile="138 1234 5678")
    # then the form warns about the existing customer
    assert "号码放错栏" in " ".join(response.context["form"].non_field_errors())
    # and a landline typed with its area code finds a landline stored in the same way
    CustomerFactory(owner=sales_rep, name="座机客户", phone="+862150001234")
    response = _post(client_as(sales_rep), name="又一个", phone="021-5000 1234")
    assert "座机客户" in " ".join(response.context["form"].non_field_errors())


def test_duplicate_email_is_found_whatever_the_case(client_as, sales_rep):
    CustomerFactory(owner=sales_rep, name="已有邮箱客户", email="boss@example.com")
    response = _post(client_as(sales_rep), name="新的", email="BOSS@example.com")
    assert "已有邮箱客户" in " ".join(response.context["form"].non_field_errors())


def test_duplicate_outside_scope_is_described_without_its_name(client_as, sales_rep, south_rep):
    # given a customer of another department that the rep cannot see
    secret = CustomerFactory(owner=south_rep, name="机密大客户", mobile="+8613812345678")
    # when the rep enters the same mobile
    response = _post(client_as(sales_rep), name="我的新客户", mobile="13812345678")
    # then he learns that someone holds it, but not which customer it is
    page = response.content.decode()
    warning = " ".join(response.context["form"].non_field_errors())
    assert "a customer held by 陈强" in warning
    assert "机密大客户" not in page
    assert secret.get_absolute_url() not in page


def test_duplicate_warning_escapes_the_existing_name(client_as, sales_rep):
    CustomerFactory(owner=sales_rep, name="<script>alert(1)</script>", mobile="+8613812345678")
    page = _post(client_as(sales_rep), name="新的", mobile="13812345678").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_duplicate_in_the_pool_is_said_to_be_in_the_pool(client_as, sales_rep):
    CustomerFactory(owner=None, name="公海重复", mobile="+8613812345678")
    response = _post(client_as(sales_rep), name="又一个", mobile="13812345678")
    assert "the public pool" in " ".join(response.context["form"].non_field_errors())


def test_deleted_customers_are_not_duplicates(client_as, sales_rep):
    CustomerFactory(owner=sales_rep, mobile="+8613812345678", deleted_at=timezone.now())
    assert _post(client_as(sales_rep), name="重新建档", mobile="13812345678").status_code == 302


def test_editing_a_customer_does_not_flag_itself_as_duplicate(client_as, sales_rep):
    customer = CustomerFactory(owner=sales_rep, name="自己", mobile="+8613812345678", email="self@example.com")
    client = client_as(sales_rep)
    form = client.get(reverse("customers:update", args=[customer.pk])).context["form"]
    response = client.post(reverse("customers:update", args=[customer.pk]), {**form_data(form), "title": "总经理"})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.title == "总经理"
