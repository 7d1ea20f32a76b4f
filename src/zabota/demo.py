"""Demo data: teams, agents, organisations, customers and a season of tickets.

Everything is written through the real service functions with a frozen clock that walks
forward through the last `days` days, so the history, outbox rows and search index are
exactly what the product would have produced. Texts are built from templates with many
slots (orders, products, sums, cities, dates, moods), in Russian and English, so that
classifiers can later learn categories and sentiment from them.

All addresses use the reserved `.example` domains and `zabota.local`, so no message
produced from demo data can reach a real mailbox.
"""

from __future__ import annotations

import enum
import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from zabota.bot import demo as demo_bot
from zabota.channels import demo as demo_channels
from zabota.core import outbox
from zabota.core.clock import SYSTEM_CLOCK, Clock, FrozenClock
from zabota.core.db import Database, refresh_statistics
from zabota.core.site import SiteSetting, set_value
from zabota.identity import service as identity
from zabota.identity.models import IdentityKind, Role
from zabota.identity.permissions import SYSTEM, Actor
from zabota.kb import demo as kb_demo
from zabota.routing import demo as demo_routing
from zabota.tickets import service as tickets
from zabota.tickets.models import Channel, Priority, Status
from zabota.tickets.service import NewMessage

log = structlog.get_logger()

MSK = timezone(timedelta(hours=3), "MSK")
BATCH = 50  # tickets per commit: short write locks, so a running server stays responsive
SHOP = {"ru": "Лукошко", "en": "Lukoshko"}
STAFF_DOMAIN = "zabota.local"

# --- staff ------------------------------------------------------------------------------

CATEGORIES = ("billing", "delivery", "technical", "returns", "account")
CATEGORY_WEIGHTS = (22, 30, 19, 17, 12)
TEAM_OF_CATEGORY = {"billing": "billing", "delivery": "delivery", "technical": "technical",
                    "returns": "returns", "account": "technical"}
FIRST_LINE = ("billing", "delivery", "technical", "returns")

# key, name, description, e-mail
TEAMS = (
    ("experts", "Эксперты (2-я линия)",
     "Experts — вторая линия: сложные платежи, розыск посылок, разбор ошибок и споров",
     "experts"),
    ("billing", "Финансы", "Billing — оплата, списания, возвраты денег, счета и документы",
     "billing"),
    ("delivery", "Доставка", "Delivery — сроки, курьеры, пункты выдачи, повреждения в пути",
     "delivery"),
    ("technical", "Техподдержка", "Technical — сайт, приложение, вход в аккаунт, уведомления",
     "help"),
    ("returns", "Возвраты", "Returns — возврат и обмен товара, брак, гарантия", "returns"),
)


@dataclass(frozen=True)
class _StaffSpec:
    name: str
    latin: str  # how the name is written in English replies
    login: str
    role: Role
    language: str
    is_female: bool
    teams: tuple[str, ...]
    skills: tuple[tuple[str, str, int], ...]
    capacity: int = 10


STAFF = (
    _StaffSpec("Анна Смирнова", "Anna Smirnova", "a.smirnova", Role.AGENT, "ru", True,
               ("billing",), (("billing", "ru", 5), ("billing", "en", 3)), 12),
    _StaffSpec("Игорь Волков", "Igor Volkov", "i.volkov", Role.AGENT, "ru", False,
               ("billing",), (("billing", "ru", 3),)),
    _StaffSpec("Ольга Кузнецова", "Olga Kuznetsova", "o.kuznetsova", Role.AGENT, "ru", True,
               ("billing", "returns"), (("billing", "ru", 4), ("returns", "ru", 3))),
    _StaffSpec("Дмитрий Соколов", "Dmitry Sokolov", "d.sokolov", Role.AGENT, "ru", False,
               ("delivery",), (("delivery", "ru", 4), ("delivery", "en", 2)), 14),
    _StaffSpec("Екатерина Морозова", "Ekaterina Morozova", "e.morozova", Role.AGENT, "ru", True,
               ("delivery",), (("delivery", "ru", 3),), 12),
    _StaffSpec("Артём Лебедев", "Artem Lebedev", "a.lebedev", Role.AGENT, "ru", False,
               ("delivery",), (("delivery", "ru", 2),), 8),
    _StaffSpec("Emily Carter", "Emily Carter", "e.carter", Role.AGENT, "en", True,
               ("delivery", "returns"),
               (("delivery", "en", 4), ("returns", "en", 4), ("delivery", "ru", 2))),
    _StaffSpec("Максим Новиков", "Maxim Novikov", "m.novikov", Role.AGENT, "ru", False,
               ("technical",),
               (("technical", "ru", 5), ("account", "ru", 4), ("technical", "en", 3)), 12),
    _StaffSpec("Наталья Попова", "Natalia Popova", "n.popova", Role.AGENT, "ru", True,
               ("technical",), (("technical", "ru", 3), ("account", "ru", 4))),
    _StaffSpec("Сергей Васильев", "Sergey Vasiliev", "s.vasiliev", Role.AGENT, "ru", False,
               ("technical",), (("technical", "ru", 2), ("account", "ru", 3)), 8),
    _StaffSpec("James Wilson", "James Wilson", "j.wilson", Role.AGENT, "en", False,
               ("technical", "billing"),
               (("technical", "en", 4), ("account", "en", 4), ("billing", "en", 3))),
    _StaffSpec("Мария Фёдорова", "Maria Fedorova", "m.fedorova", Role.AGENT, "ru", True,
               ("returns",), (("returns", "ru", 4), ("returns", "en", 2)), 12),
    _StaffSpec("Алексей Орлов", "Alexey Orlov", "a.orlov", Role.AGENT, "ru", False,
               ("experts",),
               (("billing", "ru", 5), ("technical", "ru", 5), ("account", "ru", 5),
                ("billing", "en", 3), ("technical", "en", 3)), 8),
    _StaffSpec("Татьяна Белова", "Tatiana Belova", "t.belova", Role.AGENT, "ru", True,
               ("experts",),
               (("delivery", "ru", 5), ("returns", "ru", 5), ("billing", "ru", 4),
                ("delivery", "en", 3), ("returns", "en", 3)), 8),
    _StaffSpec("Виктор Павлов", "Victor Pavlov", "v.pavlov", Role.SUPERVISOR, "ru", False,
               ("billing", "returns", "experts"),
               (("billing", "ru", 5), ("returns", "ru", 4), ("billing", "en", 3)), 5),
    _StaffSpec("Елена Ковалёва", "Elena Kovaleva", "e.kovaleva", Role.SUPERVISOR, "ru", True,
               ("delivery", "technical"),
               (("delivery", "ru", 5), ("technical", "ru", 4), ("delivery", "en", 3)), 5),
)

# name, domain, sla tier, VIP, notes
ORGANIZATIONS = (
    ("ООО «Ромашка»", "romashka.example", "gold", False, "Договор № Д-2023/041"),
    ("АО «Вектор Плюс»", "vektor-plus.example", "platinum", True,
     "Ключевой клиент, персональный менеджер, ответ в течение часа"),
    ("ООО «СибТехСнаб»", "sibtehsnab.example", "standard", False, ""),
    ("ООО «Альфа-Логистик»", "alfa-logistic.example", "gold", False, "Оптовые закупки"),
    ("ООО «Зелёный сад»", "zeleny-sad.example", "standard", False, ""),
    ("ООО «Торговый дом Меридиан»", "td-meridian.example", "gold", True,
     "Договор № Д-2022/318, отсрочка платежа 30 дней"),
    ("ООО «Лесная поляна»", "lesnaya-polyana.example", "standard", False, ""),
    ("АО «Уралпромкомплект»", "uralprom.example", "platinum", True,
     "Закупки для 14 филиалов, ЭДО через Диадок"),
    ("ООО «Невские зори»", "nevskie-zori.example", "standard", False, ""),
    ("ООО «Технопарк-Юг»", "technopark-ug.example", "gold", False, ""),
    ("ООО «Агрохолдинг Колос»", "kolos-agro.example", "standard", False, ""),
    ("ООО «Бюро Новикова»", "novikov-bureau.example", "standard", False, ""),
    ("ООО «МедТехника»", "medtehnika.example", "gold", False, "Медицинские учреждения"),
    ("ООО «Стройдвор»", "stroydvor.example", "standard", False, ""),
    ("ООО «Кофейня на углу»", "coffee-corner.example", "standard", False, ""),
    ("ООО «Пекарня Хлебница»", "hlebnitsa.example", "standard", False, ""),
    ("АНО «Детский центр Солнышко»", "solnyshko.example", "standard", False, ""),
    ("ООО «Гостиница Волга»", "hotel-volga.example", "gold", False, ""),
    ("ООО «Тёплый дом»", "teply-dom.example", "standard", False, ""),
    ("ООО «Фарм-Сервис»", "farm-service.example", "gold", False, ""),
    ("ООО «Автоцентр Магистраль»", "magistral-auto.example", "standard", False, ""),
    ("ООО «Студия Пиксель»", "pixel-studio.example", "standard", False, ""),
    ("ООО «Книжная лавка»", "knizhnaya-lavka.example", "standard", False, ""),
    ("ООО «Спортмастерская»", "sportmaster-skaya.example", "standard", False, ""),
    ("ООО «Флора»", "flora-flowers.example", "standard", False, ""),
    ("ООО «ИТ-Решения»", "it-resheniya.example", "gold", False, "Интегрированы через API"),
    ("ООО «Балтийский терминал»", "baltterminal.example", "platinum", True,
     "Отдельный SLA: первый ответ за 30 минут"),
    ("ООО «Северный ветер»", "severny-veter.example", "standard", False, ""),
    ("ООО «Камская мебель»", "kama-mebel.example", "standard", False, ""),
    ("ООО «Сибирские промыслы»", "sib-promysly.example", "standard", False, ""),
    ("ООО «Городская аптека»", "gorapteka.example", "gold", False, ""),
    ("ООО «Школа Эрудит»", "erudit-school.example", "standard", False, ""),
    ("ООО «Ресторан Пельменная №1»", "pelmennaya1.example", "standard", False, ""),
    ("Northwind Traders Ltd", "northwind.example", "gold", True,
     "International account, English-speaking contacts"),
    ("Blue Harbor GmbH", "blueharbor.example", "standard", False, "Invoices in EUR"),
    ("Acme Robotics Inc.", "acme-robotics.example", "platinum", True, "Integration via API"),
    ("Silverline Consulting", "silverline.example", "standard", False, ""),
    ("Oakwood Hotels", "oakwood-hotels.example", "gold", False, ""),
    ("Caspian Freight LLC", "caspian-freight.example", "standard", False, ""),
    ("Brightpath Education", "brightpath.example", "standard", False, ""),
)

# --- people -----------------------------------------------------------------------------

RU_MALE = (
    "Александр", "Дмитрий", "Максим", "Сергей", "Андрей", "Алексей", "Артём", "Илья",
    "Кирилл", "Михаил", "Никита", "Матвей", "Роман", "Егор", "Арсений", "Иван", "Денис",
    "Евгений", "Даниил", "Тимофей", "Владислав", "Игорь", "Владимир", "Павел", "Руслан",
    "Марк", "Константин", "Тимур", "Олег", "Ярослав", "Антон", "Николай", "Глеб", "Виктор",
    "Юрий", "Григорий", "Вадим", "Степан", "Фёдор", "Геннадий",
)
RU_FEMALE = (
    "Анастасия", "Мария", "Анна", "Виктория", "Екатерина", "Наталья", "Марина", "Полина",
    "София", "Дарья", "Алиса", "Ксения", "Александра", "Елена", "Ольга", "Татьяна",
    "Ирина", "Юлия", "Светлана", "Валерия", "Вероника", "Арина", "Елизавета", "Кристина",
    "Алёна", "Людмила", "Галина", "Надежда", "Вера", "Любовь", "Оксана", "Евгения",
    "Маргарита", "Диана", "Ульяна", "Варвара", "Милана", "Яна", "Нина", "Лариса",
)
RU_SURNAMES = (
    "Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов",
    "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров",
    "Павлов", "Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин",
    "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев", "Григорьев", "Романов",
    "Воробьёв", "Сергеев", "Кузьмин", "Фролов", "Александров", "Дмитриев", "Королёв",
    "Гусев", "Киселёв", "Ильин", "Максимов", "Поляков", "Сорокин", "Виноградов", "Ковалёв",
    "Белов", "Медведев", "Антонов", "Тарасов", "Жуков", "Баранов", "Филиппов", "Комаров",
    "Давыдов", "Беляев", "Герасимов", "Богданов", "Осипов", "Сидоров", "Матвеев", "Титов",
    "Марков", "Миронов", "Крылов", "Куликов", "Карпов", "Власов", "Мельников", "Денисов",
    "Гаврилов", "Тихонов", "Казаков", "Афанасьев", "Данилов", "Савельев", "Фомин",
    "Чернов", "Абрамов", "Мартынов", "Щербаков", "Назаров", "Калинин", "Исаев", "Быков",
    "Маслов", "Родионов", "Коновалов", "Лазарев", "Воронин", "Климов", "Голубев",
    "Кудрявцев", "Прохоров", "Наумов", "Журавлёв", "Леонов", "Соболев", "Ермаков",
    "Гончаров", "Котов", "Громов", "Малышев", "Румянцев", "Галкин", "Скворцов",
    "Цветков", "Вишневский", "Островский", "Шевченко", "Коваленко", "Бондаренко", "Ким",
    "Цой", "Мельниченко", "Дубровский", "Черных",
)
EN_MALE = (
    "James", "John", "Robert", "Michael", "David", "William", "Richard", "Thomas", "Daniel",
    "Matthew", "Andrew", "Joshua", "Ryan", "Oliver", "Jack", "Harry", "George", "Noah",
    "Lucas", "Ethan", "Liam", "Samuel", "Benjamin", "Adam", "Peter", "Mark", "Paul",
    "Stefan", "Lars", "Marco",
)
EN_FEMALE = (
    "Emma", "Olivia", "Sophia", "Isabella", "Charlotte", "Amelia", "Emily", "Grace", "Chloe",
    "Lucy", "Hannah", "Sarah", "Laura", "Jessica", "Rachel", "Megan", "Anna", "Julia",
    "Claire", "Alice", "Ella", "Mia", "Zoe", "Kate", "Helen", "Nina", "Sofia", "Ingrid",
    "Maria", "Leah",
)
EN_SURNAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor",
    "Anderson", "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris",
    "Clark", "Lewis", "Walker", "Hall", "Allen", "Young", "King", "Wright", "Scott",
    "Green", "Baker", "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Roberts",
    "Carter", "Phillips", "Evans", "Turner", "Parker", "Collins", "Edwards", "Stewart",
    "Morris", "Murphy", "Cook", "Rogers", "Fischer", "Schneider", "Novak", "Jensen",
    "Rossi", "Kowalski", "O'Brien", "MacLeod",
)
FREE_MAIL = ("mail.example", "yandex.example", "gmail.example", "inbox.example",
             "rambler.example", "list.example", "bk.example", "outlook.example")
FREE_MAIL_WEIGHTS = (30, 30, 18, 6, 4, 4, 4, 4)
_TRANSLIT = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    ("a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p",
     "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"),
    strict=True,
))

# --- slot values ------------------------------------------------------------------------

