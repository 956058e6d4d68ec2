"""Fixed vocabularies of the customer file, worded as Chinese CRM users expect."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    COMPANY = "company", _("Company")
    INDIVIDUAL = "individual", _("Individual")


class Level(models.TextChoices):
    A = "A", _("A · Key account")
    B = "B", _("B · Regular")
    C = "C", _("C · Minor")


class Status(models.TextChoices):
    POTENTIAL = "potential", _("Potential")
    NEW = "new", _("New customer")
    DEAL = "deal", _("Closed deal")
    HIGH_VALUE = "high_value", _("High value")
    LOST = "lost", _("Lost")


class Source(models.TextChoices):
    WEBSITE = "website", _("Website")
    PHONE = "phone", _("Cold call")
    REFERRAL = "referral", _("Referral")
    EXHIBITION = "exhibition", _("Trade show")
    ADVERTISING = "advertising", _("Advertising")
    SOCIAL = "social", _("WeChat / social media")
    EVENT = "event", _("Offline event")
    IMPORT = "import", _("Import")
    OTHER = "other", _("Other")


class Industry(models.TextChoices):
    IT = "it", _("IT / Internet")
    MANUFACTURING = "manufacturing", _("Manufacturing")
    RETAIL = "retail", _("Retail / E-commerce")
    FINANCE = "finance", _("Finance / Insurance")
    EDUCATION = "education", _("Education / Training")
    HEALTHCARE = "healthcare", _("Healthcare")
    REAL_ESTATE = "real_estate", _("Real estate / Construction")
    LOGISTICS = "logistics", _("Logistics")
    CATERING = "catering", _("Catering / Hospitality")
    GOVERNMENT = "government", _("Government / Public sector")
    OTHER = "other", _("Other")


class CustomFieldType(models.TextChoices):
    TEXT = "text", _("Text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
    CHOICE = "choice", _("Single choice")
    MULTI_CHOICE = "multi_choice", _("Multiple choice")


# Mainland China's provincial-level divisions, offered as suggestions in forms and as a filter.
PROVINCES = [
    "北京市", "天津市", "上海市", "重庆市", "河北省", "山西省", "辽宁省", "吉林省", "黑龙江省", "江苏省",
    "浙江省", "安徽省", "福建省", "江西省", "山东省", "河南省", "湖北省", "湖南省", "广东省", "海南省",
    "四川省", "贵州省", "云南省", "陕西省", "甘肃省", "青海省", "台湾省", "内蒙古自治区", "广西壮族自治区",
    "西藏自治区", "宁夏回族自治区", "新疆维吾尔自治区", "香港特别行政区", "澳门特别行政区",
]
