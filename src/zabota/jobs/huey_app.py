"""The Huey instance: jobs in SQLite by default, in Redis when ZABOTA_REDIS_URL is set."""

from __future__ import annotations

from huey import Huey, RedisHuey, SqliteHuey

from zabota.core.settings import Settings, get_settings


def make_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        return RedisHuey("zabota", url=settings.redis_url, immediate=settings.huey_immediate)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("zabota", filename=str(settings.data_dir / "jobs.db"),
                      immediate=settings.huey_immediate)


huey = make_huey(get_settings())