PRODUCTS = {
    "ru": (
        "Смартфон Xiaomi Redmi Note 13", "Робот-пылесос Roborock S8", "Кофемашина DeLonghi",
        "Наушники Sony WH-1000XM5", "Детская коляска Happy Baby", "Кроссовки Nike Air Zoom",
        "Пуховик Finn Flare", "Электрочайник Bosch", "Набор кастрюль Tefal",
        "Ноутбук ASUS VivoBook 15", "Умная колонка Яндекс Станция Мини",
        "Фен Dyson Supersonic", "Блендер Philips", "Шкаф-купе 180 см",
        "Матрас ортопедический 160×200", "Игровая консоль PlayStation 5",
        "Электросамокат Ninebot", "Конструктор LEGO Technic", "Увлажнитель воздуха",
        "Микроволновая печь LG", "Комплект постельного белья", "Велосипед Stels Navigator",
        "Зимние шины Nokian, 4 шт.", "Детское автокресло", "Пылесос Dyson V15",
        "Часы Apple Watch SE", "Планшет Samsung Galaxy Tab A9", "Чемодан Samsonite 70 л",
        "Корм для кошек Royal Canin 10 кг", "Сушилка для белья", "Монитор Samsung 27 дюймов",
        "Стиральная машина Haier", "Мультиварка Redmond", "Электробритва Braun",
        "Рюкзак школьный", "Зимние ботинки Ecco",
    ),
    "en": (
        "Xiaomi Redmi Note 13 phone", "Roborock S8 robot vacuum", "DeLonghi coffee machine",
        "Sony WH-1000XM5 headphones", "Nike Air Zoom sneakers", "Bosch electric kettle",
        "Tefal cookware set", "ASUS VivoBook 15 laptop", "Dyson Supersonic hair dryer",
        "Philips blender", "PlayStation 5 console", "Ninebot e-scooter", "LEGO Technic set",
        "LG microwave", "Samsonite suitcase", "Apple Watch SE", "Samsung Galaxy Tab A9",
        "Dyson V15 vacuum", "Samsung 27-inch monitor", "Ecco winter boots", "yoga mat",
        "Haier washing machine", "kids' car seat", "queen-size mattress",
    ),
}
GARMENTS = {
    "ru": ("Пуховик Finn Flare", "Кроссовки Nike Air Zoom", "Зимние ботинки Ecco",
           "Джинсы Levi's 501", "Платье летнее", "Куртка демисезонная", "Костюм спортивный",
           "Рубашка мужская", "Кеды Converse"),
    "en": ("Finn Flare down jacket", "Nike Air Zoom sneakers", "Ecco winter boots",
           "Levi's 501 jeans", "summer dress", "rain jacket", "tracksuit"),
}
CITIES = {
    "ru": (("Москва", "Москве"), ("Санкт-Петербург", "Санкт-Петербурге"),
           ("Новосибирск", "Новосибирске"), ("Екатеринбург", "Екатеринбурге"),
           ("Казань", "Казани"), ("Нижний Новгород", "Нижнем Новгороде"),
           ("Челябинск", "Челябинске"), ("Самара", "Самаре"), ("Омск", "Омске"),
           ("Ростов-на-Дону", "Ростове-на-Дону"), ("Уфа", "Уфе"),
           ("Красноярск", "Красноярске"), ("Воронеж", "Воронеже"), ("Пермь", "Перми"),
           ("Волгоград", "Волгограде"), ("Краснодар", "Краснодаре"), ("Тюмень", "Тюмени"),
           ("Иркутск", "Иркутске"), ("Калининград", "Калининграде"),
           ("Владивосток", "Владивостоке"), ("Ярославль", "Ярославле"), ("Тверь", "Твери"),
           ("Сочи", "Сочи"), ("Томск", "Томске")),
    "en": (("Moscow", "Moscow"), ("Saint Petersburg", "Saint Petersburg"),
           ("Almaty", "Almaty"), ("Tbilisi", "Tbilisi"), ("Yerevan", "Yerevan"),
           ("Belgrade", "Belgrade"), ("Riga", "Riga"), ("Dubai", "Dubai"),
           ("Limassol", "Limassol"), ("Berlin", "Berlin"), ("Kazan", "Kazan"),
           ("Novosibirsk", "Novosibirsk")),
}
CITY_WEIGHTS = {"ru": (30, 15) + (3,) * 22, "en": (12, 6) + (4,) * 10}
STREETS = {
    "ru": ("ул. Ленина", "пр-т Мира", "ул. Гагарина", "ул. Советская", "ул. Садовая",
           "ул. Пушкина", "ул. Молодёжная", "ул. Лесная", "ул. Школьная", "ул. Профсоюзная",
           "Ленинградский пр-т", "ул. Чкалова", "ул. Кирова", "ул. Набережная"),
    "en": ("Lenina St", "Mira Ave", "Baker Street", "Rustaveli Ave", "Main Street",
           "Park Lane", "Brivibas St", "Sheikh Zayed Rd", "Knez Mihailova"),
}
COURIERS = {"ru": ("СДЭК", "Boxberry", "DPD", "5Post", "ПЭК", "Лукошко Экспресс"),
            "en": ("CDEK", "Boxberry", "DPD", "DHL Express", "Russian Post", "Lukoshko Express")}
DEVICES = (("iPhone 13", "iOS"), ("iPhone 15 Pro", "iOS"), ("iPhone 11", "iOS"),
           ("Samsung Galaxy A54", "Android"), ("Xiaomi Redmi Note 12", "Android"),
           ("Honor X8", "Android"), ("Realme C55", "Android"), ("Google Pixel 7", "Android"),
           ("Samsung Galaxy S23", "Android"), ("Tecno Spark 10", "Android"))
BROWSERS = {"ru": ("Chrome 124", "Яндекс Браузер 24.4", "Firefox 125", "Safari 17", "Edge 124",
                   "Opera 109"),
            "en": ("Chrome 124", "Firefox 125", "Safari 17", "Edge 124", "Yandex Browser")}
ERRORS = ("ERR_PAYMENT_502", "500 Internal Server Error", "504 Gateway Timeout",
          "Network Error", "E-1042", "CHECKOUT_FAILED", "0x80070005")
PROMOS = ("LUKO10", "WELCOME500", "SALE20", "PRIVET15", "FREESHIP", "SPRING25", "BONUS300")
SIZES = {"ru": ("размер 42", "размер 44", "размер 46", "размер 48", "размер M", "размер L",
                "размер XL", "38-й размер", "41-й размер"),
         "en": ("size M", "size L", "size XL", "size S", "size 42", "size 9 (US)")}
SLOTS_TIME = ("9:00–13:00", "10:00–14:00", "12:00–16:00", "14:00–18:00", "18:00–22:00")
MONTHS_GEN = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
              "сентября", "октября", "ноября", "декабря")
MONTHS_NOM = ("январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август",
              "сентябрь", "октябрь", "ноябрь", "декабрь")
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")
CATEGORY_LABELS = {
    "ru": {"billing": "Оплата", "delivery": "Доставка", "technical": "Техническая проблема",
           "returns": "Возврат", "account": "Аккаунт"},
    "en": {"billing": "Billing", "delivery": "Delivery", "technical": "Technical issue",
           "returns": "Returns", "account": "Account"},
}

# --- texts ------------------------------------------------------------------------------
# Slots: {order} {product} {amount} {date} {promised} {month} {city} {city_in} {address}
# {courier} {track} {card} {device} {os} {app} {error} {browser} {promo} {bonus} {size}
# {days} {slot} {invoice} {inn} {org} {email} {phone} {txn} {bug} {time} {refund_days}
# {name} {full_name} {a} (feminine past ending of the customer) {grateful} and, in staff
# texts, {agent} {agent_full} {aa} (feminine ending of the agent) {shop}.


@dataclass(frozen=True)
class _Issue:
    category: str
    subjects: tuple[str, ...]
    problems: tuple[str, ...]
    solutions: tuple[str, ...]
    persists: tuple[str, ...]
    tags: tuple[str, ...] = ()
    weight: int = 1
    needs_org: bool = False
    wants: tuple[str, ...] = ()  # instead of the category's closing requests


