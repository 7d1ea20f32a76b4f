"""The demo help centre: categories, bilingual articles, synonyms and canned responses from
demo_articles.yaml, and a month of searching, reading, rating and deflection, all written
through the service functions (so the index and the report are what the product makes)."""

from __future__ import annotations

import random
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.orm import Session

from zabota.core.clock import FrozenClock
from zabota.identity.permissions import Actor
from zabota.kb import analytics, search
from zabota.kb import service as kb
from zabota.kb.models import ArticleStatus, KbCategory, Tone, Visibility

DATA = Path(__file__).with_name("demo_articles.yaml")

# What visitors type: mostly what the articles answer (in everyday words, some misspelt),
# and some things the help centre has no answer for, which the report shows as gaps.
QUERIES = {
    "ru": [
        "где мой заказ", "отследить посылку", "трек номер", "как вернуть товар",
        "вернуть деньги", "когда вернутся деньги", "не проходит оплата", "списали дважды",
        "курьер не приехал", "сроки доставки", "сколько стоит доставка", "пункт выдачи",
        "не приходит смс", "не приходит код", "промокод не работает", "бонусы",
        "рассрочка", "отменить заказ", "изменить адрес доставки", "брак",
        "обмен размера", "чек", "удалить аккаунт", "приложение вылетает", "счёт для юрлица",
        "посылка повреждена", "дотсавка", "вазврат", "доставка в казахстан",
        "вакансии курьера", "оптовые цены", "трейд-ин телефона", "пластиковая карта",
        "самовывоз со склада", "доставка в крым",
    ],
    "en": [
        "where is my order", "track parcel", "return an item", "refund", "payment failed",
        "charged twice", "delivery time", "courier late", "promo code", "pickup point",
        "sign in code", "delete account", "gift card", "retrun item", "delivry cost",
        "job vacancies", "wholesale prices", "trade-in",
    ],
}
COMMENTS = {
    "ru": ["Нет сроков для Калининграда", "Непонятно, что делать, если код не пришёл",
           "Хотелось бы инструкцию со скриншотами", "Не сказано про возврат доставки"],
    "en": ["No times for Kaliningrad", "What if the code never arrives?",
           "Screenshots would help"],
}


def _text(value: Any, language: str) -> str:
    if isinstance(value, dict):
        return str(value.get(language) or value.get("ru") or "")
    return str(value or "")


def load_demo_kb(session: Session, *, actor: Actor, clock: FrozenClock,
                 rng: random.Random, days: int = 30, searches: int = 400,
                 tickets: int = 0) -> str:
    """Fill the knowledge base once (nothing happens if it has categories already)."""
    if session.scalar(sa.select(sa.func.count()).select_from(KbCategory)):
        return "knowledge base kept"
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    start = clock.now() - timedelta(days=days + 7)
    writer = FrozenClock(start)
    categories: dict[str, KbCategory] = {}
    for position, item in enumerate(data["categories"]):
        parent = categories.get(item.get("parent", ""))
        categories[item["slug"]] = kb.create_category(
            session, actor=actor, slug=item["slug"], name_ru=_text(item["name"], "ru"),
            name_en=_text(item["name"], "en"),
            description_ru=_text(item.get("description"), "ru"),
            description_en=_text(item.get("description"), "en"),
            parent_id=parent.id if parent else None, position=position, clock=writer)
    articles = 0
    for position, item in enumerate(data["articles"]):
        writer.advance(timedelta(minutes=rng.randint(5, 90)))
        original: int | None = None
        for language in ("ru", "en"):
            article = kb.create_article(
                session, actor=actor, title=item[language]["title"],
                body=item[language]["body"], language=language,
                category_id=categories[item["category"]].id,
                tags=list(item.get("tags", {}).get(language, [])),
                visibility=Visibility(item.get("visibility", "public")),
                status=ArticleStatus.PUBLISHED, translation_of=original, position=position,
                clock=writer)
            original = original or article.id
            articles += 1
    for group in data["synonyms"]:
        kb.create_synonym_group(session, actor=actor, language=group["language"],
                                phrases=group["phrases"], clock=writer)
    for row in data["canned"]:
        kb.create_canned(session, actor=actor, title=row["title"], body=row["body"],
                         language=row["language"], tone=Tone(row["tone"]), clock=writer)
    # Two transactions: on SQLite each holds the write lock while it runs, and a running
    # server must not wait behind both at once.
    session.commit()
    logged = _history(session, rng=rng, until=clock.now(), days=days, searches=searches,
                      tickets=tickets)
    return (f"{articles} articles in {len(categories)} categories, "
            f"{len(data['synonyms'])} synonym groups, {len(data['canned'])} canned responses, "
            f"{logged} searches")


def _history(session: Session, *, rng: random.Random, until: datetime, days: int,
             searches: int, tickets: int) -> int:
    """A month of visitors searching, reading, rating and sometimes writing anyway."""
    visitors = [secrets.token_urlsafe(16) for _ in range(max(10, searches // 3))]
    moments = sorted(until - timedelta(seconds=rng.uniform(0, days * 86400))
                     for _ in range(searches))
    logged = 0
    for at in moments:
        clock = FrozenClock(at)
        language = "ru" if rng.random() < 0.8 else "en"
        query = rng.choice(QUERIES[language])
        visitor = rng.choice(visitors)
        hits = search.search(session, query, language=language,
                             audience=search.Audience.PUBLIC, limit=10)
        row = analytics.log_search(session, query, language=language, source="help",
                                   results=len(hits),
                                   top_score=hits[0].score if hits else 0.0,
                                   visitor_id=visitor, clock=clock)
        logged += 1
        if not hits or rng.random() < 0.3 or row is None:
            continue
        clock.advance(timedelta(seconds=rng.randint(3, 40)))
        hit = hits[0] if rng.random() < 0.8 else rng.choice(hits)
        article = kb.get_article_for(session, None, hit.article_id)
        analytics.record_view(session, article, actor=None, visitor_id=visitor,
                              search_id=row.id, clock=clock)
        roll = rng.random()
        if roll < 0.25:
            helpful = rng.random() < (0.45 if article.position % 7 == 5 else 0.8)
            comment = "" if helpful or rng.random() < 0.5 else rng.choice(COMMENTS[language])
            kb.rate_article(session, article.id, is_helpful=helpful, actor=None,
                            visitor_id=visitor, comment=comment, clock=clock)
        elif roll < 0.35:
            analytics.record_deflection(session, article_id=article.id, query=query,
                                        source="portal", actor=None, visitor_id=visitor,
                                        clock=clock)
        elif roll < 0.5 and tickets:
            # Wrote anyway: a request from the same browser a few hours later.
            analytics.link_ticket(session, ticket_id=rng.randint(1, tickets),
                                  at=at + timedelta(hours=rng.uniform(0.2, 20)),
                                  visitor_id=visitor)
    session.flush()
    return logged
