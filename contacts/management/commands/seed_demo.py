"""Deterministic demo data for an export sales team: two teams, an admin, N customers."""

import datetime
import random
import unicodedata

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.services import upsert_user
from contacts.models import Channel, Company, Contact, Grade, PoolState, Stage, Tag
from followups.services import due_moment, log_interaction, plan_follow_up

DEMO_PASSWORD = "demo-pass-2026"

PEOPLE = [
    {"username": "admin", "name_zh": "管理员", "name_en": "Admin", "role": "admin"},
    {
        "username": "wangfang",
        "name_zh": "王芳",
        "name_en": "Fiona Wang",
        "role": "manager",
        "team": "北美组",
        "manages": ["北美组"],
    },
    {
        "username": "zhangwei",
        "name_zh": "张伟",
        "name_en": "David Zhang",
        "aliases": ["David"],
        "role": "rep",
        "team": "北美组",
    },
    {
        "username": "lina",
        "name_zh": "李娜",
        "name_en": "Nina Li",
        "aliases": ["Nina"],
        "role": "rep",
        "team": "北美组",
    },
    {
        "username": "liuyang",
        "name_zh": "刘洋",
        "name_en": "Leo Liu",
        "role": "manager",
        "team": "欧洲组",
        "manages": ["欧洲组"],
        "language": "en",
    },
    {
        "username": "kevinli",
        "name_zh": "李凯文",
        "name_en": "Kevin Li",
        "aliases": ["Kevin"],
        "role": "rep",
        "team": "欧洲组",
        "language": "en",
    },
    {
        "username": "chenjing",
        "name_zh": "陈静",
        "name_en": "Jenny Chen",
        "aliases": ["Jenny"],
        "role": "rep",
        "team": "欧洲组",
    },
]
TEAM_REPS = {"北美组": ["zhangwei", "lina"], "欧洲组": ["kevinli", "chenjing"]}
TEAM_COUNTRIES = {
    "北美组": ["US", "CA", "MX", "BR", "CL", "AR", "CO", "AU", "NZ"],
    "欧洲组": ["DE", "FR", "GB", "IT", "ES", "NL", "PL", "SE", "TR", "AE", "SA", "ZA", "NG", "IN"],
}
FIRST_NAMES = [
    "James",
    "Maria",
    "Ahmed",
    "Sofia",
    "Lukas",
    "Emma",
    "Carlos",
    "Olivia",
    "Hans",
    "Fatima",
    "Pierre",
    "Anna",
    "Raj",
    "Chloe",
    "Diego",
    "Mia",
    "Omar",
    "Julia",
    "Mateo",
    "Sara",
    "Tom",
    "Ingrid",
    "Kemal",
    "Lucia",
    "Noah",
    "Amara",
]
LAST_NAMES = [
    "Smith",
    "Garcia",
    "Müller",
    "Rossi",
    "Dubois",
    "Johnson",
    "Silva",
    "Kowalski",
    "Yilmaz",
    "Khan",
    "Andersson",
    "Brown",
    "Martin",
    "Okafor",
    "Haddad",
    "Lopez",
    "Schmidt",
    "Taylor",
    "Novak",
    "Costa",
]
COMPANY_WORDS = [
    "Bright",
    "Global",
    "Sun",
    "Blue",
    "Prime",
    "Nova",
    "Atlas",
    "Summit",
    "Green",
    "Pacific",
    "Metro",
    "Royal",
    "Star",
    "Delta",
    "Apex",
]
COMPANY_KINDS = [
    "Lighting",
    "Home Goods",
    "Trading",
    "Imports",
    "Distribution",
    "Supply",
    "Hardware",
    "Outdoor",
    "Electronics",
    "Kitchenware",
]
COMPANY_SUFFIX = {
    "US": "Inc.",
    "CA": "Ltd.",
    "GB": "Ltd",
    "DE": "GmbH",
    "FR": "SAS",
    "IT": "S.r.l.",
    "ES": "S.L.",
    "NL": "B.V.",
    "PL": "Sp. z o.o.",
    "SE": "AB",
    "TR": "Ltd. Şti.",
    "MX": "S.A. de C.V.",
    "BR": "Ltda.",
    "AU": "Pty Ltd",
    "IN": "Pvt. Ltd.",
}
PRODUCTS = [
    "LED Panel Light 60x60",
    "Solar Street Light 100W",
    "LED High Bay 150W",
    "Stainless Steel Tumbler 500ml",
    "Bamboo Cutting Board",
    "Camping Lantern",
    "Bluetooth Speaker BT-20",
    "USB-C Cable 1m",
    "Garden Hose 30m",
    "TPE Yoga Mat",
]
TAGS = [
    "北美地区",
    "欧洲",
    "LED",
    "分销商",
    "进口商",
    "电商卖家",
    "展会客户",
    "样品已寄",
    "大客户",
    "需要认证",
    "OEM",
]
SUMMARIES = [
    "客户要求FOB深圳报价，MOQ 500pcs",
    "Asked for CE/RoHS certificates",
    "Sample approved, waiting for PO",
    "Price too high compared with another supplier",
    "展会上交换名片，回国后发了产品目录",
    "Wants exclusive distribution in their country",
    "",
]
INTERACTION_KINDS = ["email_out", "email_in", "call", "chat", "meeting"]
PLANS = ["发新品目录", "Send revised quotation", "Check sample feedback", "下周电话跟进", ""]


