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
)

LATEST_VERSION = MIGRATIONS[-1].version
