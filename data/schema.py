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

from data.rollups import MIGRATION_4_BACKFILL_SQL as ROLLUP_BACKFILL_SQL
from data.rollups import MIGRATION_4_RECORD_SIZES_SQL as ROLLUP_RECORD_SIZES_SQL
from data.rollups import MIGRATION_6_SQL as ROLLUP_NOREGION_SQL
from data.rollups import MIGRATION_7_SQL as ROLLUP_DRIVER_REGION_SQL
from data.rollups import SCHEMA_SQL as ROLLUP_SCHEMA_SQL


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
    Migration(
        version=3,
        description="act: alert_rules, alerts, cases, case_events",
        # Small tables (hundreds to thousands of rows), so keys and UNIQUE constraints are fine here.
        # Codes are stored in English (kind, status, priority); the UI shows them in Chinese.
        # cases copies brand/product/region/channel from its feedback (or from the aggregate rule's group)
        # so data permissions filter cases with the same Filters.where() as every other table.
        sql="""
        CREATE SEQUENCE IF NOT EXISTS alert_rule_id_seq START 1;
        CREATE SEQUENCE IF NOT EXISTS alert_id_seq START 1;
        CREATE SEQUENCE IF NOT EXISTS case_id_seq START 1;

        CREATE TABLE alert_rules (
            rule_id      INTEGER PRIMARY KEY DEFAULT nextval('alert_rule_id_seq'),
            name         VARCHAR NOT NULL UNIQUE,
            kind         VARCHAR NOT NULL CHECK (kind IN ('nps_at_most', 'aspect_negative', 'keyword',
                                                'aspect_net_drop', 'nps_below', 'complaint_volume')),
            params       JSON NOT NULL,
            scope        JSON,
            priority     VARCHAR NOT NULL DEFAULT 'medium'
                         CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
            sla_hours    INTEGER NOT NULL DEFAULT 72 CHECK (sla_hours > 0),
            create_case  BOOLEAN NOT NULL DEFAULT TRUE,
            enabled      BOOLEAN NOT NULL DEFAULT TRUE,
            created_by   VARCHAR,
            created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
            updated_at   TIMESTAMP NOT NULL DEFAULT current_timestamp
        );

        CREATE TABLE alerts (
            alert_id     BIGINT PRIMARY KEY DEFAULT nextval('alert_id_seq'),
            rule_id      INTEGER NOT NULL,
            alert_key    VARCHAR NOT NULL UNIQUE,
            feedback_id  BIGINT,
            brand        VARCHAR,
            product      VARCHAR,
            region       VARCHAR,
            channel      VARCHAR,
            period_start TIMESTAMP,
            summary      VARCHAR NOT NULL,
            details      JSON,
            fired_at     TIMESTAMP NOT NULL DEFAULT current_timestamp
        );

        CREATE TABLE cases (
            case_id      INTEGER PRIMARY KEY DEFAULT nextval('case_id_seq'),
            title        VARCHAR NOT NULL,
            feedback_id  BIGINT,
            alert_id     BIGINT,
            rule_id      INTEGER,
            brand        VARCHAR,
            product      VARCHAR,
            region       VARCHAR,
            channel      VARCHAR,
            status       VARCHAR NOT NULL DEFAULT 'new'
                         CHECK (status IN ('new', 'in_progress', 'resolved', 'closed')),
            priority     VARCHAR NOT NULL DEFAULT 'medium'
                         CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
            assignee     VARCHAR,
            due_at       TIMESTAMP,
            created_by   VARCHAR,
            created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
            updated_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
            resolved_at  TIMESTAMP
        );

        CREATE TABLE case_events (
            case_id      INTEGER NOT NULL,
            event_at     TIMESTAMP NOT NULL DEFAULT current_timestamp,
            actor        VARCHAR,
            action       VARCHAR NOT NULL,
            field        VARCHAR,
            old_value    VARCHAR,
            new_value    VARCHAR,
            note         VARCHAR
        );
        """,
    ),
    Migration(
        version=4,
        description="rollups: per day/month counters of feedback and aspect mentions (data/rollups.py)",
        # Tables and their maintenance live in data/rollups.py; the backfill makes stores created before
        # this migration current at once (python cli.py rollups rebuild does the same on demand).
        sql=ROLLUP_SCHEMA_SQL + "\n" + ROLLUP_BACKFILL_SQL + "\n" + ROLLUP_RECORD_SIZES_SQL,
    ),
    Migration(
        version=5,
        description="annotation cache served in SQL: annotation_text_keys, annotation_cache.mention_rows",
        # Both written by models/annotation_store.py with each new annotation_cache entry, so feedback whose
        # raw text was seen before is annotated from the cache in SQL alone:
        # - annotation_text_keys maps raw_hash = substr(sha256(feedback.text), 1, 32) to text_hash, the hash
        #   of the *normalised* text (normalisation is Python code DuckDB cannot run). A cache like
        #   annotation_cache: no feedback_id/dataset_id, kept when a dataset is deleted.
        # - mention_rows = the mentions JSON parsed once (unnesting it is ~2x cheaper than parsing the JSON
        #   on every re-annotation); mentions stays the canonical, portable form.
        sql="""
        CREATE TABLE IF NOT EXISTS annotation_text_keys (
            raw_hash          VARCHAR NOT NULL,
            pipeline_version  VARCHAR NOT NULL,
            text_hash         VARCHAR NOT NULL
        );

        ALTER TABLE annotation_cache ADD COLUMN IF NOT EXISTS mention_rows STRUCT(
            aspect_path VARCHAR, aspect_top VARCHAR, term VARCHAR, clause VARCHAR,
            span_start INTEGER, span_end INTEGER, polarity VARCHAR, confidence DOUBLE
        )[];
        UPDATE annotation_cache SET mention_rows = from_json(mentions, '[{"aspect_path": "VARCHAR",
            "aspect_top": "VARCHAR", "term": "VARCHAR", "clause": "VARCHAR", "span_start": "INTEGER",
            "span_end": "INTEGER", "polarity": "VARCHAR", "confidence": "DOUBLE"}]');
        """,
    ),
    Migration(
        version=6,
        description="rollups: rollup_feedback_noregion_month (month counters without region, layout 2)",
        # Filled from rollup_feedback_day, so a store whose rollups were current stays current; maintained
        # with the other rollups (data/rollups.py). Analytics read it when neither the filter nor the
        # grouping touches region (analytics/rollup_source.py).
        sql=ROLLUP_NOREGION_SQL,
    ),
    Migration(
        version=7,
        description="rollups: key-driver statistics keyed by region (layout 3)",
        # rollup_driver_region_aspects / rollup_driver_region_pairs: the statistics of rollup_driver_* keyed
        # by (month, dataset, region, outcome); filled from the base tables when the rollups have layout 2,
        # so a current store stays current. analytics/drivers.py reads them for region filters.
        sql=ROLLUP_DRIVER_REGION_SQL,
    ),
    Migration(
        version=8,
        description="id_high_water: feedback ids are never reused, even after a dataset is deleted",
        # Ids were allocated as max(feedback_id) + n, so deleting the dataset holding the highest ids let the
        # next import reuse them, and an alert or case linked to a deleted review then pointed at another
        # one. The import now allocates above this mark too (data/ingest_sql.insert_feedback_from); it
        # starts above every id any table still refers to.
        sql="""
        CREATE TABLE id_high_water (name VARCHAR PRIMARY KEY, value BIGINT NOT NULL);
        INSERT INTO id_high_water SELECT 'feedback_id', greatest(
            (SELECT coalesce(max(feedback_id), 0) FROM feedback),
            (SELECT coalesce(max(feedback_id), 0) FROM alerts),
            (SELECT coalesce(max(feedback_id), 0) FROM cases)
        );
        """,
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version