ISSUES: dict[str, tuple[_Issue, ...]] = {"ru": (
    # billing
    _Issue("billing",
           ("Двойное списание по заказу {order}", "Деньги списали два раза!",
            "Повторное списание {amount}", "Списали дважды за один заказ",
            "Ошибочное списание с карты *{card}"),
           ("Оплатил{a} заказ № {order} на сумму {amount}, а с карты *{card} списали дважды. "
            "В истории операций банка две одинаковые транзакции от {date}.",
            "При оплате заказа {order} страница зависла, я нажал{a} «Оплатить» ещё раз — и "
            "теперь у меня два списания по {amount}. Заказ при этом один.",
            "Сегодня пришло два СМС из банка о списании {amount} за заказ № {order}. Второе "
            "списание явно ошибочное.",
            "У меня дважды списали {amount} за один и тот же заказ {order}. Карта *{card}."),
           ("Мы проверили платёж: второе списание {amount} действительно ошибочное. Возврат "
            "оформлен, деньги вернутся на карту *{card} в течение {refund_days} рабочих дней — "
            "срок зависит от банка.",
            "Повторная транзакция по заказу № {order} отменена. Если банк успел её провести, "
            "сумма {amount} вернётся на карту в течение {refund_days} рабочих дней."),
           ("Прошло уже больше недели, а второе списание {amount} так и не вернулось.",
            "Деньги за двойное списание так и не пришли на карту *{card}."),
           ("двойное-списание",), 3),
    _Issue("billing",
           ("Не пришёл возврат денег", "Где мой возврат за заказ {order}?",
            "Возврат {amount} до сих пор не поступил", "Не вернули деньги за отменённый заказ"),
           ("{date} мне подтвердили возврат {amount} за отменённый заказ № {order}, но деньги "
            "на карту до сих пор не пришли.",
            "Отменил{a} заказ {order} ещё {date}, в личном кабинете написано «Возврат "
            "оформлен», а денег нет уже {days}.",
            "Вы обещали вернуть {amount} за заказ {order} в течение трёх дней. Прошло {days}, "
            "денег нет."),
           ("Возврат {amount} по заказу № {order} отправлен в банк {date}. Номер операции для "
            "банка — {txn}, по нему банк найдёт платёж. Зачисление обычно занимает до "
            "{refund_days} рабочих дней.",
            "Первая попытка возврата была отклонена банком, поэтому мы отправили {amount} "
            "повторно. Ожидайте зачисления в течение {refund_days} рабочих дней."),
           ("Банк говорит, что поступлений по операции {txn} не было. Денег всё ещё нет.",
            "Возврат так и не пришёл, сколько можно ждать?"),
           ("возврат-денег",), 3),
    _Issue("billing",
           ("Закрывающие документы за {month}", "Нужен счёт на оплату для {org}",
            "Акт сверки и счёт-фактура", "Запрос УПД по заказу {order}"),
           ("Просим выставить счёт на оплату заказа № {order} на {org}, ИНН {inn}. Оплата по "
            "безналичному расчёту.",
            "Не можем найти закрывающие документы (УПД) по заказу {order} от {date}. "
            "Бухгалтерия просит прислать до конца недели.",
            "Пришлите, пожалуйста, акт сверки взаиморасчётов с {org} за прошлый квартал.",
            "В счёте № {invoice} неверно указаны реквизиты {org}: ИНН должен быть {inn}. "
            "Прошу перевыставить."),
           ("Документы по заказу № {order} сформированы и отправлены на {email}. Оригиналы "
            "направим через ЭДО в течение двух рабочих дней.",
            "Счёт № {invoice} на сумму {amount} выставлен и отправлен на {email}. Срок оплаты "
            "— 5 банковских дней."),
           ("Документы так и не пришли ни на почту, ни в ЭДО.",
            "В новом счёте опять старые реквизиты."),
           ("b2b", "документы"), 2, True,
           ("Заранее спасибо!", "Прошу прислать как можно скорее.", "Это срочно для "
            "бухгалтерии.")),
    _Issue("billing",
           ("Не проходит оплата", "Ошибка при оплате картой", "Не могу оплатить заказ {order}",
            "Оплата через СБП не работает"),
           ("Пытаюсь оплатить заказ № {order} картой *{card}, но каждый раз получаю ошибку "
            "«Операция отклонена». Деньги на карте есть, банк говорит, что у них всё в порядке.",
            "Оплата через СБП зависает на этапе подтверждения, заказ {order} остаётся "
            "неоплаченным уже {days}.",
            "При оплате {amount} страница выдаёт ошибку {error} и возвращает в корзину."),
           ("Ошибка была на стороне платёжного шлюза, сейчас оплата работает. Попробуйте, "
            "пожалуйста, оплатить заказ № {order} ещё раз — резерв товара мы продлили на "
            "48 часов.",
            "Ваш банк отклоняет операцию из-за настроек 3-D Secure. Мы отправили на {email} "
            "ссылку на оплату через СБП."),
           ("Снова та же ошибка, оплатить не получается.",
            "Ссылка на оплату не открывается, пишет, что срок действия истёк."),
           ("оплата",), 2),
    _Issue("billing",
           ("Не применился промокод {promo}", "Не начислены бонусы за заказ {order}",
            "Куда пропали бонусные баллы?"),
           ("При оформлении заказа № {order} указал{a} промокод {promo}, но скидка не "
            "применилась, хотя срок действия ещё не истёк.",
            "За заказ {order} от {date} должны были начислить {bonus} бонусов, но на счёте их "
            "нет.",
            "У меня было {bonus} бонусных баллов, а сегодня баланс нулевой. Я ничего не "
            "тратил{a}."),
           ("Мы начислили {bonus} бонусных баллов вручную, они уже видны в личном кабинете.",
            "Промокод {promo} не суммируется с акционной ценой, поэтому скидка не применилась. "
            "В качестве компенсации начислили {bonus} бонусов на следующий заказ."),
           ("Бонусы так и не появились в личном кабинете.",),
           ("бонусы",), 2),
    _Issue("billing",
           ("Списание за подписку, которую я отменил{a}", "Неверная сумма списания",
            "Отключите автопродление подписки"),
           ("Отменил{a} подписку «{shop} Плюс» ещё {date}, но сегодня снова списали {amount}.",
            "В заказе {order} сумма {amount}, а с карты списали больше. Откуда разница?",
            "Прошу отключить автопродление подписки и вернуть последнее списание {amount}."),
           ("Автопродление подписки отключено, списание {amount} от {date} мы вернули. Деньги "
            "поступят в течение {refund_days} рабочих дней.",
            "Разница — это стоимость доставки, она была указана на последнем шаге оформления. "
            "Детализацию по заказу № {order} отправили на {email}."),
           ("Подписка снова продлилась, хотя вы писали, что отключили!",),
           ("подписка",), 1),
    # delivery
    _Issue("delivery",
           ("Где мой заказ {order}?", "Заказ не доставлен в срок",
            "Задержка доставки заказа № {order}", "Сорваны сроки доставки",
            "Когда привезут заказ?"),
           ("Заказ № {order} должны были доставить {promised}, но до сих пор ничего нет. "
            "Трек-номер {track} не обновляется с {date}.",
            "Жду заказ {order} уже {days}, в отслеживании статус «Передан в доставку», и больше "
            "ничего.",
            "Обещали доставку в {city_in} за 2–3 дня, прошла уже неделя. Где посылка с "
            "заказом {order}?",
            "Заказ {order} висит в статусе «В пути» с {date}. Курьерская служба {courier} "
            "ничего не может объяснить."),
           ("Посылка задержалась на сортировочном центре {courier} в {city_in}. Сейчас она "
            "передана курьеру, доставка ожидается {promised}. Трек-номер: {track}.",
            "Мы связались с {courier}: заказ № {order} будет доставлен {promised} в интервале "
            "{slot}. За задержку начислили {bonus} бонусов."),
           ("Так и не привезли, хотя обещали {promised}.",
            "Трек-номер {track} по-прежнему не обновляется."),
           ("задержка",), 4),
    _Issue("delivery",
           ("Курьер не приехал", "Сорвана доставка, курьер не пришёл",
            "Курьер не привёз заказ {order}"),
           ("Весь день ждал{a} курьера с заказом № {order} в интервале {slot}, никто не "
            "приехал и не позвонил. В статусе написано «Клиент не вышел на связь» — это "
            "неправда!",
            "Специально взял{a} отгул, чтобы принять заказ {order}, а курьер так и не появился.",
            "Курьер позвонил, сказал, что будет через 20 минут, и пропал. Заказ {order}."),
           ("Приносим извинения за курьера. Повторная доставка заказа № {order} назначена на "
            "{promised}, интервал {slot}. Курьер позвонит за час.",),
           ("Опять никто не приехал!",),
           ("курьер",), 2),
    _Issue("delivery",
           ("Пришёл повреждённый товар", "Посылка пришла разбитой",
            "Коробка помята, товар сломан"),
           ("Получил{a} заказ {order}: коробка вся помята, «{product}» внутри разбит. Фото "
            "прикладываю.",
            "Курьер привёз заказ {order} в мокрой коробке, «{product}» повреждён. При курьере "
            "вскрывать не разрешили."),
           ("Оформили замену: новый «{product}» отправим {promised} за наш счёт. Повреждённый "
            "товар курьер заберёт при доставке.",
            "Мы вернём {amount} за повреждённый «{product}» или отправим замену — как вам "
            "удобнее? Замену можем отправить уже {promised}."),
           ("Замену так и не отправили.",),
           ("повреждение",), 2),
    _Issue("delivery",
           ("Изменить адрес доставки", "Смена адреса по заказу {order}",
            "Перенести доставку на другой день"),
           ("Можно ли изменить адрес доставки заказа № {order}? Новый адрес: {city}, "
            "{address}.",
            "Не смогу принять заказ {order} {promised}. Перенесите, пожалуйста, доставку на "
            "другой день."),
           ("Адрес доставки заказа № {order} изменён на {city}, {address}. Срок доставки не "
            "изменится.",
            "Доставку заказа № {order} перенесли на {promised}, интервал {slot}."),
           ("Курьер всё равно поехал по старому адресу!",),
           ("адрес",), 2),
    _Issue("delivery",
           ("В заказе не хватает товара", "Недовложение в заказе {order}",
            "Привезли не всё"),
           ("В заказе {order} должно было быть три позиции, а пришло две — нет «{product}». "
            "Оплачено полностью.",
            "Открыл{a} посылку, а «{product}» в ней нет, хотя в накладной он есть. Заказ "
            "{order}."),
           ("Склад подтвердил недовложение. «{product}» отправим отдельной посылкой {promised}, "
            "трек-номер придёт в СМС.",),
           ("Недостающий товар так и не пришёл.",),
           ("недовложение",), 1),
    _Issue("delivery",
           ("Заказ не пришёл в пункт выдачи", "Не выдают заказ в ПВЗ"),
           ("Пришло СМС, что заказ № {order} ждёт в пункте выдачи по адресу {address}, но там "
            "говорят, что посылки нет.",
            "Срок хранения заказа {order} в пункте выдачи истекает завтра, а я в командировке. "
            "Можно продлить?"),
           ("Посылку ошибочно доставили в соседний пункт выдачи. Сегодня её перевезут, а срок "
            "хранения мы продлили на 7 дней.",
            "Срок хранения заказа № {order} продлён до {promised}."),
           ("В пункте выдачи посылки по-прежнему нет.",),
           ("пвз",), 1),
    # technical
    _Issue("technical",
           ("Приложение вылетает", "Не запускается приложение после обновления",
            "Вылетает при открытии корзины"),
           ("После обновления до версии {app} приложение вылетает сразу при запуске. Телефон "
            "{device}, {os}.",
            "Приложение закрывается, как только открываю корзину. {device}, {os}, версия {app}.",
            "Не могу оформить заказ в приложении: на шаге оплаты всё зависает и вылетает. "
            "{device}."),
           ("Это известная ошибка версии {app} на {os}. Исправление уже вышло — обновите, "
            "пожалуйста, приложение. Если не поможет, переустановите его.",
            "Мы выпустили исправление в версии {app}: обновите приложение, и корзина снова "
            "будет открываться."),
           ("Обновил{a}, но приложение всё равно вылетает.",),
           ("приложение", "баг"), 3),
    _Issue("technical",
           ("Ошибка 500 на сайте", "Сайт не работает",
            "Не открывается страница оформления заказа"),
           ("При переходе к оформлению заказа сайт выдаёт ошибку {error}. Браузер {browser}, "
            "пробовал{a} очистить кэш — не помогает.",
            "Не могу добавить «{product}» в корзину: кнопка не реагирует. {browser}.",
            "Сайт с утра не открывается, пишет {error}."),
           ("Спасибо, что сообщили! Сбой на странице оформления исправлен. Обновите, "
            "пожалуйста, страницу — корзина сохранилась.",
            "Ошибка возникала из-за устаревшей версии страницы в кэше. Мы сбросили кэш на "
            "нашей стороне, всё должно работать."),
           ("Ошибка {error} снова появилась.",),
           ("сайт", "баг"), 2),
    _Issue("technical",
           ("Приложение очень медленно работает", "Долго грузится каталог",
            "Не работает поиск"),
           ("Последние дни каталог грузится по минуте, поиск вообще не работает. {device}, "
            "приложение {app}.",
            "Поиск по каталогу ничего не находит, даже «{product}», который точно есть в "
            "наличии."),
           ("Мы нашли перегрузку одного из серверов каталога, сейчас работа восстановлена. "
            "Если замедление повторится, пришлите, пожалуйста, время и скриншот.",),
           ("Всё так же медленно.",),
           ("производительность",), 1),
    _Issue("technical",
           ("Не приходят уведомления", "Пуш-уведомления не работают",
            "Не приходят СМС о статусе заказа"),
           ("Перестали приходить уведомления о статусе заказа. В настройках телефона всё "
            "включено. {device}, {os}.",
            "Не приходят СМС о доставке на номер {phone}, хотя раньше приходили."),
           ("Выйдите, пожалуйста, из аккаунта и войдите снова — это обновит токен уведомлений. "
            "Проблема появилась у части пользователей {os} после обновления {app}.",
            "Ваш номер попал в список отказа от рассылок. Мы его исключили, уведомления снова "
            "будут приходить."),
           ("Уведомления так и не приходят.",),
           ("уведомления",), 1),
    _Issue("technical",
           ("Пропала история заказов", "Не отображаются заказы в личном кабинете"),
           ("В личном кабинете пропали все заказы, в том числе текущий № {order}. Вчера всё "
            "было.",
            "В приложении не отображается заказ {order}, хотя на почту пришло подтверждение."),
           ("История заказов снова отображается — был сбой синхронизации. Заказ № {order} на "
            "месте и в работе.",),
           ("Заказы снова пропали.",),
           ("личный-кабинет",), 1),
    # account
    _Issue("account",
           ("Не могу войти в личный кабинет", "Не приходит код для входа",
            "Забыл{a} пароль"),
           ("Не приходит СМС с кодом для входа на номер {phone}. Пробовал{a} несколько раз.",
            "Восстановление пароля не работает: письмо на {email} не приходит, в спаме тоже "
            "нет.",
            "Пишет «Неверный логин или пароль», хотя пароль точно правильный."),
           ("Мы сняли ограничение на отправку кодов — оно срабатывает после нескольких "
            "попыток подряд. Попробуйте войти снова через 5 минут.",
            "Отправили ссылку для сброса пароля на {email} повторно. Ссылка действует 24 "
            "часа."),
           ("Код так и не приходит.", "Ссылка из письма не открывается."),
           ("вход",), 3),
    _Issue("account",
           ("Смена номера телефона в аккаунте", "Изменить e-mail в профиле"),
           ("Сменил{a} номер телефона, старый больше недоступен. Как привязать к аккаунту "
            "новый номер {phone}?",
            "Хочу сменить e-mail в профиле на {email}, а система пишет, что адрес уже занят."),
           ("Новый номер {phone} привязан к аккаунту, старый удалён из профиля.",
            "E-mail в профиле изменён на {email}. Старый адрес был привязан к пустому "
            "аккаунту — мы его удалили."),
           ("В профиле всё ещё старые данные.",),
           ("профиль",), 2),
    _Issue("account",
           ("Удалите мой аккаунт", "Запрос на удаление персональных данных"),
           ("Прошу удалить мой аккаунт и все персональные данные в соответствии с 152-ФЗ. "
            "Почта аккаунта — {email}.",
            "Хочу отозвать согласие на обработку персональных данных и удалить профиль."),
           ("Запрос на удаление аккаунта принят. Данные будут удалены в течение 30 дней, "
            "подтверждение придёт на {email}.",),
           ("Прошло 30 дней, а аккаунт всё ещё активен.",),
           ("152-фз",), 1),
    _Issue("account",
           ("Аккаунт заблокирован", "Почему заблокировали мой профиль?"),
           ("При входе пишет «Аккаунт временно заблокирован». Я ничего не нарушал{a}, просто "
            "сменил{a} телефон.",
            "Мой аккаунт заблокировали без объяснения причин, на счёте {bonus} бонусов."),
           ("Блокировка сработала из-за входа с нового устройства. Мы подтвердили вашу "
            "личность и сняли ограничение — вход уже доступен.",),
           ("Аккаунт снова заблокирован.",),
           ("блокировка",), 1),
    _Issue("account",
           ("Объединить два аккаунта", "Не вижу бонусную карту в профиле"),
           ("У меня два аккаунта — на {email} и на номер {phone}. Можно объединить их, чтобы "
            "бонусы были в одном месте?",
            "Привязал{a} бонусную карту, но в профиле она не отображается."),
           ("Аккаунты объединены, бонусы ({bonus} баллов) перенесены в основной профиль "
            "{email}.",),
           ("Бонусы после объединения пропали.",),
           ("профиль", "бонусы"), 1),
    # returns
    _Issue("returns",
           ("Возврат бракованного товара", "Товар оказался с браком", "Брак: {product}"),
           ("Купил{a} «{product}» {date}, через неделю он перестал работать. Хочу вернуть "
            "деньги.",
            "«{product}» из заказа {order} пришёл с дефектом: не включается. Прошу обменять "
            "или вернуть {amount}.",
            "У «{product}» отклеилась подошва после двух недель носки. Заказ {order}."),
           ("Оформили возврат по заказу № {order}. Курьер заберёт «{product}» {promised} в "
            "интервале {slot}, а {amount} вернутся после проверки в течение {refund_days} "
            "рабочих дней.",
            "Брак подтверждён по фото. Возврат {amount} оформлен без экспертизы, товар можно "
            "сдать в любой пункт выдачи."),
           ("Курьер за товаром так и не приехал.",),
           ("брак",), 3),
    _Issue("returns",
           ("Обмен на другой размер", "Не подошёл размер", "Хочу обменять товар"),
           ("Не подошёл размер у «{garment}» из заказа № {order}. Можно обменять на {size}?",
            "Заказал{a} «{garment}», оказалось маловато. Как поменять на {size}?"),
           ("Обмен оформлен: сдайте «{garment}» в любой пункт выдачи, а {size} привезём "
            "{promised}.",),
           ("Обмен до сих пор не оформлен.",),
           ("обмен",), 2),
    _Issue("returns",
           ("Статус возврата по заказу {order}", "Сдал{a} товар, а денег нет"),
           ("Сдал{a} «{product}» в пункт выдачи {date}, прошло {days}, а возврат {amount} всё "
            "ещё в статусе «На проверке».",
            "Когда вернут деньги за возвращённый «{product}»? Заказ {order}."),
           ("Склад принял товар, проверка завершена. Возврат {amount} отправлен, ожидайте "
            "зачисления в течение {refund_days} рабочих дней.",),
           ("Денег за возврат так и нет.",),
           ("возврат-денег",), 2),
    _Issue("returns",
           ("Как вернуть товар?", "Оформить возврат", "Возврат товара надлежащего качества"),
           ("Хочу вернуть «{product}» — не подошёл по характеристикам. Упаковка целая, чек "
            "есть. Как оформить возврат?",
            "Передумал{a} насчёт «{product}», можно вернуть? Получил{a} {date}."),
           ("Вернуть товар можно в течение 14 дней с момента получения. Заявка на возврат "
            "оформлена, код возврата отправили в СМС — покажите его в пункте выдачи.",),
           ("Код возврата не пришёл.",),
           ("возврат",), 2),
    _Issue("returns",
           ("Отказ в возврате", "Почему не принимают возврат?"),
           ("В пункте выдачи отказались принять возврат «{product}», сказали, что нет заявки. "
            "Я её оформлял{a} {date}!",),
           ("Заявка не передалась в пункт выдачи из-за сбоя. Мы её переотправили — товар можно "
            "сдавать с сегодняшнего дня.",),
           ("В пункте выдачи снова отказали.",),
           ("возврат", "жалоба"), 1),
    _Issue("returns",
           ("Гарантийный ремонт", "Сломался товар на гарантии"),
           ("«{product}» сломался через четыре месяца, гарантия год. Куда отвезти на ремонт?",),
           ("Оформили гарантийное обращение. Курьер заберёт «{product}» {promised}, срок "
            "диагностики — до 20 дней.",),
           ("Из сервиса вернули неисправный товар.",),
           ("гарантия",), 1),
), "en": (
    _Issue("billing",
           ("Charged twice for order {order}", "Double charge on my card",
            "Duplicate payment of {amount}"),
           ("I paid for order #{order} ({amount}) and my card ending {card} was charged twice "
            "on {date}. There is only one order in my account.",
            "The payment page froze, I clicked Pay again and now I see two charges of {amount} "
            "for the same order #{order}."),
           ("We checked the payment: the second charge of {amount} was a duplicate. The refund "
            "has been issued and should reach your card ending {card} within {refund_days} "
            "business days, depending on your bank.",),
           ("It has been over a week and the duplicate charge of {amount} is still not "
            "refunded.",),
           ("двойное-списание",), 3),
    _Issue("billing",
           ("Refund not received", "Where is my refund for order {order}?"),
           ("On {date} you confirmed a refund of {amount} for the cancelled order #{order}, but "
            "nothing has arrived on my card yet.",
            "I cancelled order #{order} {days} ago and the status says 'Refund issued', but "
            "there is no money."),
           ("The refund of {amount} for order #{order} was sent to your bank on {date}. The "
            "reference for your bank is {txn}. It usually takes up to {refund_days} business "
            "days.",),
           ("My bank says there is no incoming payment with reference {txn}.",),
           ("возврат-денег",), 3),
    _Issue("billing",
           ("Invoice request for {org}", "Missing closing documents for order {order}"),
           ("Please issue an invoice for order #{order} to {org}, tax ID {inn}. We pay by bank "
            "transfer.",
            "Our accounting department cannot find the closing documents for order #{order} "
            "from {date}. Could you resend them?"),
           ("The documents for order #{order} have been sent to {email}. Originals will follow "
            "via e-document exchange within two business days.",
            "Invoice {invoice} for {amount} has been issued and sent to {email}. Payment term "
            "is 5 banking days."),
           ("We still have not received the documents.",),
           ("b2b", "документы"), 2, True,
           ("Thanks in advance.", "Our accountant needs them this week.")),
    _Issue("billing",
           ("Payment keeps failing", "Card declined at checkout", "Cannot pay for order {order}"),
           ("Every time I try to pay for order #{order} with my card ending {card} I get "
            "'Transaction declined'. My bank says everything is fine on their side.",
            "Checkout shows error {error} when I try to pay {amount} and sends me back to the "
            "cart."),
           ("The error was on our payment gateway and it has been fixed. Please try paying for "
            "order #{order} again — we have extended the reservation by 48 hours.",),
           ("Same error again, I still cannot pay.",),
           ("оплата",), 2),
    _Issue("billing",
           ("Promo code {promo} not applied", "Loyalty points missing"),
           ("I entered promo code {promo} for order #{order} but the discount was not applied, "
            "although the code is still valid.",
            "I should have received {bonus} points for order #{order} from {date}, but my "
            "balance has not changed."),
           ("We have credited {bonus} points manually; they are already visible in your "
            "account.",
            "Promo code {promo} cannot be combined with sale prices, which is why it did not "
            "apply. As a goodwill gesture we credited {bonus} points for your next order."),
           ("The points still have not appeared.",),
           ("бонусы",), 2),
    _Issue("billing",
           ("Charged for a cancelled subscription", "Please turn off auto-renewal"),
           ("I cancelled my {shop} Plus subscription on {date} but was charged {amount} again "
            "today.",),
           ("Auto-renewal is off and the charge of {amount} from {date} has been refunded; "
            "expect it within {refund_days} business days.",),
           ("The subscription renewed again!",),
           ("подписка",), 1),
    _Issue("delivery",
           ("Where is my order {order}?", "Delivery is late", "Order #{order} still not delivered"),
           ("Order #{order} was supposed to arrive on {promised}, but nothing yet. Tracking "
            "number {track} has not updated since {date}.",
            "I've been waiting for order #{order} for {days}; tracking just says 'Handed over "
            "to carrier'.",
            "You promised delivery to {city} in 2-3 days and it has been a week. Where is my "
            "parcel?"),
           ("Your parcel was delayed at the {courier} sorting centre. It is now with the "
            "courier and should arrive on {promised}. Tracking: {track}.",
            "We contacted {courier}: order #{order} will be delivered on {promised} between "
            "{slot}. We added {bonus} points for the delay."),
           ("Still not delivered, although you promised {promised}.",),
           ("задержка",), 4),
    _Issue("delivery",
           ("Courier never showed up", "Missed delivery of order {order}"),
           ("I waited all day for the courier with order #{order} in the {slot} window. Nobody "
            "came or called, and now the status says 'Customer unavailable', which is not "
            "true!",),
           ("We apologise for the courier. Redelivery of order #{order} is booked for "
            "{promised}, {slot}; the courier will call an hour before.",),
           ("Nobody came again!",),
           ("курьер",), 2),
    _Issue("delivery",
           ("Item arrived damaged", "Broken parcel"),
           ("Order #{order} arrived with the box crushed and the {product} inside is broken. "
            "Photos attached.",),
           ("We've arranged a free replacement {product}, shipping on {promised}. The courier "
            "will collect the damaged item on delivery.",),
           ("The replacement never shipped.",),
           ("повреждение",), 2),
    _Issue("delivery",
           ("Change delivery address for order {order}", "Reschedule delivery"),
           ("Can I change the delivery address for order #{order}? The new address is "
            "{address}, {city}.",
            "I won't be home on {promised}. Could you move the delivery of order #{order} to "
            "another day?"),
           ("The delivery address for order #{order} is now {address}, {city}. The delivery "
            "date is unchanged.",
            "Delivery of order #{order} is moved to {promised}, {slot}."),
           ("The courier went to the old address anyway!",),
           ("адрес",), 2),
    _Issue("delivery",
           ("Item missing from my order",),
           ("Order #{order} should have had three items but only two arrived — the {product} "
            "is missing. I paid in full.",),
           ("The warehouse confirmed the missing item. The {product} ships separately on "
            "{promised}; you'll get the tracking number by SMS.",),
           ("The missing item has not arrived.",),
           ("недовложение",), 1),
    _Issue("technical",
           ("App keeps crashing", "App won't start after update"),
           ("Since updating to version {app} the app crashes right at launch. Phone: {device}, "
            "{os}.",
            "The app closes as soon as I open the cart. {device}, {os}, version {app}."),
           ("This is a known issue in version {app} on {os}. A fix is out — please update the "
            "app, and reinstall it if that does not help.",),
           ("Updated, still crashing.",),
           ("приложение", "баг"), 3),
    _Issue("technical",
           ("Error 500 on the website", "Checkout page does not load"),
           ("When I go to checkout the site shows {error}. Browser: {browser}; clearing the "
            "cache did not help.",
            "I cannot add the {product} to my cart, the button does nothing. {browser}."),
           ("Thanks for letting us know! The checkout failure is fixed. Please reload the page "
            "— your cart has been kept.",),
           ("The error {error} is back.",),
           ("сайт", "баг"), 2),
    _Issue("technical",
           ("No notifications", "Order status SMS not arriving"),
           ("I no longer get order status notifications, although they are enabled in my "
            "phone settings. {device}, {os}.",),
           ("Please sign out and sign in again — this refreshes the notification token. Some "
            "{os} users were affected after the {app} update.",),
           ("Still no notifications.",),
           ("уведомления",), 1),
    _Issue("technical",
           ("Order history is gone", "Orders not showing in my account"),
           ("All my orders disappeared from my account, including the current #{order}.",),
           ("Your order history is back — it was a synchronisation failure. Order #{order} is "
            "there and being processed.",),
           ("The orders disappeared again.",),
           ("личный-кабинет",), 1),
    _Issue("account",
           ("Cannot log in", "Login code not arriving", "Forgot my password"),
           ("The SMS login code never arrives on {phone}. I have tried several times.",
            "Password reset does not work: the e-mail to {email} never arrives, not even in "
            "spam."),
           ("We lifted the code limit, which triggers after several attempts in a row. Please "
            "try again in 5 minutes.",
            "We have resent the password reset link to {email}. It is valid for 24 hours."),
           ("Still no code.",),
           ("вход",), 3),
    _Issue("account",
           ("Change phone number on my account", "Update e-mail in profile"),
           ("I changed my phone number and no longer have the old one. How do I link my new "
            "number {phone}?",),
           ("Your new number {phone} is linked to the account and the old one is removed.",),
           ("The profile still shows the old number.",),
           ("профиль",), 2),
    _Issue("account",
           ("Delete my account", "Personal data deletion request"),
           ("Please delete my account and all personal data. The account e-mail is {email}.",),
           ("Your deletion request is accepted. The data will be deleted within 30 days and a "
            "confirmation will be sent to {email}.",),
           ("It has been 30 days and the account is still active.",),
           ("152-фз",), 1),
    _Issue("account",
           ("Account locked", "Why was my account blocked?"),
           ("When I log in it says 'Account temporarily locked'. I just signed in from a new "
            "phone.",),
           ("The lock was triggered by a sign-in from a new device. We verified your identity "
            "and lifted it — you can log in now.",),
           ("Locked again.",),
           ("блокировка",), 1),
    _Issue("returns",
           ("Return of a faulty item", "Faulty product: {product}"),
           ("I bought the {product} on {date} and after a week it stopped working. I want my "
            "money back.",
            "The {product} from order #{order} arrived faulty: it does not switch on. Please "
            "replace it or refund {amount}."),
           ("We have opened a return for order #{order}. The courier will collect the "
            "{product} on {promised}, {slot}, and {amount} will be refunded within "
            "{refund_days} business days after inspection.",),
           ("The courier never came to collect it.",),
           ("брак",), 3),
    _Issue("returns",
           ("Exchange for another size", "Wrong size"),
           ("The {garment} from order #{order} doesn't fit. Can I exchange it for {size}?",),
           ("Exchange arranged: drop the {garment} at any pickup point and we'll deliver "
            "{size} on {promised}.",),
           ("The exchange still has not been arranged.",),
           ("обмен",), 2),
    _Issue("returns",
           ("Return status for order {order}", "Returned the item, no refund yet"),
           ("I returned the {product} on {date}; {days} later the refund of {amount} is still "
            "'Under inspection'.",),
           ("The warehouse has accepted the item and the inspection is complete. The refund "
            "of {amount} is on its way; allow {refund_days} business days.",),
           ("Still no refund for the return.",),
           ("возврат-денег",), 2),
    _Issue("returns",
           ("How do I return an item?", "Return request"),
           ("I'd like to return the {product} — it isn't what I expected. The packaging is "
            "intact. How do I start a return?",),
           ("You can return items within 14 days of delivery. We have opened the return and "
            "sent the return code by SMS — show it at the pickup point.",),
           ("The return code never arrived.",),
           ("возврат",), 2),
)}

