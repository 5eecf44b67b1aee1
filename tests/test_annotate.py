"""The annotation pipeline: pure batch function, cache, resumable store runs, rescore, real models."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import pytest

from data.store import connect
from models.annotate import (
    NEGATIVE_THRESHOLD,
    POSITIVE_THRESHOLD,
    Annotator,
    TextAnnotation,
    sentiment_label,
    text_hash,
)
from models.annotation_store import (
    AnnotationError,
    add_cache_records,
    annotate_dataset,
    annotation_status,
    dataset_taxonomy,
    raw_text_key,
    set_dataset_taxonomy,
)
from models.aspects import AspectMatcher
from models.taxonomy import load_taxonomy
from models.text import normalize

# ---------------------------------------------------------------------------------------------------------
# Test doubles (only here): deterministic models that count their calls
# ---------------------------------------------------------------------------------------------------------


class CountingSentiment:
    """P(positive) from counting 好/不错 against 差/慢; counts calls and texts."""

    def __init__(self, version: str = "sent-test-1", fail_after_calls: int | None = None) -> None:
        self.version = version
        self.calls = 0
        self.texts = 0
        self.fail_after_calls = fail_after_calls

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        if self.fail_after_calls is not None and self.calls >= self.fail_after_calls:
            raise KeyboardInterrupt("simulated kill")
        self.calls += 1
        self.texts += len(texts)
        out = []
        for text in texts:
            good = text.count("好") + text.count("不错")
            bad = text.count("差") + text.count("慢")
            out.append(0.5 + 0.4 * np.tanh(good - bad))
        return np.asarray(out, dtype=np.float32)


class CountingAspects:
    """Polarity of a mention from its clause: 差/慢 → negative, 好 → positive, else neutral."""

    version = "aspect-test-1"

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, texts: Sequence[str], spans: Sequence[tuple[int, int]]) -> list[tuple[str, float]]:
        self.calls += 1
        out = []
        for text, (start, _end) in zip(texts, spans, strict=True):
            clause = text[max(0, start - 2) : start + 8]
            if "差" in clause or "慢" in clause:
                out.append(("negative", 0.9))
            elif "好" in clause:
                out.append(("positive", 0.8))
            else:
                out.append(("neutral", 0.6))
        return out


@pytest.fixture(scope="module")
def phone_matcher() -> AspectMatcher:
    return AspectMatcher(load_taxonomy("phone"))


@pytest.fixture(scope="module")
def hotel_matcher() -> AspectMatcher:
    return AspectMatcher(load_taxonomy("hotel"))


class Factory:
    """annotator_factory for annotate_dataset: one annotator per taxonomy, sharing the doubles."""

    def __init__(self, matchers: dict[str, AspectMatcher], sentiment: CountingSentiment) -> None:
        self.matchers = matchers
        self.sentiment = sentiment
        self.aspects = CountingAspects()
        self.built: dict[str, Annotator] = {}

    def __call__(self, taxonomy: str) -> Annotator:
        if taxonomy not in self.built:
            self.built[taxonomy] = Annotator(self.sentiment, self.aspects, self.matchers[taxonomy])
        return self.built[taxonomy]


REVIEWS = [
    "屏幕很好，但是电池续航差",
    "物流太慢了",
    "拍照不错，性价比高",
    "ＦＵＬＬ　ＷＩＤＴＨ 手机不错",
    "一般般",
    "屏幕很好，但是电池续航差",  # duplicate text inside one dataset: scored once
    "充电很快，发热也不严重",
    "客服态度好 售后差",
]


def add_dataset(con: duckdb.DuckDBPyConnection, name: str, texts: Sequence[str | None], first_id: int) -> int:
    dataset_id = con.execute(
        "INSERT INTO datasets (name, kind) VALUES (?, 'reviews') RETURNING dataset_id", [name]
    ).fetchall()[0][0]
    for offset, text in enumerate(texts):
        con.execute(
            "INSERT INTO feedback"
            " (feedback_id, dataset_id, content_hash, text, brand, product, channel, created_at)"
            " VALUES (?, ?, ?, ?, '华为', 'Mate 60', '京东', TIMESTAMP '2025-03-01 10:00:00')",
            [first_id + offset, dataset_id, f"{name}-{offset}", text],
        )
    return int(dataset_id)


@pytest.fixture()
def con() -> duckdb.DuckDBPyConnection:
    connection = connect(":memory:")
    yield connection
    connection.close()


# ---------------------------------------------------------------------------------------------------------
# Pure batch function
# ---------------------------------------------------------------------------------------------------------


def test_sentiment_thresholds() -> None:
    assert sentiment_label(POSITIVE_THRESHOLD) == "positive"
    assert sentiment_label(NEGATIVE_THRESHOLD) == "negative"
    assert sentiment_label(0.5) == "neutral"
    assert sentiment_label(0.99) == "positive"
    assert sentiment_label(0.01) == "negative"


def test_annotate_batch(phone_matcher: AspectMatcher) -> None:
    sentiment = CountingSentiment()
    annotator = Annotator(sentiment, CountingAspects(), phone_matcher)
    results = annotator.annotate([*REVIEWS, "", "   ", None])  # type: ignore[list-item]
    assert len(results) == len(REVIEWS) + 3
    assert sentiment.calls == 1
    assert sentiment.texts == len(set(REVIEWS))  # duplicates scored once, empties not at all
    first = results[0]
    assert first == results[5]
    assert first.text_hash == text_hash(normalize(REVIEWS[0]))
    paths = [(m.aspect_path, m.polarity) for m in first.mentions]
    assert paths == [("屏幕", "positive"), ("电池/续航", "negative")]
    normalized = normalize(REVIEWS[0])
    for mention in first.mentions:
        assert normalized[mention.span_start : mention.span_end] == mention.term
        assert mention.term in mention.clause
        assert mention.aspect_top == mention.aspect_path.split("/")[0]
    assert [m.clause for m in first.mentions] == ["屏幕很好", "但是电池续航差"]
    assert results[1].sentiment == "negative"
    assert results[2].sentiment == "positive"
    for empty in results[-3:]:
        assert (empty.sentiment, empty.score, empty.mentions) == ("neutral", None, ())


def test_cache_record_round_trip(phone_matcher: AspectMatcher) -> None:
    annotator = Annotator(CountingSentiment(), CountingAspects(), phone_matcher)
    result = annotator.annotate(["屏幕很好，但是电池续航差"])[0]
    record = result.to_record(annotator.version)
    assert set(record) == {"text_hash", "pipeline_version", "sentiment", "score", "mentions"}
    back = TextAnnotation.from_cache(
        record["text_hash"], record["sentiment"], record["score"], record["mentions"]
    )
    assert back == result


def test_pipeline_version_changes_with_any_component(
    phone_matcher: AspectMatcher, hotel_matcher: AspectMatcher
) -> None:
    base = Annotator(CountingSentiment("a"), CountingAspects(), phone_matcher).version
    assert base == Annotator(CountingSentiment("a"), CountingAspects(), phone_matcher).version
    assert base != Annotator(CountingSentiment("b"), CountingAspects(), phone_matcher).version
    assert base != Annotator(CountingSentiment("a"), CountingAspects(), hotel_matcher).version
    other_aspects = CountingAspects()
    other_aspects.version = "aspect-test-2"
    assert base != Annotator(CountingSentiment("a"), other_aspects, phone_matcher).version


# ---------------------------------------------------------------------------------------------------------
# Store runs
# ---------------------------------------------------------------------------------------------------------


def test_annotate_dataset_writes_one_row_per_feedback(
    con: duckdb.DuckDBPyConnection, phone_matcher: AspectMatcher
) -> None:
    add_dataset(con, "jd", [*REVIEWS, None, "  "], first_id=1)
    factory = Factory({"phone": phone_matcher}, CountingSentiment())
    seen: list[tuple[int, int]] = []
    summary = annotate_dataset(
        con, "jd", batch_size=3, annotator_factory=factory, progress=lambda d, t: seen.append((d, t))
    )
    assert summary.pending == len(REVIEWS) == summary.feedback_annotated
    assert summary.texts_scored == len(set(REVIEWS))
    assert summary.batches == 3
    assert seen[0] == (0, len(REVIEWS)) and seen[-1] == (len(REVIEWS), len(REVIEWS))
    rows = con.execute(
        "SELECT count(*), count(DISTINCT feedback_id), count(DISTINCT pipeline_version)"
        " FROM feedback_sentiment"
    ).fetchall()[0]
    assert rows == (len(REVIEWS), len(REVIEWS), 1)
    # mentions: denormalised columns copied, spans point at the term in the normalised text
    mentions = con.execute(
        "SELECT m.term, m.span_start, m.span_end, m.brand, m.channel, m.created_at, f.text, m.aspect_path"
        " FROM aspect_mentions m JOIN feedback f USING (feedback_id)"
    ).fetchall()
    assert len(mentions) == summary.mentions_written > 0
    for term, start, end, brand, channel, created_at, text, _path in mentions:
        assert normalize(text)[start:end] == term
        assert (brand, channel, str(created_at)) == ("华为", "京东", "2025-03-01 10:00:00")
    assert {
        "屏幕",
        "电池/续航",
        "物流",
        "拍照",
        "价格/性价比",
        "电池/充电",
        "电池/发热",
        "客服",
        "客服/售后",
    } <= {m[-1] for m in mentions}
    cache = con.execute("SELECT count(*), count(DISTINCT text_hash) FROM annotation_cache").fetchall()[0]
    assert cache == (len(set(REVIEWS)), len(set(REVIEWS)))
    status = annotation_status(con)
    assert status.loc[0, "annotated"] == len(REVIEWS) and status.loc[0, "with_text"] == len(REVIEWS)


def test_rerun_and_reimport_cost_no_model_call(
    con: duckdb.DuckDBPyConnection, phone_matcher: AspectMatcher
) -> None:
    add_dataset(con, "first", REVIEWS, first_id=1)
    sentiment = CountingSentiment()
    factory = Factory({"phone": phone_matcher}, sentiment)
    annotate_dataset(con, "first", annotator_factory=factory)
    calls_after_first = (sentiment.calls, factory.aspects.calls)

    again = annotate_dataset(con, "first", annotator_factory=factory)
    assert (again.pending, again.texts_scored) == (0, 0)

    def no_models(taxonomy: str) -> Annotator:
        raise AssertionError("nothing is pending: no model may even be loaded")

    assert annotate_dataset(con, annotator_factory=no_models).pending == 0

    # the same reviews arrive again in another file (another dataset): everything comes from the cache
    add_dataset(con, "second", list(reversed(REVIEWS)), first_id=100)
    summary = annotate_dataset(con, "second", annotator_factory=factory)
    assert summary.feedback_annotated == len(REVIEWS)
    assert summary.texts_scored == 0
    assert summary.texts_from_cache == len(REVIEWS)
    assert (sentiment.calls, factory.aspects.calls) == calls_after_first
    per_dataset = con.execute(
        "SELECT dataset_id, count(*) FROM aspect_mentions GROUP BY ALL ORDER BY dataset_id"
    ).fetchall()
    assert per_dataset[0][1] == per_dataset[1][1] > 0
    # results identical for identical texts
    same = con.execute(
        """
        SELECT count(*) FROM feedback_sentiment a JOIN feedback_sentiment b
          ON a.text_hash = b.text_hash AND a.dataset_id < b.dataset_id
        WHERE a.sentiment <> b.sentiment OR a.score <> b.score
        """
    ).fetchall()[0][0]
    assert same == 0


def test_killed_run_resumes_without_duplicates(
    con: duckdb.DuckDBPyConnection, phone_matcher: AspectMatcher
) -> None:
    texts = [f"第{i}台手机屏幕很好，电池续航差" for i in range(25)]
    add_dataset(con, "big", texts, first_id=1)
    crashing = Factory({"phone": phone_matcher}, CountingSentiment(fail_after_calls=2))
    with pytest.raises(KeyboardInterrupt):
        annotate_dataset(con, "big", batch_size=10, annotator_factory=crashing)
    partial = con.execute("SELECT count(*) FROM feedback_sentiment").fetchall()[0][0]
    assert partial == 20  # two whole batches committed, the third rolled back
    partial_mentions = con.execute("SELECT count(*) FROM aspect_mentions").fetchall()[0][0]
    assert partial_mentions == 40

    healthy = Factory({"phone": phone_matcher}, CountingSentiment())
    summary = annotate_dataset(con, "big", batch_size=10, annotator_factory=healthy)
    assert summary.pending == 5 and summary.texts_scored == 5
    counts = con.execute("SELECT count(*), count(DISTINCT feedback_id) FROM feedback_sentiment").fetchall()[0]
    assert counts == (25, 25)
    mentions = con.execute(
        "SELECT count(*), count(DISTINCT (feedback_id, aspect_path, span_start)) FROM aspect_mentions"
    ).fetchall()[0]
    assert mentions == (50, 50)


def test_model_upgrade_rescores_only_when_asked(
    con: duckdb.DuckDBPyConnection, phone_matcher: AspectMatcher
) -> None:
    add_dataset(con, "jd", REVIEWS, first_id=1)
    old = annotate_dataset(
        con, "jd", annotator_factory=Factory({"phone": phone_matcher}, CountingSentiment("v1"))
    )
    upgraded = Factory({"phone": phone_matcher}, CountingSentiment("v2"))
    untouched = annotate_dataset(con, "jd", annotator_factory=upgraded)
    assert (untouched.pending, upgraded.sentiment.calls) == (0, 0)

    rescored = annotate_dataset(con, "jd", rescore=True, annotator_factory=upgraded)
    assert rescored.feedback_annotated == len(REVIEWS)
    assert rescored.texts_scored == len(set(REVIEWS))
    new_version = rescored.pipeline_versions["jd"]
    assert new_version != old.pipeline_versions["jd"]
    versions = con.execute(
        "SELECT DISTINCT pipeline_version FROM feedback_sentiment UNION ALL "
        "SELECT DISTINCT pipeline_version FROM aspect_mentions"
    ).fetchall()
    assert {v[0] for v in versions} == {new_version}
    assert con.execute("SELECT count(*) FROM feedback_sentiment").fetchall()[0][0] == len(REVIEWS)
    assert con.execute("SELECT count(*) FROM aspect_mentions").fetchall()[0][0] == old.mentions_written
    # both versions stay in the cache: going back costs nothing
    assert con.execute("SELECT count(DISTINCT pipeline_version) FROM annotation_cache").fetchall()[0][0] == 2


def test_dataset_taxonomy_is_stored_and_used(
    con: duckdb.DuckDBPyConnection, phone_matcher: AspectMatcher, hotel_matcher: AspectMatcher
) -> None:
    add_dataset(con, "hotels", ["房间干净，隔音差，前台服务好", "早餐一般，位置方便"], first_id=1)
    assert dataset_taxonomy(con, "hotels") == "phone"
    set_dataset_taxonomy(con, "hotels", "hotel")
    assert dataset_taxonomy(con, "hotels") == "hotel"
    factory = Factory({"phone": phone_matcher, "hotel": hotel_matcher}, CountingSentiment())
    annotate_dataset(con, annotator_factory=factory)  # every dataset
    tops = {row[0] for row in con.execute("SELECT DISTINCT aspect_top FROM aspect_mentions").fetchall()}
    assert {"房间", "隔音", "服务", "早餐", "位置"} <= tops
    with pytest.raises(AnnotationError, match="no taxonomy named 'nope'"):
        set_dataset_taxonomy(con, "hotels", "nope")
    with pytest.raises(AnnotationError, match=r"no dataset 'missing'.*hotels"):
        annotate_dataset(con, "missing", annotator_factory=factory)


def test_control_character_only_text_is_neutral_without_model_call(
    con: duckdb.DuckDBPyConnection, phone_matcher: AspectMatcher
) -> None:
    add_dataset(con, "odd", ["\u200b\u200b", "屏幕好"], first_id=1)
    factory = Factory({"phone": phone_matcher}, CountingSentiment())
    summary = annotate_dataset(con, "odd", annotator_factory=factory)
    assert summary.feedback_annotated == 2 and summary.texts_scored == 1
    rows = con.execute("SELECT sentiment, score FROM feedback_sentiment ORDER BY feedback_id").fetchall()
    assert rows[0] == ("neutral", None)


def test_results_computed_elsewhere_fill_the_cache(
    con: duckdb.DuckDBPyConnection, phone_matcher: AspectMatcher
) -> None:
    """A distributed job runs the same pure function; its records make the local run model-free."""
    remote = Annotator(CountingSentiment(), CountingAspects(), phone_matcher)
    records = [r.to_record(remote.version) for r in remote.annotate(REVIEWS)]
    assert add_cache_records(con, records) == len(set(REVIEWS))
    assert add_cache_records(con, records) == 0  # idempotent
    add_dataset(con, "jd", REVIEWS, first_id=1)
    local = Factory({"phone": phone_matcher}, CountingSentiment())
    summary = annotate_dataset(con, "jd", annotator_factory=local)
    assert summary.texts_scored == 0 and local.sentiment.calls == 0
    assert summary.feedback_annotated == len(REVIEWS) and summary.mentions_written > 0


# ---------------------------------------------------------------------------------------------------------
# The real models (skip until their weights are in the checkout)
# ---------------------------------------------------------------------------------------------------------


def _real_annotator_or_skip() -> Annotator:
    try:
        from models.annotate import load_annotator

        return load_annotator("phone")
    except Exception as exc:  # weights not trained/committed yet
        pytest.skip(f"real models not available: {type(exc).__name__}: {str(exc)[:200]}")


def test_real_models_end_to_end(tmp_path: Path) -> None:
    annotator = _real_annotator_or_skip()
    con = connect(tmp_path / "store.duckdb")
    add_dataset(con, "real", REVIEWS, first_id=1)
    summary = annotate_dataset(con, "real")
    assert summary.texts_scored == len(set(REVIEWS))
    by_text = dict(
        con.execute(
            "SELECT f.text, s.sentiment FROM feedback_sentiment s JOIN feedback f USING (feedback_id)"
        ).fetchall()
    )
    assert by_text["物流太慢了"] == "negative"
    polarity = dict(
        con.execute(
            "SELECT aspect_path, polarity FROM aspect_mentions m JOIN feedback f USING (feedback_id)"
            " WHERE f.text = ?",
            [REVIEWS[0]],
        ).fetchall()
    )
    assert polarity == {"屏幕": "positive", "电池/续航": "negative"}
    add_dataset(con, "again", REVIEWS, first_id=100)
    before = annotator.texts_scored
    again = annotate_dataset(con, "again")
    assert again.texts_scored == 0 and annotator.texts_scored == before
    con.close()


# ---------------------------------------------------------------------------------------------------------
# The SQL-only cache path
# ---------------------------------------------------------------------------------------------------------

TRICKY_TEXTS = [
    "",
    " ",
    "屏幕很好",
    "ＦＵＬＬ　ＷＩＤＴＨ，！",
    "emoji 👍🏽👨‍👩‍👧 ok",
    "e\u0301 combining",  # e + combining acute
    "\u200b\u200b",  # zero-width spaces only
    "\ufeffBOM\u202e bidi",
    "𠀀𪚥 astral CJK",
    "tab\tnew\nline\r\n",
    "\x00nul\x7f",
    "\udcff".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
]


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_raw_text_key_matches_duckdb_sha256(text: str) -> None:
    con = duckdb.connect(":memory:")
    try:
        sql_key = con.execute("SELECT substr(sha256(?), 1, 32)", [text]).fetchall()[0][0]
    finally:
        con.close()
    assert raw_text_key(text) == sql_key


def _rows_by_text(con: duckdb.DuckDBPyConnection, dataset_id: int) -> tuple[list[tuple], list[tuple]]:
    """A dataset's feedback_sentiment and aspect_mentions rows, keyed by the feedback's position (its id
    minus the dataset's first id), sorted: ordering-independent, every written column compared."""
    sentiment = con.execute(
        """
        SELECT s.feedback_id - min(s.feedback_id) OVER (), s.text_hash, s.sentiment, s.score,
               s.pipeline_version
        FROM feedback_sentiment s WHERE s.dataset_id = ? ORDER BY 1
        """,
        [dataset_id],
    ).fetchall()
    first = con.execute("SELECT min(feedback_id) FROM feedback WHERE dataset_id = ?", [dataset_id]).fetchall()
    mentions = con.execute(
        """
        SELECT feedback_id - ?, brand, product, channel, created_at, aspect_path, aspect_top, term, clause,
               span_start, span_end, polarity, confidence, pipeline_version
        FROM aspect_mentions WHERE dataset_id = ? ORDER BY ALL
        """,
        [first[0][0], dataset_id],
    ).fetchall()
    return sentiment, mentions


def test_sql_cache_path_equals_model_path_row_for_row(
    con: duckdb.DuckDBPyConnection, phone_matcher: AspectMatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [*REVIEWS, "\u200b\u200b", "屏幕很好，但是电池续航差 ", "物流太慢了！！！"]
    first = add_dataset(con, "first", texts, first_id=1)
    factory = Factory({"phone": phone_matcher}, CountingSentiment())
    scored = annotate_dataset(con, "first", annotator_factory=factory, batch_size=4)
    assert scored.texts_scored > 0
    calls = factory.sentiment.calls

    # The same raw texts again: served in SQL alone, without normalising or hashing a text in Python.
    import models.annotation_store as store

    def no_python(_text: str) -> str:
        raise AssertionError("the SQL cache path must not normalise texts in Python")

    monkeypatch.setattr(store, "normalize", no_python)
    again = add_dataset(con, "again", texts, first_id=1000)
    summary = annotate_dataset(con, "again", annotator_factory=factory)
    assert (summary.pending, summary.feedback_annotated, summary.texts_scored) == (len(texts), len(texts), 0)
    assert summary.texts_from_cache == len(texts) - 1  # the zero-width text is empty once normalised
    assert summary.batches == 1 and factory.sentiment.calls == calls
    assert summary.mentions_written == scored.mentions_written
    assert _rows_by_text(con, again) == _rows_by_text(con, first)
    monkeypatch.undo()

    # Texts that differ only in width and whitespace: unknown raw texts, so the Python batches run, and
    # find every normalised text in the cache (no model call); same rows again.
    variants = [t.replace("，", ",").replace("！", "!") + "  " if t.strip() else t for t in texts]
    assert [normalize(v) for v in variants] == [normalize(t) for t in texts]
    third = add_dataset(con, "variants", variants, first_id=2000)
    python_path = annotate_dataset(con, "variants", annotator_factory=factory, batch_size=4)
    assert python_path.texts_scored == 0 and factory.sentiment.calls == calls
    assert python_path.batches == 2  # 4 rows, then the other 7 (batches grow while all are cached)
    assert _rows_by_text(con, third) == _rows_by_text(con, first)
    # ... and the raw-text keys they added let the next copy of them go through SQL only
    fourth = add_dataset(con, "variants again", variants, first_id=3000)
    assert annotate_dataset(con, "variants again", annotator_factory=factory).batches == 1
    assert _rows_by_text(con, fourth) == _rows_by_text(con, first)
    keys = con.execute(
        "SELECT count(*), count(DISTINCT (raw_hash, pipeline_version)) FROM annotation_text_keys"
    ).fetchall()[0]
    assert keys[0] == keys[1] == len(set(texts)) + len(set(variants) - set(texts))


def test_sql_cache_path_mixed_with_new_texts_and_rescore(
    con: duckdb.DuckDBPyConnection, phone_matcher: AspectMatcher
) -> None:
    add_dataset(con, "old", REVIEWS[:4], first_id=1)
    v1 = Factory({"phone": phone_matcher}, CountingSentiment("v1"))
    annotate_dataset(con, "old", annotator_factory=v1)
    # half known, half new: the known half in SQL, the rest scored in one Python batch
    mixed = add_dataset(con, "mixed", REVIEWS, first_id=100)
    summary = annotate_dataset(con, "mixed", annotator_factory=v1)
    assert summary.feedback_annotated == len(REVIEWS) and summary.batches == 2
    assert summary.texts_scored == len(set(REVIEWS[4:]) - set(REVIEWS[:4]))
    counts = con.execute(
        "SELECT count(*), count(DISTINCT feedback_id) FROM feedback_sentiment WHERE dataset_id = ?", [mixed]
    ).fetchall()[0]
    assert counts == (len(REVIEWS), len(REVIEWS))

    # upgrade: rescoring "mixed" scores it; rescoring "old" afterwards is served in SQL and replaces rows
    v2 = Factory({"phone": phone_matcher}, CountingSentiment("v2"))
    annotate_dataset(con, "mixed", rescore=True, annotator_factory=v2)
    calls = v2.sentiment.calls
    rescored = annotate_dataset(con, "old", rescore=True, annotator_factory=v2)
    assert rescored.texts_scored == 0 and v2.sentiment.calls == calls and rescored.batches == 1
    version = rescored.pipeline_versions["old"]
    rows = con.execute(
        "SELECT count(*), count(DISTINCT feedback_id), min(pipeline_version), max(pipeline_version)"
        " FROM feedback_sentiment WHERE feedback_id < 100"
    ).fetchall()[0]
    assert rows == (4, 4, version, version)
    stale = con.execute(
        "SELECT count(*) FROM aspect_mentions WHERE pipeline_version <> ?", [version]
    ).fetchall()[0][0]
    assert stale == 0


def test_cache_rows_without_parsed_mentions_are_repaired(
    con: duckdb.DuckDBPyConnection, phone_matcher: AspectMatcher
) -> None:
    """A cache row written without ``mention_rows`` (code older than migration 5) is not served by the SQL
    path; the Python batch parses it and writes the mentions, and the next copy goes through SQL."""
    remote = Annotator(CountingSentiment(), CountingAspects(), phone_matcher)
    records = [r.to_record(remote.version) for r in remote.annotate(REVIEWS)]
    add_cache_records(con, records)
    con.execute("UPDATE annotation_cache SET mention_rows = NULL")
    first = add_dataset(con, "jd", REVIEWS, first_id=1)
    local = Factory({"phone": phone_matcher}, CountingSentiment())
    summary = annotate_dataset(con, "jd", annotator_factory=local)
    assert summary.texts_scored == 0 and summary.mentions_written > 0
    assert (
        con.execute("SELECT count(*) FROM annotation_cache WHERE mention_rows IS NULL").fetchall()[0][0] == 0
    )
    again = add_dataset(con, "jd again", REVIEWS, first_id=100)
    assert annotate_dataset(con, "jd again", annotator_factory=local).batches == 1
    assert _rows_by_text(con, again) == _rows_by_text(con, first)
