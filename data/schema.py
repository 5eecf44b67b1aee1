"""The versioned store schema: an ordered list of migrations, applied at start-up.

Each migration is applied once, in order, inside a transaction, and recorded in ``schema_version``.
Never edit a released migration: append a new one.

Design notes
- ``feedback`` has no PRIMARY KEY / UNIQUE constraint on purpose: DuckDB maintains an ART index for every
  such constraint, which slows bulk imports and costs memory at millions of rows. Uniqueness of
  ``feedback_id`` and ``content_hash`` is guaranteed by the import engine (ids allocated under the single
  writer, duplicates removed by an anti-join on ``content_hash``) and checked by tests.
- ``extra`` keeps every source column that was not mapped to a field, as JSON, so nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        version=1,
        description="datasets, feedback, products, rejected_rows",
        sql="""
        CREATE SEQUENCE IF NOT EXISTS dataset_id_seq START 1;

        CREATE TABLE datasets (
            dataset_id      INTEGER PRIMARY KEY DEFAULT nextval('dataset_id_seq'),
            name            VARCHAR NOT NULL UNIQUE,
            kind            VARCHAR NOT NULL CHECK (kind IN ('reviews', 'survey', 'products')),
            source_file     VARCHAR,
            encoding        VARCHAR,
            column_mapping  JSON,
            rows_read       INTEGER NOT NULL DEFAULT 0,
            rows_imported   INTEGER NOT NULL DEFAULT 0,
            rows_rejected   INTEGER NOT NULL DEFAULT 0,
            rows_duplicate  INTEGER NOT NULL DEFAULT 0,
            is_demo         BOOLEAN NOT NULL DEFAULT FALSE,
            imported_at     TIMESTAMP NOT NULL DEFAULT current_timestamp
        );

        CREATE TABLE feedback (
            feedback_id   BIGINT NOT NULL,
            dataset_id    INTEGER NOT NULL,
            source_row    INTEGER,
            content_hash  VARCHAR NOT NULL,
            channel       VARCHAR,
            brand         VARCHAR,
            product       VARCHAR,
            created_at    TIMESTAMP,
            rating        TINYINT CHECK (rating BETWEEN 1 AND 5),
            nps_score     TINYINT CHECK (nps_score BETWEEN 0 AND 10),
            text          VARCHAR,
            region        VARCHAR,
            store         VARCHAR,
            customer_id   VARCHAR,
            extra         JSON
        );

        CREATE TABLE products (
            brand             VARCHAR NOT NULL,
            product           VARCHAR NOT NULL,
            release_date      DATE,
            launch_price_cny  DOUBLE,
            weight_g          DOUBLE,
            thickness_mm      DOUBLE,
            battery_mah       DOUBLE,
            screen_in         DOUBLE,
            is_ours           BOOLEAN NOT NULL DEFAULT FALSE,
            dataset_id        INTEGER,
            extra             JSON,
            PRIMARY KEY (brand, product)
        );

        CREATE TABLE rejected_rows (
            dataset_id   INTEGER NOT NULL,
            source_row   INTEGER NOT NULL,
            column_name  VARCHAR,
            reason       VARCHAR NOT NULL,
            raw_row      JSON
        );
        """,
    ),
    Migration(
        version=2,
        description="annotations: datasets.taxonomy, annotation_cache, feedback_sentiment, aspect_mentions",
        # No PRIMARY KEY/UNIQUE here either (see the module notes): the annotation engine
        # (models/annotation_store.py) writes each (feedback_id) once per batch transaction and each
        # (text_hash, pipeline_version) cache entry once, and tests check it.
        # aspect_mentions repeats dataset/brand/product/channel/created_at from feedback so dashboards
        # aggregate aspects without a join (see ../shared/FACTS.md: ~2x faster at 5M rows).
        sql="""
        ALTER TABLE datasets ADD COLUMN taxonomy VARCHAR DEFAULT 'phone';

        CREATE TABLE annotation_cache (
            text_hash         VARCHAR NOT NULL,
            pipeline_version  VARCHAR NOT NULL,
            sentiment         VARCHAR NOT NULL CHECK (sentiment IN ('positive', 'negative', 'neutral')),
            score             DOUBLE,
            mentions          JSON NOT NULL,
            created_at        TIMESTAMP NOT NULL DEFAULT current_timestamp
        );

        CREATE TABLE feedback_sentiment (
            feedback_id       BIGINT NOT NULL,
            dataset_id        INTEGER NOT NULL,
            text_hash         VARCHAR NOT NULL,
            sentiment         VARCHAR NOT NULL CHECK (sentiment IN ('positive', 'negative', 'neutral')),
            score             DOUBLE,
            pipeline_version  VARCHAR NOT NULL,
            annotated_at      TIMESTAMP NOT NULL DEFAULT current_timestamp
        );

        CREATE TABLE aspect_mentions (
            feedback_id       BIGINT NOT NULL,
            dataset_id        INTEGER NOT NULL,
            brand             VARCHAR,
            product           VARCHAR,
            channel           VARCHAR,
            created_at        TIMESTAMP,
            aspect_path       VARCHAR NOT NULL,
            aspect_top        VARCHAR NOT NULL,
            term              VARCHAR NOT NULL,
            clause            VARCHAR NOT NULL,
            span_start        INTEGER NOT NULL,
            span_end          INTEGER NOT NULL,
            polarity          VARCHAR NOT NULL CHECK (polarity IN ('positive', 'negative', 'neutral')),
            confidence        DOUBLE NOT NULL,
            pipeline_version  VARCHAR NOT NULL
        );
        """,
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version
