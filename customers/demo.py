"""Realistic demo data: teams, one user per role, tags, custom fields and any number of customers.

Customers are written with PostgreSQL COPY in chunks, so a million rows take minutes, not hours.
Random but repeatable: the same seed gives the same data.
"""

import io
import json
import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from crm.accounts.models import Team
from crm.accounts.roles import ADMIN, MARKETING, SALES_MANAGER, SALES_REP, SUPPORT_AGENT
from crm.accounts.services import team_create, user_create

from .choices import Industry, Kind, Level, Source, Status
from .models import Customer, CustomerTag, CustomFieldDefinition, PoolSettings, Tag

User = get_user_model()

DEMO_PASSWORD = "crm-demo-2026"

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕"
    "彬鹏辉建国志强海燕晓东文博思远佳怡梓涵子轩浩然欣怡雨桐宇航俊杰"
)
EN_FIRST = [
    "James", "Mary", "John", "Linda", "David", "Emma", "Michael", "Olivia", "Daniel", "Sophia", "Kevin", "Grace",
]
EN_LAST = ["Smith", "Johnson", "Brown", "Taylor", "Wilson", "Lee", "Wang", "Chen", "Martin", "Clark", "Walker", "Young"]
CITIES = [
    ("北京市", "北京市", ["朝阳区", "海淀区", "东城区", "西城区"], "10"),
    ("上海市", "上海市", ["浦东新区", "徐汇区", "静安区", "闵行区"], "21"),
    ("广东省", "广州市", ["天河区", "越秀区", "海珠区"], "20"),
    ("广东省", "深圳市", ["南山区", "福田区", "宝安区"], "755"),
    ("浙江省", "杭州市", ["西湖区", "滨江区", "余杭区"], "571"),
    ("江苏省", "南京市", ["鼓楼区", "玄武区", "建邺区"], "25"),
    ("江苏省", "苏州市", ["姑苏区", "工业园区", "吴中区"], "512"),
    ("四川省", "成都市", ["武侯区", "锦江区", "高新区"], "28"),
    ("湖北省", "武汉市", ["武昌区", "江汉区", "洪山区"], "27"),
    ("山东省", "青岛市", ["市南区", "崂山区", "黄岛区"], "532"),
]
COMPANY_WORDS = [
    "华信", "恒通", "鑫达", "中科", "天元", "博远", "瑞丰", "宏图",
    "锦程", "新锐", "东方", "金桥", "盛世", "远航", "智联",
]
COMPANY_KINDS = ["科技", "贸易", "制造", "信息技术", "电子商务", "物流", "教育咨询", "医疗器械", "建筑工程", "餐饮管理"]
TITLES = [
    "总经理", "采购经理", "技术总监", "财务主管", "销售总监",
    "行政主管", "董事长", "项目经理", "CEO", "Purchasing Manager",
]
STREETS = ["人民路", "建设路", "中山路", "解放路", "科技园路", "长江路", "南京路", "学院路"]
TAGS = [
    ("VIP", "danger"), ("重点跟进", "warning"), ("老客户", "success"), ("渠道伙伴", "info"), ("待激活", "secondary"),
]

# One login per role, printed by `seed_demo --print-logins`.
DEMO_USERS = [
    ("admin", ADMIN, "管理员", "系统", None),
    ("manager", SALES_MANAGER, "经理", "王", "华东销售部"),
    ("rep", SALES_REP, "伟", "张", "上海组"),
    ("rep2", SALES_REP, "芳", "李", "杭州组"),
    ("rep3", SALES_REP, "强", "陈", "华南销售部"),
    ("marketing", MARKETING, "娜", "刘", "市场部"),
    ("support", SUPPORT_AGENT, "敏", "赵", "客服部"),
]


def ensure_organisation() -> dict[str, User]:
    """Teams, users, tags and custom fields; idempotent."""
    with transaction.atomic():
        teams = {t.name: t for t in Team.objects.all()}

        def team(name, parent=None):
            if name not in teams:
                teams[name] = team_create(name=name, parent=teams.get(parent))
            return teams[name]

        team("总公司")
        team("华东销售部", "总公司")
        team("上海组", "华东销售部")
        team("杭州组", "华东销售部")
        team("华南销售部", "总公司")
        team("市场部", "总公司")
        team("客服部", "总公司")

        users = {}
        for username, role, first, last, team_name in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = user_create(
                    username=username, password=DEMO_PASSWORD, role=role, first_name=first, last_name=last,
                    email=f"{username}@demo.crm.local", team=teams.get(team_name),
                )
            users[username] = user
        east = teams["华东销售部"]
        if east.manager_id is None:
            east.manager = users["manager"]
            east.save(update_fields=["manager"])

        # Demo reps hold several hundred customers each; a limit below that would block every claim.
        PoolSettings.objects.get_or_create(pk=1, defaults={"claim_limit": 1000})

        for name, color in TAGS:
            Tag.objects.get_or_create(name=name, defaults={"color": color})
        CustomFieldDefinition.objects.get_or_create(
            key="company_size", defaults={"label": "公司规模", "label_en": "Company size", "field_type": "choice",
                                          "choices": ["1-20人", "21-100人", "101-500人", "500人以上"]})
        CustomFieldDefinition.objects.get_or_create(
            key="annual_budget", defaults={"label": "年度预算(万元)", "label_en": "Annual budget (10k CNY)",
                                           "field_type": "number"})
    return users