# Extra tickets of the incident days: a delivery partner's outage, a payment gateway fault.
SPIKE_ISSUES: dict[str, dict[str, tuple[_Issue, ...]]] = {
    "ru": {
        "delivery": (_Issue(
            "delivery",
            ("Где заказ?! Второй день ничего", "Заказ {order} задерживается",
             "Массовые задержки доставки?", "Сбой доставки — заказ {order}"),
            ("Заказ № {order} должны были привезти вчера, а в отслеживании «Задерживается». "
             "Что у вас происходит?",
             "Курьерская служба {courier} не отвечает, заказ {order} застрял. Это массовая "
             "проблема?",
             "Третий раз за день пытаюсь узнать, где заказ {order}. На горячей линии никто не "
             "берёт трубку.",
             "Доставка заказа {order} сорвана, в приложении ошибка при отслеживании."),
            ("Из-за сбоя у партнёра {courier} доставки задерживаются на 1–2 дня. Ваш заказ "
             "№ {order} в пути, ожидаемая дата — {promised}. Приносим извинения — за ожидание "
             "начислили {bonus} бонусов.",),
            ("Заказ так и не привезли, хотя сбой уже вроде бы устранили.",),
            ("сбой-доставки",), 1),),
        "billing": (_Issue(
            "billing",
            ("Списали деньги дважды!", "Двойное списание {amount}", "Ошибка оплаты и списание"),
            ("Оплата заказа {order} выдала ошибку, а деньги {amount} списались. Повторил{a} — "
             "списались ещё раз!",
             "С карты *{card} сегодня два списания по {amount}, заказ при этом не оплачен."),
            ("Из-за сбоя платёжного шлюза часть платежей прошла дважды. Ваш ошибочный платёж "
             "{amount} отменён, деньги вернутся на карту *{card} в течение {refund_days} "
             "рабочих дней.",),
            ("Второе списание так и не вернулось.",),
            ("сбой-оплаты", "двойное-списание"), 1),),
    },
    "en": {
        "delivery": (_Issue(
            "delivery",
            ("Where is my order?!", "Order {order} delayed", "Mass delivery delays?"),
            ("Order #{order} was due yesterday and tracking just says 'Delayed'. What is going "
             "on?",
             "{courier} is not answering and order #{order} is stuck. Is this a known "
             "problem?"),
            ("Because of an outage at our partner {courier}, deliveries are 1-2 days late. "
             "Your order #{order} is on its way and should arrive on {promised}. We added "
             "{bonus} points for the wait.",),
            ("Still not delivered.",),
            ("сбой-доставки",), 1),),
        "billing": (_Issue(
            "billing",
            ("Charged twice!", "Payment error but money taken"),
            ("Payment for order #{order} failed with an error but {amount} was taken. I tried "
             "again and was charged again!",),
            ("A payment gateway fault charged some payments twice. Your duplicate payment of "
             "{amount} is cancelled and will be back on your card within {refund_days} "
             "business days.",),
            ("The duplicate charge is still not back.",),
            ("сбой-оплаты", "двойное-списание"), 1),),
    },
}


@dataclass(frozen=True)
class _Phrases:
    """Everything said around an issue, in one language."""

    greetings: tuple[str, ...]
    morning: str
    evening: str
    chat_greetings: tuple[str, ...]
    moods: dict[str, tuple[str, ...]]
    contexts: tuple[str, ...]
    order_contexts: tuple[str, ...]  # only where an order is what went wrong
    wants: dict[str, tuple[str, ...]]
    signatures: tuple[str, ...]
    impatient: tuple[str, ...]
    thanks: tuple[str, ...]
    persists: tuple[str, ...]
    infos: dict[str, tuple[str, ...]]
    chat_followups: tuple[str, ...]
    agent_greetings: tuple[str, ...]
    chat_agent_greetings: tuple[str, ...]
    empathy: dict[str, tuple[str, ...]]
    asks: dict[str, tuple[str, ...]]
    holds: dict[str, tuple[str, ...]]
    hold_updates: tuple[str, ...]
    confirm: tuple[str, ...]
    no_reply: tuple[str, ...]
    reopen_replies: tuple[str, ...]
    escalation_replies: tuple[str, ...]
    chat_acks: tuple[str, ...]
    agent_closings: tuple[str, ...]
    agent_signature: str
    chat_signature: str
    # Internal: written in the language of the agent, not of the ticket.
    notes: dict[str, tuple[str, ...]]
    escalation_reasons: dict[str, tuple[str, ...]]
    transfer_reasons: dict[str, str]
    misroute_notes: tuple[str, ...]
    expert_notes: tuple[str, ...]
    supervisor_notes: tuple[str, ...]
    priority_reasons: tuple[str, ...]
    reassign_reasons: tuple[str, ...]
    routing_reason: str
    assign_reason: str
    assign_by_load_reason: str
    category_reason: str
    close_reason: str
    extra_tags: tuple[str, ...]


