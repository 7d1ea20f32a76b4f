"""What an admin sends to define a FAQ pair."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Phrase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=300)]


class FaqIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: Literal["ru", "en"]
    question: Phrase
    alternatives: Annotated[list[Phrase], Field(max_length=30)] = []
    answer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=4000)]
    article_slug: Annotated[str, StringConstraints(strip_whitespace=True,
                                                   max_length=200)] | None = None
    is_active: bool = True
