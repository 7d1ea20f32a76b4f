"""Knowledge base: categories, articles and their versions, ratings, views, searches,
deflections, synonyms, the search vocabulary, canned responses, article files; and the article
search index (FTS5 on SQLite, tsvector + GIN on PostgreSQL), outside the ORM like the tickets'.

Revision ID: 0008_kb
Revises: 0007_routing
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import zabota.core.db

revision = "0008_kb"
down_revision = "0007_routing"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = zabota.core.db.UTCDateTime(timezone=True)
TABLES = ("kb_article_attachments", "kb_search_log", "kb_feedback", "kb_deflections",
          "kb_article_views", "kb_article_versions", "kb_canned_responses", "kb_articles",
          "kb_vocabulary", "kb_synonym_groups", "kb_categories")


def upgrade() -> None:
    op.create_table(
        "kb_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("name_ru", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("description_ru", sa.String(length=500), nullable=False),
        sa.Column("description_en", sa.String(length=500), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["kb_categories.id"], name=op.f("fk_kb_categories_parent_id_kb_categories")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_categories")),
        sa.UniqueConstraint("slug", name=op.f("uq_kb_categories_slug"))
    )
    op.create_index("ix_kb_categories_parent", "kb_categories", ["parent_id", "position", "id"])

    op.create_table(
        "kb_synonym_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("phrases", sa.JSON(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_synonym_groups"))
    )
    op.create_table(
        "kb_vocabulary",
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("term", sa.String(length=100), nullable=False),
        sa.Column("doc_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("language", "term", name=op.f("pk_kb_vocabulary"))
    )
    op.create_table(
        "kb_articles",
        sa.Column("id", BigId, nullable=False),
        sa.Column("translation_group", sa.String(length=32), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("slug", sa.String(length=160), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body_source", sa.Text(), nullable=False),
        sa.Column("body_format", sa.Enum("markdown", "html", name="bodyformat", native_enum=False, length=16), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("visibility", sa.Enum("public", "internal", name="visibility", native_enum=False, length=16), nullable=False),
        sa.Column("status", sa.Enum("draft", "review", "published", name="articlestatus", native_enum=False, length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("helpful_yes", sa.Integer(), nullable=False),
        sa.Column("helpful_no", sa.Integer(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.Column("published_at", When, nullable=True),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_kb_articles_author_id_users")),
        sa.ForeignKeyConstraint(["category_id"], ["kb_categories.id"], name=op.f("fk_kb_articles_category_id_kb_categories")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_articles")),
        sa.UniqueConstraint("language", "slug", name=op.f("uq_kb_articles_language_slug")),
        sa.UniqueConstraint("translation_group", "language", name=op.f("uq_kb_articles_translation_group_language"))
    )
    op.create_index("ix_kb_articles_category", "kb_articles", ["category_id", "status", "position", "id"])
    op.create_index("ix_kb_articles_language_status", "kb_articles", ["language", "status", "visibility"])
    op.create_index("ix_kb_articles_updated", "kb_articles", ["updated_at", "id"])

    op.create_table(
        "kb_canned_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tone", sa.Enum("formal", "friendly", name="tone", native_enum=False, length=16), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_kb_canned_responses_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_canned_responses")),
        sa.UniqueConstraint("title", "language", "tone", name=op.f("uq_kb_canned_responses_title_language_tone"))
    )
    op.create_table(
        "kb_article_versions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("article_id", BigId, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body_source", sa.Text(), nullable=False),
        sa.Column("body_format", sa.Enum("markdown", "html", name="bodyformat", native_enum=False, length=16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("restored_from", sa.Integer(), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["kb_articles.id"], name=op.f("fk_kb_article_versions_article_id_kb_articles"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_kb_article_versions_author_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_article_versions")),
        sa.UniqueConstraint("article_id", "number", name=op.f("uq_kb_article_versions_article_id_number"))
    )
    op.create_table(
        "kb_article_views",
        sa.Column("id", BigId, nullable=False),
        sa.Column("article_id", BigId, nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=True),
        sa.Column("customer_id", BigId, nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("at", When, nullable=False),
        sa.Column("ticket_id", BigId, nullable=True),
        sa.Column("ticket_at", When, nullable=True),
        sa.ForeignKeyConstraint(["article_id"], ["kb_articles.id"], name=op.f("fk_kb_article_views_article_id_kb_articles"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_kb_article_views_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_article_views"))
    )
    op.create_index("ix_kb_article_views_article", "kb_article_views", ["article_id", "at"])
    op.create_index("ix_kb_article_views_at", "kb_article_views", ["at"])
    op.create_index("ix_kb_article_views_customer", "kb_article_views", ["customer_id", "at"])
    op.create_index("ix_kb_article_views_visitor", "kb_article_views", ["visitor_id", "at"])

    op.create_table(
        "kb_deflections",
        sa.Column("id", BigId, nullable=False),
        sa.Column("article_id", BigId, nullable=True),
        sa.Column("query", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=True),
        sa.Column("customer_id", BigId, nullable=True),
        sa.Column("at", When, nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["kb_articles.id"], name=op.f("fk_kb_deflections_article_id_kb_articles"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_kb_deflections_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_deflections"))
    )
    op.create_index("ix_kb_deflections_article", "kb_deflections", ["article_id", "at"])
    op.create_index("ix_kb_deflections_at", "kb_deflections", ["at"])

    op.create_table(
        "kb_feedback",
        sa.Column("id", BigId, nullable=False),
        sa.Column("article_id", BigId, nullable=False),
        sa.Column("is_helpful", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=True),
        sa.Column("customer_id", BigId, nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["kb_articles.id"], name=op.f("fk_kb_feedback_article_id_kb_articles"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_kb_feedback_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_feedback"))
    )
    op.create_index("ix_kb_feedback_article", "kb_feedback", ["article_id", "created_at"])

    op.create_table(
        "kb_search_log",
        sa.Column("id", BigId, nullable=False),
        sa.Column("query", sa.String(length=500), nullable=False),
        sa.Column("normalized", sa.String(length=500), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("results", sa.Integer(), nullable=False),
        sa.Column("top_score", sa.Float(), nullable=False),
        sa.Column("clicked_article_id", BigId, nullable=True),
        sa.Column("visitor_id", sa.String(length=64), nullable=True),
        sa.Column("customer_id", BigId, nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", BigId, nullable=True),
        sa.Column("ticket_at", When, nullable=True),
        sa.Column("at", When, nullable=False),
        sa.ForeignKeyConstraint(["clicked_article_id"], ["kb_articles.id"], name=op.f("fk_kb_search_log_clicked_article_id_kb_articles"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_kb_search_log_customer_id_customers")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_kb_search_log_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_search_log"))
    )
    op.create_index("ix_kb_search_log_at", "kb_search_log", ["at"])
    op.create_index("ix_kb_search_log_customer", "kb_search_log", ["customer_id", "at"])
    op.create_index("ix_kb_search_log_normalized", "kb_search_log", ["normalized", "at"])
    op.create_index("ix_kb_search_log_visitor", "kb_search_log", ["visitor_id", "at"])

    op.create_table(
        "kb_article_attachments",
        sa.Column("attachment_id", BigId, nullable=False),
        sa.Column("article_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["kb_articles.id"], name=op.f("fk_kb_article_attachments_article_id_kb_articles"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["attachment_id"], ["attachments.id"], name=op.f("fk_kb_article_attachments_attachment_id_attachments"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("attachment_id", name=op.f("pk_kb_article_attachments"))
    )
    op.create_index("ix_kb_article_attachments_article_id", "kb_article_attachments", ["article_id"])
    _create_search()


def _create_search() -> None:
    """Title, tags and body as normalised terms (lemmas, stems): PostgreSQL's 'simple'
    configuration only splits them, so both databases match the same terms."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE kb_fts USING fts5("
                   "title, tags, body, tokenize = 'unicode61 remove_diacritics 0')")
        return
    op.execute("""
        CREATE TABLE kb_article_search (
            article_id BIGINT PRIMARY KEY REFERENCES kb_articles(id) ON DELETE CASCADE,
            title TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '',
            body TEXT NOT NULL DEFAULT '',
            tsv tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector('simple', title), 'A')
                || setweight(to_tsvector('simple', tags), 'B')
                || setweight(to_tsvector('simple', body), 'D')) STORED,
            title_tsv tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector('simple', title), 'A')
                || setweight(to_tsvector('simple', tags), 'B')) STORED
        )""")
    op.execute("CREATE INDEX ix_kb_article_search_tsv ON kb_article_search USING gin (tsv)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS kb_fts")
    op.execute("DROP TABLE IF EXISTS kb_article_search")
    for table in TABLES:
        op.drop_table(table)