BOOKS: dict[str, _Phrases] = {
    "ru": _Phrases(
        greetings=("Здравствуйте!", "Добрый день!", "Здравствуйте.", "Добрый день.",
                   "Здравствуйте, служба поддержки!", "Уважаемая служба поддержки!"),
        morning="Доброе утро!",
        evening="Добрый вечер!",
        chat_greetings=("Здравствуйте", "Добрый день", "Привет", "Здрасте", "Алло", ""),
        moods={
            "angry": ("Это просто безобразие!", "Сколько можно ждать?!",
                      "Уже третий раз обращаюсь, и никакого результата!",
                      "Отвратительный сервис.", "Я в бешенстве!",
                      "Если вопрос не решится сегодня, напишу жалобу в Роспотребнадзор.",
                      "Больше никогда ничего у вас не закажу!", "Вы вообще работаете?",
                      "Отвратительное отношение к клиентам.",
                      "Это уже ни в какие ворота!", "Ужасно, просто ужасно.",
                      "На горячей линии час висел{a} на трубке — бесполезно.",
                      "Где ваша хвалёная забота о клиентах?"),
            "neutral": ("Прошу разобраться.", "Подскажите, пожалуйста, что делать.",
                        "Жду ответа.", "Помогите, пожалуйста, решить вопрос.",
                        "Прошу проверить.", "", "", ""),
            "positive": ("Заранее спасибо!", "Всегда пользуюсь вашим магазином, раньше проблем "
                         "не было.", "Спасибо, что всегда быстро отвечаете!",
                         "Очень надеюсь на вашу помощь, вы всегда выручали.",
                         "Буду {grateful} за помощь.", "Спасибо за отличный сервис!",
                         "Вы молодцы, но вот такая ситуация."),
        },
        contexts=("Я ваш постоянный клиент.", "Заказывал{a} уже много раз, такое впервые.",
                  "Пишу уже не в первый раз.",
                  "В чате поддержки ответили, что нужно писать сюда."),
        order_contexts=("Заказ нужен был к дню рождения сына.",
                        "Покупал{a} в подарок, очень неудобно получилось.",
                        "Живу за городом, добираться непросто."),
        wants={
            "billing": ("Прошу вернуть деньги.", "Когда вернутся деньги?",
                        "Верните деньги немедленно!",
                        "Разберитесь, пожалуйста, с оплатой.", "Что мне делать?"),
            "delivery": ("Когда привезут?", "Прошу ускорить доставку.",
                         "Подскажите, где сейчас посылка?", "Что мне делать?"),
            "technical": ("Как это исправить?", "Когда почините?",
                          "Подскажите, что можно сделать?", "Прошу исправить."),
            "returns": ("Как оформить возврат?", "Прошу вернуть деньги.",
                        "Подскажите порядок действий.", "Что для этого нужно?"),
            "account": ("Помогите восстановить доступ.", "Что нужно сделать?",
                        "Прошу помочь.", "Как это сделать?"),
        },
        signatures=("С уважением, {full_name}", "{name}", "Спасибо.\n{full_name}",
                    "--\n{full_name}\n{phone}", "{full_name}", "Отправлено с iPhone", ""),
        impatient=("Есть новости по моему обращению?",
                   "Прошло уже несколько часов, ответа нет. Вы вообще читаете сообщения?",
                   "Напоминаю о своём вопросе.", "Ответьте, пожалуйста!",
                   "Подскажите, когда будет ответ?", "Алло?? Есть кто-нибудь?",
                   "Уже второй день жду ответа!"),
        thanks=("Спасибо большое, всё получилось!", "Благодарю за помощь, вопрос решён.",
                "Спасибо, всё пришло.", "Отлично, спасибо за оперативность!",
                "Спасибо, {agent}, вы очень помогли!", "Спасибо!", "Всё работает, спасибо.",
                "Получил{a}, спасибо большое!"),
        persists=("Вы закрыли обращение, но проблема не решена!",
                  "Ничего не изменилось.", "Почему обращение закрыто? Вопрос не решён.",
                  "Снова здравствуйте."),
        infos={
            "billing": ("Номер заказа {order}, карта *{card}, списание было {date}.",
                        "Скриншот из банка прикладываю. Сумма {amount}, две операции подряд.",
                        "Заказ {order}, оплачивал{a} {date} картой *{card}."),
            "delivery": ("Заказ № {order}, телефон {phone}. Адрес: {city}, {address}.",
                         "Удобно {promised}, с {slot}.",
                         "Номер заказа {order}, трек {track}."),
            "technical": ("{device}, {os}, версия приложения {app}. Ошибка появляется каждый "
                          "раз.", "Телефон {device}, приложение обновлено. Было сегодня около "
                          "{time}, скриншот прикладываю.", "Телефон {device}, {os}."),
            "returns": ("Фото прикладываю, заказ {order}. Упаковка сохранилась.",
                        "Товар не подошёл, упаковка целая. Заказ № {order}.",
                        "Заказ {order}, получал{a} {date}."),
            "account": ("Почта {email}, карта *{card}.",
                        "Пытаюсь войти с телефона {device}, пишет «Неверный код».",
                        "Аккаунт на {email}, номер {phone}."),
        },
        chat_followups=("А можно побыстрее?", "Хорошо, жду", "Ок", "Понял{a}",
                        "А сколько это займёт?", "Спасибо, жду ответа"),
        agent_greetings=("Здравствуйте, {name}!", "{name}, добрый день!", "Здравствуйте!",
                         "Добрый день, {name}!"),
        chat_agent_greetings=("{name}, здравствуйте!", "Здравствуйте!",
                              "Добрый день! Меня зовут {agent}, помогу разобраться."),
        empathy={
            "angry": ("Приносим извинения за доставленные неудобства.",
                      "Понимаем ваше недовольство и очень сожалеем, что так вышло.",
                      "Извините, пожалуйста, за ожидание и за эту ситуацию.",
                      "Нам очень жаль, что вам пришлось с этим столкнуться."),
            "neutral": ("Спасибо за обращение.", "Спасибо, что написали нам.", ""),
            "positive": ("Спасибо за добрые слова и за то, что остаётесь с нами!",
                         "Спасибо за обращение и за тёплые слова."),
        },
        asks={
            "billing": ("Чтобы разобраться, пришлите, пожалуйста, номер заказа и последние 4 "
                        "цифры карты, с которой была оплата. Если есть — скриншот операции "
                        "из банковского приложения.",
                        "Уточните, пожалуйста, номер заказа и дату операции — так мы быстрее "
                        "найдём его в системе."),
            "delivery": ("Уточните, пожалуйста, номер заказа и телефон получателя — проверим "
                         "статус у службы доставки.",
                         "Подскажите, пожалуйста, удобный интервал доставки и актуальный "
                         "адрес."),
            "technical": ("Подскажите, пожалуйста, модель устройства и версию приложения (или "
                          "браузер, если вы заходите через сайт) и, если возможно, пришлите "
                          "скриншот ошибки.",
                          "Уточните, пожалуйста, на каком устройстве возникает проблема и "
                          "примерно в какое время это было."),
            "returns": ("Пришлите, пожалуйста, фото товара и упаковки, а также номер заказа — "
                        "оформим заявку.",
                        "Уточните, пожалуйста, причину возврата и сохранилась ли упаковка."),
            "account": ("Для проверки личности уточните, пожалуйста, e-mail аккаунта и "
                        "последние 4 цифры карты, которой оплачивали последний заказ.",
                        "Подскажите, пожалуйста, с какого устройства вы входите и какое "
                        "сообщение видите."),
        },
        holds={
            "billing": ("Мы направили запрос в банк-эквайер, ответ обычно приходит за 3–5 "
                        "рабочих дней. Как только будет результат — сразу напишем.",),
            "delivery": ("Мы открыли розыск посылки в {courier}. Это занимает до 5 рабочих "
                         "дней, о результате сообщим.",),
            "technical": ("Передали информацию разработчикам, ошибка воспроизводится. "
                          "Сообщим, как только выйдет исправление.",),
            "returns": ("Товар передан на экспертизу в сервисный центр. Обычно это занимает "
                        "до 10 дней, результат пришлём на почту.",),
            "account": ("Запрос передан в службу безопасности, проверка занимает до 3 "
                        "рабочих дней.",),
        },
        hold_updates=("Пока ждём ответа, как только будет результат — сразу напишем.",
                      "Проверка ещё идёт, вопрос у нас на контроле.",
                      "Мы напомнили о вашем вопросе, ответ ожидаем в ближайшие дни."),
        confirm=("Проверьте, пожалуйста, всё ли теперь в порядке.",
                 "Напишите, пожалуйста, получилось ли.",
                 "Дайте знать, если что-то пойдёт не так."),
        no_reply=("Мы не получили от вас ответа, поэтому закрываем обращение. Если вопрос "
                  "остался — просто напишите нам, и мы продолжим.",
                  "Обращение закрываем, так как ответа не было. Если помощь ещё нужна — "
                  "ответьте на это сообщение."),
        reopen_replies=("Извините, что вопрос не решился с первого раза. Проверили ещё раз "
                        "и исправили.", "Приносим извинения! Мы повторно всё проверили."),
        escalation_replies=("Ваш вопрос требует проверки специалистами второй линии. Мы "
                            "передали обращение и вернёмся с ответом.",
                            "Подключаем к вопросу старших специалистов, ответим, как только "
                            "будет результат."),
        chat_acks=("Одну минуту, проверяю.", "Сейчас посмотрю, подождите, пожалуйста.",
                   "Секунду, уточняю информацию."),
        agent_closings=("Если останутся вопросы — просто ответьте на это письмо.",
                        "Хорошего дня!", "Будем рады помочь, если что-то ещё понадобится.",
                        "Спасибо за терпение!", ""),
        agent_signature="С уважением,\n{agent_full}\nСлужба заботы о клиентах «{shop}»",
        chat_signature="{agent}, поддержка «{shop}»",
        notes={
            "billing": ("Проверил{aa} в платёжном шлюзе: транзакция {txn}, сумма {amount}.",
                        "Сверил{aa} данные по заказу {order} с бухгалтерией — всё сходится.",
                        "Клиент уже обращался по этому заказу, см. историю."),
            "delivery": ("Позвонил{aa} в {courier}: посылка {track} на сортировке в {city_in}.",
                         "Курьер отметил «клиент не отвечает», но звонков в логах нет. "
                         "Написал{aa} жалобу в {courier}.",
                         "Трек {track} не обновляется с {date}, открыл{aa} розыск."),
            "technical": ("Воспроизводится на {os}, версия {app}. Создал{aa} баг MOB-{bug}.",
                          "В логах {error} около {time}, похоже на таймаут платёжного "
                          "сервиса.", "Не воспроизводится, попросил{aa} скриншот."),
            "returns": ("Склад подтвердил получение возврата, акт приёмки есть.",
                        "Фото подтверждают брак, возврат без экспертизы.",
                        "Товар вне 14-дневного срока, но брак — принимаем по гарантии."),
            "account": ("Личность подтверждена по последним цифрам карты *{card}.",
                        "Много неудачных попыток входа — похоже на подбор пароля, сбросил{aa} "
                        "сессии.", "Лимит СМС исчерпан, сбросил{aa} счётчик."),
        },
        escalation_reasons={
            "billing": ("Нужна проверка на стороне платёжного провайдера",
                        "Сумма возврата выше лимита первой линии"),
            "delivery": ("Нужен розыск посылки через руководство службы доставки",
                         "Повторная жалоба, нужно решение о компенсации"),
            "technical": ("Ошибка не воспроизводится на первой линии, нужен анализ логов",
                          "Подозрение на баг в платёжном модуле"),
            "returns": ("Спорный случай, нужна экспертиза",
                        "Клиент требует компенсацию сверх стандартной"),
            "account": ("Подозрение на взлом аккаунта",
                        "Нужны права администратора для разблокировки"),
        },
        transfer_reasons={
            "billing": "Вопрос по оплате — передаю в Финансы",
            "delivery": "Вопрос по доставке — передаю в Доставку",
            "technical": "Техническая проблема — передаю в Техподдержку",
            "returns": "Клиент хочет вернуть товар — передаю в Возвраты",
            "account": "Вопрос доступа к аккаунту — передаю в Техподдержку",
        },
        misroute_notes=("Попало не к нам по ошибке, передаю коллегам.",
                        "Это не наш профиль, переадресую.",
                        "Классификатор ошибся с категорией."),
        expert_notes=("Разобрал{aa} логи: {error}. Поправили вручную, отвечаю клиенту.",
                      "Согласовал{aa} компенсацию {bonus} бонусов с руководителем.",
                      "Написал{aa} партнёру напрямую, вопрос решён.",
                      "Проверил{aa} всю цепочку операций, ошибка на нашей стороне."),
        supervisor_notes=("Взял{aa} на контроль, клиент важный.",
                          "Коллеги, клиент ждёт больше суток — ответьте сегодня.",
                          "Проверьте, пожалуйста, не было ли похожих обращений."),
        priority_reasons=("Клиент очень недоволен", "VIP-клиент", "Повторное обращение",
                          "Риск жалобы"),
        reassign_reasons=("Перераспределение нагрузки", "Сотрудник на больничном",
                          "Нужен опыт по этой теме"),
        routing_reason="Правило маршрутизации: категория «{label}»",
        assign_reason="Автоназначение: навык {category}/{language}, уровень {level}",
        assign_by_load_reason="Автоназначение: наименьшая загрузка в команде",
        category_reason="Категория уточнена оператором",
        close_reason="Автоматически: решено более {days} дней назад",
        extra_tags=("жалоба", "компенсация", "повторное", "срочно", "на-контроле"),
    ),
    "en": _Phrases(
        greetings=("Hello,", "Hi,", "Good afternoon,", "Dear support team,", "Hello support,"),
        morning="Good morning,",
        evening="Good evening,",
        chat_greetings=("Hi", "Hello", "hey", ""),
        moods={
            "angry": ("This is unacceptable!", "How long do I have to wait?!",
                      "This is the third time I'm writing and nothing happens!",
                      "Terrible service.", "I am furious.",
                      "I will never order from you again.", "Is anyone even working there?",
                      "Absolutely disgraceful.", "I am going to file a complaint."),
            "neutral": ("Please look into this.", "What should I do?",
                        "Looking forward to your reply.", "Please help.", "", ""),
            "positive": ("Thanks in advance!", "I've always loved shopping with you.",
                         "Thank you for your usually great service!",
                         "Hoping you can help as always.", "Much appreciated!"),
        },
        contexts=("I'm a regular customer.",
                  "I've ordered many times and this never happened before.",
                  "This is not my first message about it."),
        order_contexts=("It was meant to be a birthday present.",
                        "I need it before I travel next week."),
        wants={
            "billing": ("Please refund me.", "When will I get my money back?",
                        "Refund me immediately!",
                        "Please sort out the payment."),
            "delivery": ("When will it arrive?", "Please speed up the delivery.",
                         "Where is the parcel now?"),
            "technical": ("How can I fix this?", "When will it be fixed?", "Please fix it."),
            "returns": ("How do I return it?", "Please refund me.", "What do I need to do?"),
            "account": ("Please help me get access.", "What should I do?", "Please help."),
        },
        signatures=("Best regards,\n{full_name}", "Thanks,\n{name}", "{full_name}",
                    "Kind regards,\n{full_name}", "Sent from my iPhone", ""),
        impatient=("Any news on my request?", "It's been hours and no reply. Hello?",
                   "Just following up on my request.", "Please answer!",
                   "When can I expect a reply?"),
        thanks=("Thank you so much, it worked!", "Thanks for your help, all sorted.",
                "Got it, thanks!", "Great, thank you for the quick help!",
                "Thanks {agent}, you've been very helpful!", "Thanks!"),
        persists=("You closed my request but the problem is not solved!",
                  "Nothing has changed.", "Why was this closed? It's not resolved.",
                  "Hello again."),
        infos={
            "billing": ("Order number {order}, card ending {card}, charged on {date}.",
                        "Bank screenshot attached. Amount {amount}, two identical charges."),
            "delivery": ("Order #{order}, phone {phone}. Address: {address}, {city}.",
                         "{promised} works for me, {slot}."),
            "technical": ("{device}, {os}, app version {app}. It happens every time.",
                          "It's my {device}, and it happened today around {time}."),
            "returns": ("Photos attached, order #{order}. Packaging is intact.",
                        "Order {order}, received on {date}."),
            "account": ("E-mail {email}, card ending {card}.",
                        "Logging in from my {device}, it says 'Wrong code'."),
        },
        chat_followups=("Can it be faster?", "OK, waiting", "ok", "Got it",
                        "How long will it take?"),
        agent_greetings=("Hello {name},", "Hi {name},", "Dear {name},", "Hello,"),
        chat_agent_greetings=("Hi {name}!", "Hello!", "Hi! I'm {agent}, happy to help."),
        empathy={
            "angry": ("We're sorry for the trouble this has caused.",
                      "I completely understand your frustration and I'm sorry this happened.",
                      "Apologies for the wait and for the inconvenience."),
            "neutral": ("Thank you for contacting us.", "Thanks for getting in touch.", ""),
            "positive": ("Thank you for your kind words!", "Thanks for being with us!"),
        },
        asks={
            "billing": ("To look into this, please send us the order number and the last 4 "
                        "digits of the card you paid with, plus a screenshot from your bank "
                        "app if you have one.",),
            "delivery": ("Could you confirm the order number and the recipient's phone "
                         "number? We'll check with the carrier.",
                         "Please let us know a convenient delivery window and your current "
                         "address."),
            "technical": ("Could you tell us your device model and app version (or browser, "
                          "if you use the website), and send a screenshot if possible?",),
            "returns": ("Please send photos of the item and packaging and the order number, "
                        "and we'll open the return.",),
            "account": ("To verify your identity, please confirm the account e-mail and the "
                        "last 4 digits of the card used for your last order.",),
        },
        holds={
            "billing": ("We have sent a request to the acquiring bank; the answer usually "
                        "takes 3-5 business days. We'll write as soon as we hear back.",),
            "delivery": ("We've opened a parcel search with {courier}. It takes up to 5 "
                         "business days and we'll let you know the result.",),
            "technical": ("We've passed this to our developers and reproduced the error. "
                          "We'll let you know when the fix is out.",),
            "returns": ("The item is with the service centre for inspection, which takes up "
                        "to 10 days. We'll e-mail you the result.",),
            "account": ("Your request is with our security team; the check takes up to 3 "
                        "business days.",),
        },
        hold_updates=("We're still waiting for an answer and will update you as soon as we "
                      "have it.", "The check is still in progress; we're keeping an eye on "
                      "it."),
        confirm=("Could you check whether everything is fine now?",
                 "Please let us know if it worked."),
        no_reply=("We haven't heard back from you, so we're closing this request. If you "
                  "still need help, just reply and we'll pick it up again.",),
        reopen_replies=("Sorry this wasn't fixed the first time. We've checked again and "
                        "corrected it.",),
        escalation_replies=("Your question needs a closer look from our second-line "
                            "specialists. We've passed it on and will get back to you.",),
        chat_acks=("One moment, checking.", "Let me look into it, please hold on."),
        agent_closings=("If you have any questions, just reply to this e-mail.",
                        "Have a great day!", "Thank you for your patience!", ""),
        agent_signature="Best regards,\n{agent_full}\n{shop} Customer Care",
        chat_signature="{agent}, {shop} support",
        notes={
            "billing": ("Checked the gateway: transaction {txn}, amount {amount}.",),
            "delivery": ("Called {courier}: parcel {track} is at the sorting centre.",),
            "technical": ("Reproduced on {os}, version {app}. Filed bug MOB-{bug}.",),
            "returns": ("Warehouse confirmed the return was received.",),
            "account": ("Identity verified with the card ending {card}.",),
        },
        escalation_reasons={
            "billing": ("Needs a check with the payment provider",),
            "delivery": ("Parcel search needs carrier management",),
            "technical": ("Cannot reproduce on first line, logs needed",),
            "returns": ("Disputed case, needs inspection",),
            "account": ("Possible account takeover",),
        },
        transfer_reasons={
            "billing": "Payment question — passing to Billing",
            "delivery": "Delivery question — passing to Delivery",
            "technical": "Technical issue — passing to Technical support",
            "returns": "Customer wants to return an item — passing to Returns",
            "account": "Account access — passing to Technical support",
        },
        misroute_notes=("Landed with us by mistake, passing on.",),
        expert_notes=("Went through the logs: {error}. Fixed manually.",),
        supervisor_notes=("Keeping an eye on this one, important customer.",),
        priority_reasons=("Customer very upset", "VIP customer", "Repeat contact"),
        reassign_reasons=("Rebalancing workload",),
        routing_reason="Routing rule: category “{label}”",
        assign_reason="Auto-assignment: skill {category}/{language}, level {level}",
        assign_by_load_reason="Auto-assignment: least loaded in the team",
        category_reason="Category corrected by agent",
        close_reason="Automatically: solved more than {days} days ago",
        extra_tags=("жалоба", "компенсация", "повторное"),
    ),
}

# --- the model of a load ----------------------------------------------------------------

SENTIMENTS = ("angry", "neutral", "positive")
MESSENGERS = frozenset({Channel.CHAT, Channel.TELEGRAM, Channel.WHATSAPP, Channel.VK})
CHANNELS = (Channel.EMAIL, Channel.CHAT, Channel.TELEGRAM, Channel.PORTAL, Channel.PHONE,
            Channel.WHATSAPP, Channel.VK, Channel.API)
CHANNEL_WEIGHTS = {"ru": (34, 18, 15, 10, 9, 6, 5, 3), "en": (45, 22, 8, 12, 3, 8, 0, 2)}
ORG_CHANNEL_WEIGHTS = (50, 6, 6, 18, 10, 3, 0, 7)
# Typical first response in staffed hours, minutes.
FIRST_RESPONSE = {Channel.CHAT: 3, Channel.TELEGRAM: 10, Channel.WHATSAPP: 10, Channel.VK: 12,
                  Channel.PHONE: 4, Channel.EMAIL: 55, Channel.PORTAL: 60, Channel.API: 70}
