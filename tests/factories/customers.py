import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from customers.choices import CustomFieldType
from customers.models import Contact, Customer, CustomFieldDefinition, PoolSettings, Tag


class TagFactory(DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"标签{n}")
    color = "info"


class CustomerFactory(DjangoModelFactory):
    """A customer written straight to the table. Without ``owner`` it sits in the public pool; with one,
    its team is the owner's team (as the services set it) unless ``team`` is given."""

    class Meta:
        model = Customer
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"测试客户{n:05d}")
    company = factory.Sequence(lambda n: f"测试公司{n:05d}有限公司")
    mobile = factory.Sequence(lambda n: f"+86139{n:08d}")
    email = factory.Sequence(lambda n: f"customer{n:05d}@example.com")
    province = "上海市"
    city = "上海市"
    owner = None
    team = factory.LazyAttribute(lambda o: o.owner.team if o.owner else None)
    owned_since = factory.LazyAttribute(lambda o: timezone.now() if o.owner else None)
    created_by = factory.LazyAttribute(lambda o: o.owner)

    @factory.post_generation
    def tags(self, create, extracted, **kwargs):
        if create and extracted:
            self.tags.set(extracted)


class ContactFactory(DjangoModelFactory):
    class Meta:
        model = Contact

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"联系人{n:04d}")
    title = "采购经理"
    mobile = factory.Sequence(lambda n: f"+86137{n:08d}")
    email = factory.Sequence(lambda n: f"contact{n:04d}@example.com")


class CustomFieldDefinitionFactory(DjangoModelFactory):
    class Meta:
        model = CustomFieldDefinition

    key = factory.Sequence(lambda n: f"field_{n}")
    label = factory.Sequence(lambda n: f"自定义字段{n}")
    label_en = ""
    field_type = CustomFieldType.TEXT
    choices = factory.LazyAttribute(
        lambda o: ["甲", "乙", "丙"] if o.field_type in (CustomFieldType.CHOICE, CustomFieldType.MULTI_CHOICE) else []
    )
    required = False
    filterable = True


def pool_settings(**values) -> PoolSettings:
    """The single pool settings row, with the given values saved."""
    settings = PoolSettings.current()
    for name, value in values.items():
        setattr(settings, name, value)
    settings.save()
    return settings