_COLUMNS = [
    "kind", "name", "company", "title", "email", "mobile", "phone", "province", "city", "district", "address",
    "level", "status", "source", "industry", "notes", "custom", "owner_id", "team_id", "owned_since",
    "created_by_id", "created_at", "updated_at", "last_contacted_at",
]


def _copy_value(value) -> str:
    if value is None:
        return r"\N"
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


class CustomerFaker:
    def __init__(self, rng: random.Random, owners: list, now):
        self.rng, self.owners, self.now = rng, owners, now
        self.levels = [c.value for c in Level]
        self.statuses = [c.value for c in Status]
        self.sources = [c.value for c in Source if c != Source.IMPORT]
        self.industries = [c.value for c in Industry]
        self.serial = 0

    def person(self):
        rng = self.rng
        if rng.random() < 0.9:
            return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 1, 2))))
        return f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}"

    def row(self) -> list:
        rng = self.rng
        self.serial += 1
        province, city, districts, area = rng.choice(CITIES)
        company = f"{city[:-1]}{rng.choice(COMPANY_WORDS)}{rng.choice(COMPANY_KINDS)}有限公司"
        is_company = rng.random() < 0.7
        person = self.person()
        owner = rng.choice(self.owners)  # None = public pool
        created = self.now - timedelta(days=rng.randint(0, 900), minutes=rng.randint(0, 1440))
        contacted = min(created + timedelta(days=rng.randint(0, 60)), self.now) if rng.random() < 0.7 else None
        # The serial, scrambled by a multiplier coprime to 10^8, keeps mobiles unique (duplicate checks stay
        # meaningful) while looking random.
        mobile = f"+861{rng.choice('3578')}{rng.randint(0, 9)}{self.serial * 48_271 % 100_000_000:08d}"
        phone = f"+86{area}{rng.randint(2_000_0000, 8_999_9999)}" if rng.random() < 0.4 else ""
        custom = {"company_size": rng.choice(["1-20人", "21-100人", "101-500人", "500人以上"])}
        if rng.random() < 0.5:
            custom["annual_budget"] = rng.randint(5, 500)
        return [
            Kind.COMPANY if is_company else Kind.INDIVIDUAL,
            company if is_company else person,
            company,
            rng.choice(TITLES),
            f"user{self.serial}@{rng.choice(['qq.com', '163.com', 'example.cn', 'corp.example.com'])}",
            mobile,
            phone,
            province, city, rng.choice(districts), f"{rng.choice(STREETS)}{rng.randint(1, 999)}号",
            rng.choice(self.levels), rng.choice(self.statuses), rng.choice(self.sources), rng.choice(self.industries),
            "", json.dumps(custom, ensure_ascii=False),
            owner.pk if owner else None, owner.team_id if owner else None, created if owner else None,
            owner.pk if owner else None, created, created, contacted,
        ]


def create_customers(
    count: int, *, owners: list, seed: int = 2026, chunk: int = 20_000, audit: bool = True, progress=None
) -> int:
    """COPY ``count`` customers in chunks. ``owners`` may contain None for pool customers.

    ``audit=False`` skips the audit triggers (superuser only), for benchmark volumes where a history of
    generated rows is worthless; demo data keeps them so each customer's history starts at its creation.
    """
    rng = random.Random(seed)
    faker = CustomerFaker(rng, owners, timezone.now())
    tag_ids = list(Tag.objects.values_list("pk", flat=True))
    table = Customer._meta.db_table
    done = 0
    while done < count:
        size = min(chunk, count - done)
        buffer = io.StringIO()
        for _ in range(size):
            buffer.write("\t".join(_copy_value(v) for v in faker.row()) + "\n")
        with transaction.atomic(), connection.cursor() as cursor:
            if not audit:
                _skip_audit_triggers(cursor)
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
            first_new_id = cursor.fetchone()[0] + 1
            with cursor.copy(f"COPY {table} ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
                copy.write(buffer.getvalue())
            cursor.execute(f"SELECT id FROM {table} WHERE id >= %s", [first_new_id])
            new_ids = [r[0] for r in cursor.fetchall()]
        tags = [CustomerTag(customer_id=pk, tag_id=rng.choice(tag_ids)) for pk in new_ids if rng.random() < 0.3]
        CustomerTag.objects.bulk_create(tags, ignore_conflicts=True, batch_size=5000)
        done += size
        if progress:
            progress(done)
    return done


def _skip_audit_triggers(cursor) -> None:
    """Generated rows are not user changes: skip the audit triggers when the role may (superuser)."""
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    if cursor.fetchone()[0]:
        cursor.execute("SET LOCAL session_replication_role = replica")