PRIORITY_PACE = {Priority.URGENT: 0.3, Priority.HIGH: 0.6, Priority.NORMAL: 1.0,
                 Priority.LOW: 1.6}
WEEKDAY_VOLUME = (1.18, 1.07, 1.0, 1.0, 0.93, 0.55, 0.5)
# Tickets by hour of the day, Moscow time: peaks at 10-13 and 15-17, a dip at lunch.
HOURLY_VOLUME = (0.6, 0.4, 0.3, 0.2, 0.2, 0.3, 0.6, 1.2, 2.5, 4.2, 5.8, 6.2, 6.0, 5.0, 4.4,
                 5.7, 6.0, 5.5, 4.4, 3.6, 3.0, 2.4, 1.7, 1.0)
AUTO_CLOSE = timedelta(days=4)


class _Do(enum.StrEnum):
    CUSTOMER = "customer"
    CREATE = "create"
    MESSAGE = "message"
    UPDATE = "update"
    ASSIGN = "assign"
    TRANSFER = "transfer"
    ESCALATE = "escalate"


@dataclass(frozen=True)
class _Org:
    name: str
    domain: str
    inn: str
    is_vip: bool
    is_english: bool


@dataclass(frozen=True)
class _Agent:
    user_id: int
    actor: Actor
    first_name: str
    full_name: str
    latin_name: str
    is_female: bool
    language: str
    role: Role
    teams: frozenset[str]
    skills: dict[tuple[str, str], int]


@dataclass
class _Person:
    name: str
    first_name: str
    is_female: bool
    language: str
    email: str
    phone: str
    has_phone: bool
    org: _Org | None
    is_org_manager: bool
    preferred: Channel
    handle: str
    activity: float
    channels: set[Channel] = field(default_factory=set)
    customer_id: int | None = None
    actor: Actor | None = None

    def identities(self) -> list[tuple[IdentityKind, str]]:
        # E-mail first: it decides the organisation, and it is what the other channels join.
        found = [(IdentityKind.EMAIL, self.email)]
        if self.has_phone or self.channels & {Channel.PHONE, Channel.WHATSAPP}:
            found.append((IdentityKind.PHONE, self.phone))
        if Channel.WHATSAPP in self.channels:
            found.append((IdentityKind.WHATSAPP, self.phone))
        if Channel.TELEGRAM in self.channels:
            found.append((IdentityKind.TELEGRAM, self.handle))
        if Channel.VK in self.channels:
            found.append((IdentityKind.VK, f"id{self.handle}"))
        if Channel.CHAT in self.channels:
            found.append((IdentityKind.CHAT, f"v-{int(self.handle):x}"))
        return found


@dataclass(slots=True)
class _Step:
    at: datetime
    do: _Do
    actor: Actor | None = None  # None: the ticket's customer
    text: str = ""
    is_internal: bool = False
    external_id: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    agent_id: int | None = None
    team_id: int | None = None
    reason: str | None = None


@dataclass
class _Plan:
    person: _Person
    channel: Channel
    language: str
    category: str
    team_id: int
    priority: Priority
    tags: list[str]
    subject: str = ""
    text: str = ""
    creator: Actor | None = SYSTEM  # None: the customer, through the portal
    assignee_id: int | None = None
    external_id: str | None = None
    steps: list[_Step] = field(default_factory=list)
    ticket_id: int | None = None


@dataclass
class _Tally:
    tickets: int = 0
    customers: int = 0
    messages: int = 0
    notes: int = 0
    transfers: int = 0
    escalations: int = 0


# --- time -------------------------------------------------------------------------------


def _opening_hours(local: datetime) -> tuple[int, int]:
    return (10, 19) if local.weekday() >= 5 else (9, 21)


def _staffed(at: datetime) -> datetime:
    """The first moment at or after `at` when the support desk works (Moscow hours)."""
    local = at.astimezone(MSK)
    for _ in range(3):
        opening, closing = _opening_hours(local)
        if local.hour < opening:
            return local.replace(hour=opening, minute=0, second=0, microsecond=0).astimezone(UTC)
        if local.hour < closing:
            return local.astimezone(UTC)
        local = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    raise AssertionError("opening hours never start")


def _ru_plural(n: int, one: str, few: str, many: str) -> str:
    if n % 10 == 1 and n % 100 != 11:
        return f"{n} {one}"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return f"{n} {few}"
    return f"{n} {many}"


def _day_text(day: datetime, language: str) -> str:
    if language == "ru":
        return f"{day.day} {MONTHS_GEN[day.month - 1]}"
    return f"{MONTHS_EN[day.month - 1]} {day.day}"


def _amount_text(rubles: int, language: str) -> str:
    if language == "ru":
        return f"{rubles:,}".replace(",", " ") + " ₽"
    return f"{rubles:,} RUB"


def _translit(text: str) -> str:
    return "".join(_TRANSLIT.get(ch, ch) for ch in text.lower()).replace("'", "")


# --- planning ---------------------------------------------------------------------------


class _Planner:
    """Draws people, the timeline and every ticket's story from one seeded generator."""

    def __init__(self, rng: random.Random, *, start: datetime, now: datetime,
                 agents: Sequence[_Agent], team_ids: dict[str, int]) -> None:
        self.rng, self.start, self.now = rng, start, now
        self.agents, self.team_ids = agents, team_ids
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        self.external_ids = 0

    def minutes(self, median: float, sigma: float = 0.9) -> timedelta:
        return timedelta(minutes=self.rng.lognormvariate(math.log(median), sigma))

    def agent_time(self, after: datetime, median: float) -> datetime:
        """When staff act: queued until opening hours, then a lognormal working delay."""
        begin = _staffed(after)
        if begin > after:  # the queue that piled up while nobody was at work
            begin += self.minutes(35, 0.8)
        done = begin + self.minutes(median)
        if _staffed(done) != done:
            done = _staffed(done) + self.minutes(20, 0.8)
        return done

    def customer_time(self, after: datetime, median: float) -> datetime:
        at = after + self.minutes(median, 1.0)
        local = at.astimezone(MSK)
        if 1 <= local.hour < 8:  # people sleep; the answer comes in the morning
            at = (local.replace(hour=8, minute=0, second=0, microsecond=0)
                  + timedelta(minutes=self.rng.uniform(0, 150))).astimezone(UTC)
        return at

    # -- people --

    def organizations(self, rows: Sequence[tuple[str, str, bool]]) -> list[_Org]:
        return [_Org(name=name, domain=domain, inn=str(self.rng.randint(10**9, 10**10 - 1)),
                     is_vip=is_vip, is_english=name.isascii())
                for name, domain, is_vip in rows]

    def people(self, count: int, orgs: Sequence[_Org]) -> list[_Person]:
        english = round(count * 0.2) if count >= 5 else 0
        return [self.person("en" if i < english else "ru", orgs) for i in range(count)]

    def person(self, language: str, orgs: Sequence[_Org]) -> _Person:
        rng = self.rng
        is_female = rng.random() < 0.55
        if language == "ru":
            first = rng.choice(RU_FEMALE if is_female else RU_MALE)
            last = self.surname(rng.choice(RU_SURNAMES), is_female)
        else:
            first = rng.choice(EN_FEMALE if is_female else EN_MALE)
            last = rng.choice(EN_SURNAMES)
        org = None
        if orgs and rng.random() < 0.3:
            fitting = [o for o in orgs if o.is_english == (language == "en")] or list(orgs)
            org = rng.choice(fitting)
        email = self.email(first, last, org)
        weights = ORG_CHANNEL_WEIGHTS if org else CHANNEL_WEIGHTS[language]
        preferred = rng.choices(CHANNELS, weights)[0]
        if preferred == Channel.API and org is None:
            preferred = Channel.EMAIL
        activity = min(rng.paretovariate(1.4), 25.0) * (1.3 if org else 1.0)
        return _Person(
            name=f"{first} {last}", first_name=first, is_female=is_female, language=language,
            email=email, phone=self.phone(language), has_phone=rng.random() < 0.35, org=org,
            is_org_manager=False, preferred=preferred,
            handle=str(rng.randint(100_000_000, 7_999_999_999)), activity=activity,
        )

    @staticmethod
    def surname(male: str, is_female: bool) -> str:
        if not is_female:
            return male
        if male.endswith(("ов", "ев", "ёв", "ин", "ын")):
            return male + "а"
        if male.endswith(("ский", "цкий")):
            return male[:-2] + "ая"
        return male

    def email(self, first: str, last: str, org: _Org | None) -> str:
        rng = self.rng
        f, l_ = _translit(first), _translit(last)
        if org is not None:
            local, domain = rng.choice((f"{f[0]}.{l_}", f"{f}.{l_}", f"{l_}")), org.domain
        else:
            local = rng.choice((f"{f}.{l_}", f"{l_}.{f}", f"{f[0]}{l_}", f"{f}{l_[0]}",
                                f"{f}.{l_}{rng.randint(70, 99)}", f"{l_}{rng.randint(1, 999)}"))
            domain = rng.choices(FREE_MAIL, FREE_MAIL_WEIGHTS)[0]
        address, n = f"{local}@{domain}", 1
        while address in self.emails:
            n += 1
            address = f"{local}{n}@{domain}"
        self.emails.add(address)
        return address

    def phone(self, language: str) -> str:
        rng = self.rng
        for _ in range(50):
            if language == "en" and rng.random() < 0.8:
                # Ofcom keeps 07700 900000-900999 for fiction; no real person has them.
                number = f"+44 7700 900{rng.randint(0, 999):03d}"
            else:
                number = (f"+7 9{rng.randint(0, 99):02d} {rng.randint(0, 999):03d}-"
                          f"{rng.randint(0, 99):02d}-{rng.randint(0, 99):02d}")
            if number not in self.phones:
                self.phones.add(number)
                return number
        raise AssertionError("no free phone number")

    # -- timeline --

    def ticket_times(self, count: int) -> list[tuple[datetime, str | None]]:
        """Creation times with weekly and daily rhythm, a slow rise and incident days."""
        days = self.local_days()
        spikes = self.spikes(count, len(days), days)
        base = count - sum(n for _c, _at, n in spikes)
        weights = []
        for i, day in enumerate(days):
            hours = self.open_hours(day)
            mass = sum(HOURLY_VOLUME[h] for h in hours) / sum(HOURLY_VOLUME)
            trend = 0.85 + 0.3 * i / max(len(days) - 1, 1)
            weights.append(WEEKDAY_VOLUME[day.weekday()] * trend * mass
                           * self.rng.uniform(0.9, 1.1))
        times: list[tuple[datetime, str | None]] = []
        for day in self.rng.choices(days, weights, k=base):
            times.append((self.moment(day), None))
        for category, outbreak, n in spikes:
            for _ in range(n):
                times.append((self.after_outbreak(outbreak), category))
        times.sort(key=lambda item: item[0])
        return times

    def local_days(self) -> list[datetime]:
        first = self.start.astimezone(MSK).replace(hour=0, minute=0, second=0, microsecond=0)
        days, day = [], first
        while day <= self.now:
            days.append(day)
            day = (day + timedelta(days=1)).replace(hour=0)
        return days

    def open_hours(self, day: datetime) -> list[int]:
        return [h for h in range(24) if day + timedelta(hours=h + 1) > self.start
                and day + timedelta(hours=h) < self.now]

    def moment(self, day: datetime) -> datetime:
        hours = self.open_hours(day)
        while True:
            hour = self.rng.choices(hours, [HOURLY_VOLUME[h] for h in hours])[0]
            at = day + timedelta(hours=hour, seconds=self.rng.uniform(0, 3600))
            if self.start <= at <= self.now:
                return at.astimezone(UTC)

    def spikes(self, count: int, n_days: int,
               days: Sequence[datetime]) -> list[tuple[str, datetime, int]]:
        if n_days < 14 or count < 300:
            return []
        daily = count / n_days
        found = []
        for category, share, size in (("delivery", 0.62, 1.8), ("billing", 0.3, 0.9)):
            day = days[int(n_days * share)]
            while day.weekday() >= 4:  # incidents in this story happen on working days
                day += timedelta(days=1)
            outbreak = day + timedelta(hours=10, minutes=self.rng.randint(0, 90))
            if outbreak < self.now - timedelta(days=2):
                found.append((category, outbreak, int(daily * size)))
        return found

    def after_outbreak(self, outbreak: datetime) -> datetime:
        while True:
            at = outbreak + timedelta(hours=self.rng.expovariate(1 / 7))
            local = at.astimezone(MSK)
            if at <= outbreak + timedelta(hours=36) and not 2 <= local.hour < 7:
                return at.astimezone(UTC)

    # -- who writes which ticket --

    def owners(self, times: Sequence[tuple[datetime, str | None]],
               people: Sequence[_Person]) -> list[_Person]:
        """The author of each ticket: everybody writes at least once, some write a lot."""
        by_language: dict[str, list[int]] = {"ru": [], "en": []}
        pools = {lang: [p for p in people if p.language == lang] for lang in ("ru", "en")}
        for i, (_at, spike) in enumerate(times):
            language = "en" if self.rng.random() < (0.1 if spike else 0.2) else "ru"
            if not pools[language]:
                language = "ru" if language == "en" else "en"
            by_language[language].append(i)
        owners: list[_Person | None] = [None] * len(times)
        for language, slots in by_language.items():
            pool = pools[language]
            if not slots:
                continue
            first = list(pool) if len(slots) >= len(pool) else self.rng.sample(pool, len(slots))
            extra = self.rng.choices(pool, [p.activity for p in pool], k=len(slots) - len(first))
            chosen = first + extra
            self.rng.shuffle(chosen)
            for slot, person in zip(slots, chosen, strict=True):
                owners[slot] = person
        return [p for p in owners if p is not None]

    def channel_for(self, person: _Person) -> Channel:
        if self.rng.random() < 0.65:
            return person.preferred
        weights = ORG_CHANNEL_WEIGHTS if person.org else CHANNEL_WEIGHTS[person.language]
        channel = self.rng.choices(CHANNELS, weights)[0]
        return Channel.EMAIL if channel == Channel.API and person.org is None else channel

    # -- staff --

    def pick_agent(self, team: str, category: str, language: str,
                   *, other_than: _Agent | None = None) -> _Agent:
        candidates, weights = [], []
        for agent in self.agents:
            if team not in agent.teams or agent is other_than:
                continue
            speaks = language == agent.language or any(
                lang == language for _c, lang in agent.skills)
            weight = float(agent.skills.get((category, language), 0.3 if speaks else 0.0))
            if agent.role == Role.SUPERVISOR:
                weight *= 0.15
            candidates.append(agent)
            weights.append(weight)
        if not candidates:
            raise AssertionError(f"team {team} has no agents")
        if not any(weights):
            return self.rng.choice(candidates)
        return self.rng.choices(candidates, weights)[0]

    def supervisor_of(self, team: str) -> _Agent:
        bosses = [a for a in self.agents if a.role == Role.SUPERVISOR and team in a.teams]
        return self.rng.choice(bosses or [a for a in self.agents if a.role == Role.SUPERVISOR])

    # -- one ticket --

    def slots(self, person: _Person, at: datetime) -> dict[str, str]:
        rng, language = self.rng, person.language
        local = at.astimezone(MSK)
        past = local - timedelta(days=rng.randint(1, 12))
        promised = local + timedelta(days=rng.randint(1, 5))
        city, city_in = rng.choices(CITIES[language], CITY_WEIGHTS[language])[0]
        device, system = rng.choice(DEVICES)
        os_version = (f"iOS 17.{rng.randint(0, 5)}" if system == "iOS"
                      else f"Android {rng.randint(11, 14)}")
        waited = rng.randint(3, 14)
        price = rng.choice((490, 990, 1_490, 2_490, 3_990, 5_990, 8_990, 12_990, 24_990,
                            39_990, 59_990)) + rng.choice((0, 0, 0, 1_000, 500))
        last4 = f"{rng.randint(0, 9999):04d}"
        return {
            "order": f"{rng.randint(10, 99)}{rng.randint(0, 99999):05d}",
            "product": rng.choice(PRODUCTS[language]),
            "garment": rng.choice(GARMENTS[language]),
            "amount": _amount_text(price, language),
            "date": _day_text(past, language),
            "promised": _day_text(promised, language),
            "month": (MONTHS_NOM if language == "ru" else MONTHS_EN)[(local.month - 2) % 12],
            "city": city, "city_in": city_in,
            "address": f"{rng.choice(STREETS[language])}, "
                       f"{rng.randint(1, 120)}" + (f", кв. {rng.randint(1, 300)}"
                                                   if language == "ru" else ""),
            "courier": rng.choice(COURIERS[language]),
            "track": rng.choice((f"1{rng.randint(0, 10**9 - 1):09d}",
                                 f"RA{rng.randint(0, 10**9 - 1):09d}RU",
                                 f"LK-{rng.randint(0, 10**7 - 1):07d}")),
            "card": last4,
            "device": device, "os": os_version,
            "app": f"{rng.randint(4, 5)}.{rng.randint(0, 19)}.{rng.randint(0, 9)}",
            "error": rng.choice(ERRORS), "browser": rng.choice(BROWSERS[language]),
            "promo": rng.choice(PROMOS),
            "bonus": str(rng.choice((150, 200, 300, 500, 500, 1000))),
            "size": rng.choice(SIZES[language]),
            "days": (_ru_plural(waited, "день", "дня", "дней") if language == "ru"
                     else f"{waited} days"),
            "slot": rng.choice(SLOTS_TIME),
            "invoice": f"{local.year % 100}-{rng.randint(1000, 99999)}",
            "inn": person.org.inn if person.org else str(rng.randint(10**9, 10**10 - 1)),
            "org": person.org.name if person.org else person.name,
            "email": person.email, "phone": person.phone,
            "txn": f"{rng.getrandbits(48):012x}".upper(),
            "bug": str(rng.randint(1000, 9999)),
            "time": f"{rng.randint(9, 21)}:{rng.choice(('00', '15', '20', '30', '45', '50'))}",
            "refund_days": rng.choice(("3–5", "5–7", "3–10", "до 10")) if language == "ru"
            else rng.choice(("3-5", "5-7", "3-10")),
            "name": person.first_name, "full_name": person.name,
            "a": "а" if person.is_female else "",
            "grateful": "благодарна" if person.is_female else "благодарен",
            "shop": SHOP[language],
        }

    def external_id(self, channel: Channel, person: _Person) -> str | None:
        self.external_ids += 1
        n, salt = self.external_ids, self.rng.getrandbits(40)
        match channel:
            case Channel.EMAIL:
                return f"<{salt:010x}.{n}@{person.email.rpartition('@')[2]}>"
            case Channel.TELEGRAM:
                return f"tg:{900_000_000 + n}"
            case Channel.WHATSAPP:
                return f"wamid.{salt:010x}{n}"
            case Channel.VK:
                return f"vk:{n}"
        return None

    def issue_for(self, person: _Person, spike: str | None) -> _Issue:
        if spike is not None:
            return self.rng.choice(SPIKE_ISSUES[person.language][spike])
        category = self.rng.choices(CATEGORIES, CATEGORY_WEIGHTS)[0]
        issues = [i for i in ISSUES[person.language]
                  if i.category == category and (person.org or not i.needs_org)]
        return self.rng.choices(issues, [i.weight * (3 if i.needs_org else 1) for i in issues])[0]

    def plan(self, at: datetime, person: _Person, spike: str | None) -> _Plan:
        rng = self.rng
        channel = self.channel_for(person)
        person.channels.add(channel)
        issue = self.issue_for(person, spike)
        sentiment = rng.choices(SENTIMENTS, (50, 45, 5) if spike else (22, 60, 18))[0]
        priority = rng.choices((Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT),
                               (10, 76, 11, 3))[0]
        if person.org and person.org.is_vip and priority != Priority.URGENT and rng.random() < 0.5:
            priority = Priority.HIGH
        if sentiment == "angry" and priority == Priority.LOW:
            priority = Priority.NORMAL
        tags = set(issue.tags) if spike or rng.random() < 0.55 else set()
        if person.org:
            tags |= {"b2b", "vip"} if person.org.is_vip else {"b2b"}
        plan = _Plan(person=person, channel=channel, language=person.language,
                     category=issue.category, team_id=0, priority=priority, tags=sorted(tags))
        story = _Story(self, plan, issue, sentiment, self.slots(person, at),
                       slow=3.0 if spike else 1.0)
        story.tell(at)
        return plan