class Command(BaseCommand):
    help = "Load deterministic demo data: two teams, an admin and N customers."

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=300)
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Only load when the database has no users yet (the run command's first start).",
        )

    @transaction.atomic
    def handle(self, contacts, if_empty=False, **options):
        if if_empty and get_user_model().objects.exists():
            self.print_logins()
            return
        users = {}
        for person in PEOPLE:
            user, _, _ = upsert_user(password=DEMO_PASSWORD, **person)
            users[user.username] = user
        created = self.create_contacts(contacts, users)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready: {created} new customers."))
        self.print_logins()

    def print_logins(self):
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for person in PEOPLE:
            team = f", {person['team']}" if person.get("team") else ""
            self.stdout.write(f"  {person['username']:<10} {person['role']}{team}")

    def create_contacts(self, count, users):
        tags = [Tag.objects.get_or_create(name=name)[0] for name in TAGS]
        existing = set(Contact.objects.values_list("email", flat=True))
        created = 0
        for spec in demo_contacts(count, timezone.localdate()):
            if spec["email"] in existing:
                continue
            company = Company.objects.filter(name__iexact=spec["company"]).first()
            if company is None:
                company = Company.objects.create(name=spec["company"], country=spec["country"])
            owner_name = spec.pop("owner")
            owner = users[owner_name] if owner_name else None
            tag_indexes = spec.pop("tag_indexes")
            story = spec.pop("story")
            contact = Contact.objects.create(**{**spec, "company": company, "owner": owner})
            contact.tags.set([tags[i] for i in tag_indexes])
            if owner is not None:
                tell_story(contact, owner, story)
            created += 1
        return created


def demo_contacts(count, today):
    """The same `count` customers on every machine: every random draw comes from one seed."""
    rng = random.Random(2024)
    for index in range(count):
        team = "北美组" if index % 2 == 0 else "欧洲组"
        country = rng.choice(TEAM_COUNTRIES[team])
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        word, kind = rng.choice(COMPANY_WORDS), rng.choice(COMPANY_KINDS)
        domain = f"{word}-{kind}".lower().replace(" ", "-")
        first_contact = today - datetime.timedelta(days=rng.randint(10, 900))
        last_contact = min(first_contact + datetime.timedelta(days=rng.randint(0, 200)), today)
        in_pool = index % 25 == 0
        yield {
            "name": f"{first} {last}",
            "company": f"{word} {kind} {COMPANY_SUFFIX.get(country, 'Co., Ltd.')}",
            "country": country,
            "email": ascii_only(f"{first}.{last}.{index}@{domain}.example".lower()),
            "job_title": rng.choice(["Purchasing Manager", "Owner", "Sourcing Manager", "CEO", ""]),
            "channel": rng.choice(Channel.values),
            "first_contact_date": first_contact,
            "first_product": rng.choice(PRODUCTS),
            "stage": rng.choice(Stage.values),
            "grade": rng.choice(Grade.values),
            "summary": rng.choice(SUMMARIES),
            "next_follow_up_plan": rng.choice(PLANS),
            "last_contacted_at": timezone.make_aware(
                datetime.datetime.combine(last_contact, datetime.time(10))
            ),
            "owner": None if in_pool else rng.choice(TEAM_REPS[team]),
            "pool_state": PoolState.PUBLIC
            if in_pool
            else (PoolState.DORMANT if index % 17 == 0 else PoolState.ACTIVE),
            "tag_indexes": rng.sample(range(len(TAGS)), rng.randint(0, 3)),
            "story": {
                "interactions": [
                    (rng.choice(INTERACTION_KINDS), rng.choice(SUMMARIES[:-1]), rng.randint(1, 60))
                    for _ in range(rng.randint(0, 3))
                ],
                "follow_up": (rng.choice(PLANS[:-1]), rng.randint(-4, 10), rng.randint(9, 17))
                if rng.random() < 0.5
                else None,
            },
        }


def ascii_only(text):
    """Müller → muller: demo addresses stay plain ASCII like most real ones."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def tell_story(contact, owner, story):
    """A few logged interactions and maybe an open follow-up, through the real services."""
    now = timezone.now()
    for kind, summary, days_ago in story["interactions"]:
        log_interaction(
            contact=contact,
            author=owner,
            kind=kind,
            summary=summary,
            occurred_at=now - datetime.timedelta(days=days_ago),
        )
    if story["follow_up"]:
        plan, day_offset, hour = story["follow_up"]
        plan_follow_up(
            contact=contact,
            plan=plan,
            due_at=due_moment(
                day=timezone.localdate() + datetime.timedelta(days=day_offset),
                at=datetime.time(hour),
                user=owner,
            ),
            created_by=owner,
        )