class _Story:
    """One ticket's life as timed steps; the caller drops the steps that lie after now."""

    def __init__(self, planner: _Planner, plan: _Plan, issue: _Issue, sentiment: str,
                 slots: dict[str, str], *, slow: float) -> None:
        self.p, self.plan, self.issue, self.sentiment = planner, plan, issue, sentiment
        self.rng = planner.rng
        self.book = BOOKS[plan.language]
        self.base_slots, self.slow = slots, slow
        self.messenger = plan.channel in MESSENGERS
        self.spoken = plan.channel == Channel.PHONE  # the agent notes what was said on a call
        self.category = issue.category
        self.tags = list(plan.tags)
        self.t = datetime.min.replace(tzinfo=UTC)
        self.agent: _Agent | None = None
        self.team = TEAM_OF_CATEGORY[self.category]
        self.replied = False

    # -- words --

    def say(self, template: str, agent: _Agent | None = None) -> str:
        agent = agent or self.agent
        slots = dict(self.base_slots)
        if agent is not None:
            full = agent.latin_name if self.plan.language == "en" else agent.full_name
            slots.update(agent=full.split()[0], agent_full=full,
                         aa="а" if agent.is_female else "")
        return template.format_map(slots)

    def pick(self, options: Sequence[str]) -> str:
        return self.rng.choice(options)

    def opening(self, at: datetime) -> tuple[str, str]:
        rng, book = self.rng, self.book
        problem = self.pick(self.issue.problems)
        mood = self.pick(book.moods[self.sentiment])
        contexts = book.contexts + (book.order_contexts if self.category in (
            "delivery", "returns", "billing") else ())
        context = self.pick(contexts) if rng.random() < 0.2 else ""
        wants = self.issue.wants or book.wants[self.category]
        want = self.pick(wants) if rng.random() < 0.6 else ""
        first, then = (mood, "") if self.sentiment == "angry" and rng.random() < 0.5 else ("", mood)
        if self.messenger:
            body = " ".join(p for p in (first, problem, then, want) if p)
            if self.sentiment == "angry" and rng.random() < 0.3:
                body = body.rstrip(".!?") + "!!!"
            greeting = self.pick(book.chat_greetings)
            text = f"{greeting}! {body}" if greeting and rng.random() < 0.5 else (
                f"{greeting}\n{body}" if greeting else body)
            subject = self.say(problem).split(". ")[0].split("! ")[0]
            if len(subject) > 80:
                subject = subject[:77].rsplit(" ", 1)[0] + "…"
            return subject, self.say(text)
        subject = self.pick(self.issue.subjects)
        if self.spoken:
            text = " ".join(p for p in (first, problem, context, then, want) if p)
            return self.say(subject), self.say(text)
        hour = at.astimezone(MSK).hour
        greeting = (book.morning if hour < 11 and rng.random() < 0.4 else
                    book.evening if hour >= 18 and rng.random() < 0.4 else
                    self.pick(book.greetings))
        paragraphs = (greeting, " ".join(p for p in (first, problem, context) if p),
                      " ".join(p for p in (then, want) if p),
                      self.pick(book.signatures))
        text = "\n\n".join(p for p in paragraphs if p)
        if self.sentiment == "angry" and rng.random() < 0.2:
            subject = ("СРОЧНО: " if self.plan.language == "ru" else "URGENT: ") + subject
        return self.say(subject), self.say(text)

    def agent_text(self, body: str, *, first: bool = False) -> str:
        book, rng = self.book, self.rng
        empathy = self.pick(book.empathy[self.sentiment]) if first else ""
        if self.spoken:
            return self.say(" ".join(p for p in (empathy, body) if p))
        if self.messenger:
            greeting = self.pick(book.chat_agent_greetings) if first else ""
            text = " ".join(p for p in (greeting, empathy, body) if p)
            if first and rng.random() < 0.4:
                text += "\n" + book.chat_signature
            return self.say(text)
        greeting = self.pick(book.agent_greetings)
        paragraphs = (greeting, empathy, body, self.pick(book.agent_closings),
                      book.agent_signature)
        return self.say("\n\n".join(p for p in paragraphs if p))

    # -- steps --

    def at(self, when: datetime) -> datetime:
        self.t = max(when, self.t)
        return self.t

    def step(self, when: datetime, do: _Do, **fields: Any) -> None:
        self.plan.steps.append(_Step(self.at(when), do, **fields))

    def customer_says(self, when: datetime, text: str) -> None:
        self.step(when, _Do.MESSAGE, text=self.say(text),
                  external_id=self.p.external_id(self.plan.channel, self.plan.person))

    def agent_says(self, when: datetime, body: str, *, status: Status | None = None,
                   first: bool = False) -> None:
        assert self.agent is not None
        self.step(when, _Do.MESSAGE, actor=self.agent.actor,
                  text=self.agent_text(body, first=first))
        self.replied = True
        if status is not None:
            self.set_status(status)

    def note(self, when: datetime, text: str, agent: _Agent | None = None) -> None:
        author = agent or self.agent
        assert author is not None
        self.step(when, _Do.MESSAGE, actor=author.actor, text=self.say(text, author),
                  is_internal=True)

    def set_status(self, status: Status, *, when: datetime | None = None,
                   actor: Actor | None = None, reason: str | None = None) -> None:
        assert self.agent is not None
        self.step(when or self.t, _Do.UPDATE, actor=actor or self.agent.actor,
                  changes={"status": status}, reason=reason)

    def staff_book(self, agent: _Agent) -> _Phrases:
        return BOOKS[agent.language]

    # -- the plot --

    def tell(self, created: datetime) -> None:
        rng, plan = self.rng, self.plan
        self.t = created
        misrouted = plan.channel != Channel.PHONE and rng.random() < 0.085
        first_category = self.wrong_category() if misrouted else self.category
        first_team = TEAM_OF_CATEGORY[first_category]
        plan.category, plan.team_id = first_category, self.p.team_ids[first_team]
        self.agent = self.p.pick_agent(first_team, first_category, plan.language)
        plan.subject, plan.text = self.opening(created)
        plan.external_id = self.p.external_id(plan.channel, plan.person)
        pace = FIRST_RESPONSE[plan.channel] * PRIORITY_PACE[plan.priority] * self.slow
        if rng.random() < 0.015:
            pace *= 40  # the ticket that fell through the cracks
        self.step(created, _Do.CREATE)
        if plan.channel == Channel.PHONE:
            plan.creator, plan.assignee_id = self.agent.actor, self.agent.user_id
        elif plan.channel == Channel.PORTAL:
            plan.creator = None
            self.route(created + timedelta(seconds=rng.randint(1, 40)), first_category)
        first_reply = self.p.agent_time(created, pace)
        if plan.channel != Channel.PHONE:
            # Routing gives tickets to agents who are at work, so off-hours tickets wait.
            assigned = self.p.agent_time(created, pace * 0.3)
            first_reply = max(first_reply, assigned + self.p.minutes(pace * 0.5))
            self.assign(assigned, first_team)
        if first_reply - created > timedelta(hours=3) and rng.random() < 0.35:
            wait = (first_reply - created) * rng.uniform(0.3, 0.8)
            self.customer_says(created + wait, self.pick(self.book.impatient))
        if misrouted:
            self.transfer(first_category)
            first_reply = max(first_reply, self.p.agent_time(self.t, pace))
        elif rng.random() < 0.02:
            self.reassign()
        if rng.random() < 0.05:
            self.raise_priority()
        self.resolve(first_reply)

    def wrong_category(self) -> str:
        team = TEAM_OF_CATEGORY[self.category]
        return self.rng.choice([c for c in CATEGORIES if TEAM_OF_CATEGORY[c] != team])

    def route(self, when: datetime, category: str) -> None:
        # The system speaks the desk's language, Russian, whatever the customer writes in.
        reason = BOOKS["ru"].routing_reason.format(label=CATEGORY_LABELS["ru"][category])
        self.step(when, _Do.UPDATE, actor=SYSTEM, reason=reason,
                  changes={"team_id": self.plan.team_id, "priority": self.plan.priority,
                           "tags": self.plan.tags})

    def assign(self, when: datetime, team: str) -> None:
        assert self.agent is not None
        if self.rng.random() < 0.6:
            level = self.agent.skills.get((self.category, self.plan.language))
            reason = BOOKS["ru"].assign_reason.format(
                category=self.category, language=self.plan.language, level=level,
            ) if level else BOOKS["ru"].assign_by_load_reason
            self.step(when, _Do.ASSIGN, actor=SYSTEM, agent_id=self.agent.user_id, reason=reason)
        else:
            self.step(when, _Do.ASSIGN, actor=self.agent.actor, agent_id=self.agent.user_id)

    def transfer(self, first_category: str) -> None:
        rng, agent = self.rng, self.agent
        assert agent is not None
        book = self.staff_book(agent)
        when = self.p.agent_time(self.t, 10)
        if rng.random() < 0.5:
            self.note(when, self.pick(book.misroute_notes))
        self.step(when, _Do.UPDATE, actor=agent.actor, changes={"category": self.category},
                  reason=book.category_reason)
        self.step(when, _Do.TRANSFER, actor=agent.actor, team_id=self.p.team_ids[self.team],
                  reason=book.transfer_reasons[self.category])
        if self.team in agent.teams:
            return  # the agent works in both teams and keeps the ticket
        self.agent = self.p.pick_agent(self.team, self.category, self.plan.language)
        self.assign(self.p.agent_time(when, 25), self.team)

    def reassign(self) -> None:
        agent = self.agent
        assert agent is not None
        boss = self.p.supervisor_of(self.team)
        other = self.p.pick_agent(self.team, self.category, self.plan.language, other_than=agent)
        if other is agent:
            return
        self.step(self.p.agent_time(self.t, 20), _Do.ASSIGN, actor=boss.actor,
                  agent_id=other.user_id, reason=self.pick(self.staff_book(boss).reassign_reasons))
        self.agent = other

    def raise_priority(self) -> None:
        assert self.agent is not None
        target = Priority.URGENT if self.plan.priority == Priority.HIGH else Priority.HIGH
        self.step(self.t, _Do.UPDATE, actor=self.agent.actor, changes={"priority": target},
                  reason=self.pick(self.staff_book(self.agent).priority_reasons))

    def resolve(self, first_reply: datetime) -> None:
        rng = self.rng
        book = self.book
        if self.messenger and rng.random() < 0.4:
            self.agent_says(first_reply, self.pick(book.chat_acks), first=True)
            first_reply += timedelta(minutes=rng.uniform(1, 6))
        flow = rng.choices(("solve", "ask", "hold", "escalate"), (36, 46, 12, 3))[0]
        if rng.random() < 0.05:
            self.add_tag(first_reply)
        if flow == "solve":
            self.solve(first_reply, first=not self.replied)
        elif flow == "ask":
            self.ask(first_reply)
        elif flow == "hold":
            self.hold(first_reply)
        else:
            self.escalate(first_reply)
        self.after_solved()

    def agent_pace(self) -> float:
        return 6.0 if self.messenger else 70.0

    def customer_pace(self) -> float:
        return 8.0 if self.messenger else 240.0 if self.plan.channel == Channel.PHONE else 150.0

    def solve(self, when: datetime, *, first: bool = False, may_note: bool = True) -> None:
        """Send the solution; sometimes wait for the customer to confirm before solving."""
        rng, book = self.rng, self.book
        if may_note and rng.random() < 0.3:
            self.note(when - timedelta(minutes=rng.uniform(1, 8)),
                      self.pick(self.staff_book(self.agent_or_fail()).notes[self.category]))
        solution = self.pick(self.issue.solutions)
        if rng.random() < 0.35:
            self.agent_says(when, f"{solution} {self.pick(book.confirm)}", first=first,
                            status=Status.PENDING)
            if rng.random() < 0.7:
                self.customer_says(self.p.customer_time(self.t, self.customer_pace()),
                                   self.pick(book.thanks))
                self.set_status(Status.SOLVED,
                                when=self.p.agent_time(self.t, self.agent_pace() / 2))
            else:
                self.set_status(Status.SOLVED, when=self.p.agent_time(
                    self.t + timedelta(days=rng.uniform(2, 4)), 30))
            return
        self.agent_says(when, solution, first=first, status=Status.SOLVED)

    def ask(self, when: datetime) -> None:
        rng, book = self.rng, self.book
        self.agent_says(when, self.pick(book.asks[self.category]), first=not self.replied,
                        status=Status.PENDING)
        if rng.random() > 0.88:
            self.agent_says(self.p.agent_time(self.t + timedelta(days=rng.uniform(4, 7)), 30),
                            self.pick(book.no_reply), status=Status.SOLVED)
            return
        self.customer_says(self.p.customer_time(self.t, self.customer_pace()),
                           self.pick(book.infos[self.category]))
        if self.messenger and rng.random() < 0.4:
            self.customer_says(self.t + timedelta(minutes=rng.uniform(0.5, 4)),
                               self.pick(book.chat_followups))
        if rng.random() < 0.18:
            self.agent_says(self.p.agent_time(self.t, self.agent_pace()),
                            self.pick(book.asks[self.category]), status=Status.PENDING)
            self.customer_says(self.p.customer_time(self.t, self.customer_pace()),
                               self.pick(book.infos[self.category]))
        self.solve(self.p.agent_time(self.t, self.agent_pace()))

    def hold(self, when: datetime) -> None:
        rng, book = self.rng, self.book
        agent = self.agent_or_fail()
        self.agent_says(when, self.pick(book.holds[self.category]), first=not self.replied)
        self.note(self.t + timedelta(minutes=rng.uniform(1, 10)),
                  self.pick(self.staff_book(agent).notes[self.category]))
        self.set_status(Status.ON_HOLD)
        back = self.t + timedelta(minutes=rng.lognormvariate(math.log(3 * 24 * 60), 0.8))
        if rng.random() < 0.25:
            self.customer_says(self.p.customer_time(self.t, 24 * 60), self.pick(book.impatient))
            self.agent_says(self.p.agent_time(self.t, self.agent_pace()),
                            self.pick(book.hold_updates), status=Status.ON_HOLD)
        self.solve(self.p.agent_time(max(back, self.t), 30))

    def escalate(self, when: datetime) -> None:
        rng, book = self.rng, self.book
        agent = self.agent_or_fail()
        staff = self.staff_book(agent)
        self.agent_says(when, self.pick(book.escalation_replies), first=not self.replied)
        reason = self.pick(staff.escalation_reasons[self.category])
        if rng.random() < 0.5:
            self.note(self.t + timedelta(minutes=rng.uniform(1, 5)), reason)
        self.step(self.t + timedelta(minutes=rng.uniform(1, 15)), _Do.ESCALATE,
                  actor=agent.actor, reason=reason)
        expert = self.p.pick_agent("experts", self.category, self.plan.language)
        self.agent = expert
        self.step(self.p.agent_time(self.t, 90), _Do.ASSIGN, actor=expert.actor,
                  agent_id=expert.user_id)
        self.note(self.p.agent_time(self.t, 60), self.pick(self.staff_book(expert).expert_notes))
        if rng.random() < 0.3:
            boss = self.p.supervisor_of("experts")
            self.note(self.p.agent_time(self.t, 30),
                      self.pick(self.staff_book(boss).supervisor_notes), boss)
        self.solve(self.p.agent_time(self.t, 120), may_note=False)

    def add_tag(self, when: datetime) -> None:
        agent = self.agent_or_fail()
        tag = self.pick(self.staff_book(agent).extra_tags)
        if tag in self.tags:
            return
        self.tags = sorted({*self.tags, tag})
        self.step(when, _Do.UPDATE, actor=agent.actor, changes={"tags": self.tags})

    def after_solved(self) -> None:
        """Reopen a few, then the system closes what stayed solved for four days."""
        rng, book = self.rng, self.book
        roll = rng.random()
        if roll < 0.042:
            complaint = self.pick(self.issue.persists)
            if rng.random() < 0.4:
                complaint = f"{self.pick(book.persists)} {complaint}"
            self.customer_says(self.p.customer_time(self.t, 18 * 60), complaint)
            self.agent_says(self.p.agent_time(self.t, self.agent_pace()),
                            f"{self.pick(book.reopen_replies)} {self.pick(self.issue.solutions)}",
                            status=Status.SOLVED)
        elif roll < 0.055:
            self.customer_says(self.p.customer_time(self.t, 60), self.pick(book.thanks))
            self.set_status(Status.SOLVED, when=self.p.agent_time(self.t, 20))
        close_at = self.t + AUTO_CLOSE + timedelta(minutes=rng.uniform(0, 60))
        self.set_status(Status.CLOSED, when=close_at, actor=SYSTEM,
                        reason=BOOKS["ru"].close_reason.format(days=AUTO_CLOSE.days))

    def agent_or_fail(self) -> _Agent:
        assert self.agent is not None
        return self.agent


# --- running the plan through the services ----------------------------------------------

_Entry = tuple[datetime, int, _Step, "_Plan | _Person"]


class _Runner:
    """Replays every step in time order through the services, committing in batches."""

    def __init__(self, database: Database, clock: FrozenClock, *, agent_ids: Sequence[int],
                 team_ids: Sequence[int]) -> None:
        self.database, self.clock = database, clock
        self.agent_ids, self.team_ids = agent_ids, team_ids
        self.tally = _Tally()
        # The session's identity map holds clean objects only weakly. Holding the staff
        # for the life of a batch spares most service calls a reload of the agent with
        # teams and skills (four queries). Holding tickets would not help: the selectin
        # loader of their tags runs again on every query that returns them.
        self.held: list[object] = []

    def run(self, timeline: Sequence[_Entry]) -> _Tally:
        for batch in _batches(timeline, BATCH):
            with self.database.sessions() as session:
                # Written as history in the same transaction, so a running server's
                # dispatcher never takes 90 days of events for news.
                session.info[outbox.AS_HISTORY] = True
                self.hold_staff(session)
                for at, _seq, step, target in batch:
                    self.clock.advance(at - self.clock.current)
                    self.perform(session, step, target)
                session.commit()
                self.held.clear()
        return self.tally

    def hold_staff(self, session: Session) -> None:
        self.held = [identity.get_user(session, user_id) for user_id in self.agent_ids]
        self.held += [identity.get_team(session, team_id) for team_id in self.team_ids]

    def perform(self, session: Session, step: _Step, target: _Plan | _Person) -> None:
        if isinstance(target, _Person):
            self.create_customer(session, target)
            return
        if step.do == _Do.CREATE:
            self.create_ticket(session, target)
            return
        ticket_id, clock = target.ticket_id, self.clock
        assert ticket_id is not None
        actor = step.actor or target.person.actor
        assert actor is not None
        match step.do:
            case _Do.MESSAGE:
                message = NewMessage(text=step.text, is_internal=step.is_internal,
                                     external_id=step.external_id)
                tickets.add_message(session, ticket_id, message, actor=actor, clock=clock)
                if step.is_internal:
                    self.tally.notes += 1
                else:
                    self.tally.messages += 1
            case _Do.UPDATE:
                tickets.update_ticket(session, ticket_id, step.changes, actor=actor,
                                      reason=step.reason, clock=clock)
            case _Do.ASSIGN:
                tickets.assign_ticket(session, ticket_id, step.agent_id, actor=actor,
                                      reason=step.reason, clock=clock)
            case _Do.TRANSFER:
                tickets.transfer_ticket(session, ticket_id, actor=actor, reason=step.reason or "",
                                        team_id=step.team_id, clock=clock)
                self.tally.transfers += 1
            case _Do.ESCALATE:
                tickets.escalate_ticket(session, ticket_id, actor=actor,
                                        reason=step.reason or "", clock=clock)
                self.tally.escalations += 1

    def create_customer(self, session: Session, person: _Person) -> None:
        customer = identity.find_or_create_customer(
            session, identities=person.identities(), name=person.name, clock=self.clock,
            language=person.language, sees_organization_tickets=person.is_org_manager)
        person.customer_id = customer.id
        person.actor = identity.actor_for_customer(customer)
        self.tally.customers += 1

    def create_ticket(self, session: Session, plan: _Plan) -> None:
        person = plan.person
        if person.customer_id is None:
            self.create_customer(session, person)
        assert person.actor is not None
        message = NewMessage(text=plan.text, external_id=plan.external_id)
        if plan.creator is None and plan.channel in (Channel.PORTAL, Channel.API):
            # A customer in the portal chooses no team and no tags; routing adds them next.
            ticket = tickets.create_ticket(
                session, actor=person.actor, subject=plan.subject, message=message,
                channel=plan.channel, category=plan.category, language=plan.language,
                clock=self.clock)
        elif plan.creator is None:
            # E-mail, chat, messengers and phone arrive through their channel adapters,
            # which act as the system on the customer's behalf.
            ticket = tickets.create_ticket(
                session, actor=SYSTEM, subject=plan.subject, message=message,
                channel=plan.channel, customer_id=person.customer_id, category=plan.category,
                language=plan.language, clock=self.clock)
        else:
            ticket = tickets.create_ticket(
                session, actor=plan.creator, subject=plan.subject, message=message,
                channel=plan.channel, customer_id=person.customer_id, priority=plan.priority,
                team_id=plan.team_id, assignee_id=plan.assignee_id, category=plan.category,
                language=plan.language, tags=plan.tags, clock=self.clock)
        plan.ticket_id = ticket.id
        self.tally.tickets += 1
        self.tally.messages += 1


def _batches(timeline: Sequence[_Entry], size: int) -> Iterator[Sequence[_Entry]]:
    """Slices holding `size` new tickets (or customers) each, so a commit covers a batch."""
    begin, opened = 0, 0
    for i, (_at, _seq, step, _target) in enumerate(timeline):
        if step.do in (_Do.CREATE, _Do.CUSTOMER):
            if opened == size:
                yield timeline[begin:i]
                begin, opened = i, 0
            opened += 1
    if begin < len(timeline):
        yield timeline[begin:]


def _timeline(plans: Sequence[_Plan], loners: Sequence[tuple[datetime, _Person]],
              now: datetime) -> list[_Entry]:
    """Every step up to now, in time order; what would happen later is not history yet."""
    entries: list[_Entry] = []
    for plan in plans:
        for step in plan.steps:
            if step.at > now:
                break
            entries.append((step.at, len(entries), step, plan))
    for at, person in loners:
        entries.append((at, len(entries), _Step(at, _Do.CUSTOMER), person))
    entries.sort(key=lambda entry: (entry[0], entry[1]))
    return entries


# --- staff and organisations ------------------------------------------------------------


def _create_staff(session: Session, clock: Clock) -> tuple[dict[str, int], list[_Agent]]:
    """Teams and agents, reusing those a previous demo load created."""
    teams = {team.name: team for team in identity.list_teams(session, actor=SYSTEM)}
    team_ids: dict[str, int] = {}
    for key, name, description, mailbox in TEAMS:
        team = teams.get(name) or identity.create_team(
            session, name=name, description=description, email=f"{mailbox}@{STAFF_DOMAIN}",
            escalation_team_id=None if key == "experts" else team_ids["experts"],
            actor=SYSTEM, clock=clock)
        team_ids[key] = team.id
    users = {user.email: user for user in identity.list_users(session, actor=SYSTEM)}
    agents = []
    for spec in STAFF:
        email = f"{spec.login}@{STAFF_DOMAIN}"
        user = users.get(email) or identity.create_user(
            session, email=email, name=spec.name, role=spec.role, language=spec.language,
            capacity=spec.capacity, team_ids=[team_ids[key] for key in spec.teams],
            skills=spec.skills, actor=SYSTEM, clock=clock)
        agents.append(_Agent(
            user_id=user.id, actor=identity.actor_for_user(user),
            first_name=spec.name.split()[0], full_name=spec.name, latin_name=spec.latin,
            is_female=spec.is_female,
            language=spec.language, role=spec.role, teams=frozenset(spec.teams),
            skills={(category, lang): level for category, lang, level in spec.skills}))
    return team_ids, agents


def _create_organizations(session: Session, clock: Clock) -> None:
    existing = {org.name for org in identity.list_organizations(session, actor=SYSTEM)}
    for name, domain, tier, is_vip, notes in ORGANIZATIONS:
        if name not in existing:
            identity.create_organization(session, name=name, domain=domain, sla_tier=tier,
                                         is_vip=is_vip, notes=notes, actor=SYSTEM, clock=clock)


# --- entry point ------------------------------------------------------------------------


# Whether a demo load finished: a load stopped half-way (Ctrl+C on the first `make run`)
# leaves tickets behind, and the next start must say the demo is incomplete rather than
# pass it off as whole.
DEMO_STATE = "demo_state"
LOADING, LOADED = "loading", "loaded"


def _mark(session: Session, value: dict[str, Any]) -> None:
    set_value(session, DEMO_STATE, value)
    session.commit()  # seen at once by another process, whatever happens next


def demo_state(session: Session) -> dict[str, Any] | None:
    """{"state": "loading" | "loaded", "tickets": …} of the last demo load, if any."""
    value = session.scalar(sa.select(SiteSetting.value).where(SiteSetting.key == DEMO_STATE))
    return value if isinstance(value, dict) else None


def load_demo(
    database: Database, *, tickets: int = 10_000, customers: int = 2_000, days: int = 90,
    seed: int = 42, clock: Clock = SYSTEM_CLOCK, train_model: bool = True,
) -> str:
    """Fill the database with demo data ending now; return a one-line summary.

    The same seed gives the same people, texts and histories (shifted to the current time).
    """
    began = time.perf_counter()
    rng = random.Random(seed)
    now = clock.now().astimezone(UTC)
    start = now - timedelta(days=days)
    sim = FrozenClock(start)
    with database.sessions() as session:
        _mark(session, {"state": LOADING, "tickets": tickets, "started_at": now.isoformat()})
        outbox_before = outbox.last_id(session)
        team_ids, agents = _create_staff(session, sim)
        sim.advance(timedelta(minutes=1))
        _create_organizations(session, sim)
        demo_channels.seed_channels(session, team_ids, clock=sim)
        demo_routing.seed_routing(session, team_ids, clock=sim)
        demo_bot.seed_flows(session, clock=sim)
        session.commit()
    planner = _Planner(rng, start=start + timedelta(minutes=2), now=now, agents=agents,
                       team_ids=team_ids)
    orgs = planner.organizations([(name, domain, vip) for name, domain, _t, vip, _n
                                  in ORGANIZATIONS])
    people = planner.people(customers, orgs)
    managed: set[str] = set()
    for person in people:
        if person.org is not None and person.org.name not in managed:
            person.is_org_manager = True  # the first contact of a company follows all of it
            managed.add(person.org.name)
    times = planner.ticket_times(tickets)
    owners = planner.owners(times, people)
    plans = [planner.plan(at, person, spike)
             for (at, spike), person in zip(times, owners, strict=True)]
    writers = {id(person) for person in owners}
    span = (now - planner.start).total_seconds()
    loners = [(planner.start + timedelta(seconds=rng.uniform(0, span)), person)
              for person in people if id(person) not in writers]
    with database.sessions() as session:
        # The help centre first: it is small, and a visitor can use it while tickets load.
        editor = next(agent for agent in agents if agent.role == Role.SUPERVISOR)
        help_centre = kb_demo.load_demo_kb(session, actor=editor.actor, clock=FrozenClock(now),
                                           rng=random.Random(seed), tickets=tickets)
        session.commit()
    runner = _Runner(database, sim, agent_ids=[agent.user_id for agent in agents],
                     team_ids=list(team_ids.values()))
    tally = runner.run(_timeline(plans, loners, now))
    with database.sessions() as session:
        outbox.settle_as_history(session, after_id=outbox_before, clock=clock)
        _mark(session, {"state": LOADED, "tickets": tally.tickets,
                        "loaded_at": clock.now().isoformat()})  # commits the settling too
    refresh_statistics(database.engine, full=True)
    model = "no category model"
    if train_model:
        model = demo_routing.train_on_history(database)
    seconds = time.perf_counter() - began
    log.info("demo.loaded", tickets=tally.tickets, customers=tally.customers,
             seconds=round(seconds, 1))
    return (f"{tally.tickets} tickets, {tally.customers} customers, {len(orgs)} "
            f"organisations, {len(agents)} staff in {len(team_ids)} teams; "
            f"{tally.messages} messages, {tally.notes} internal notes, "
            f"{tally.transfers} transfers, {tally.escalations} escalations over the last "
            f"{days} days; help centre: {help_centre}; {model}; loaded in {seconds:.0f} s")
