"""Parameter map: per-product satisfaction against pandas, the kernel surface and its planted regions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analytics.filters import Filters
from analytics.parameter_map import (
    SHRINK_N,
    compare_products,
    kernel_surface,
    parameter_map,
    product_satisfaction,
)
from data.store import connect
from tests.analytics_fixture import annotated_store


@pytest.fixture(scope="module")
def store():
    con, fx = annotated_store()
    yield con, fx
    con.close()


def test_product_satisfaction_matches_pandas(store) -> None:
    con, fx = store
    fb = fx.feedback
    rating = product_satisfaction(con, Filters(), "rating").set_index("product")
    for product, part in fb[fb["rating"].notna()].groupby("product"):
        assert rating.loc[product, "n"] == len(part)
        assert rating.loc[product, "satisfaction"] == pytest.approx(part["rating"].astype(float).mean())
        se = part["rating"].astype(float).std(ddof=1) / math.sqrt(len(part))
        assert rating.loc[product, "high"] - rating.loc[product, "satisfaction"] == pytest.approx(1.96 * se)
    nps = product_satisfaction(con, Filters(), "nps").set_index("product")
    for product, part in fb[fb["nps_score"].notna()].groupby("product"):
        s = part["nps_score"].astype(int)
        assert nps.loc[product, "satisfaction"] == pytest.approx(
            100 * ((s >= 9).sum() - (s <= 6).sum()) / len(s)
        )
    aspect = product_satisfaction(con, Filters(), "aspect:电池/发热").set_index("product")
    m = fx.mentions[fx.mentions["aspect_path"] == "电池/发热"]
    for product, part in m.groupby("product"):
        pol = part["polarity"]
        net = 100 * ((pol == "positive").sum() - (pol == "negative").sum()) / len(part)
        assert aspect.loc[product, "satisfaction"] == pytest.approx(net)
    assert aspect["satisfaction"].idxmin() == "X100 Pro"
    with pytest.raises(ValueError):
        product_satisfaction(con, Filters(), "aspect:")


def test_kernel_surface_by_hand() -> None:
    px, py = np.array([0.0, 2.0]), np.array([5.0, 5.0])
    values, n = np.array([10.0, 20.0]), np.array([30.0, 90.0])
    surface = kernel_surface(px, py, values, n, np.array([1.0]), np.array([5.0]), 0.6, 5.0)
    # x standardised by mean 1, sd 1: both products are 1 sd away, so only the n weights differ
    w = n / (n + SHRINK_N)
    assert surface[0, 0] == pytest.approx(float((w * values).sum() / w.sum()))
    far = kernel_surface(px, py, values, n, np.array([50.0]), np.array([5.0]), 0.6, 1.5)
    assert math.isnan(far[0, 0])


def _planted_store():
    """3 × 3 products in weight × thickness; light and thin ones are loved, heavy and thick ones are not."""
    con = connect(":memory:")
    rng = np.random.default_rng(1)
    products, feedback = [], []
    fid = 0
    for i, weight in enumerate((170.0, 195.0, 220.0)):
        for j, thickness in enumerate((7.0, 8.0, 9.0)):
            name = f"P{i}{j}"
            products.append(
                {
                    "brand": "B",
                    "product": name,
                    "weight_g": weight,
                    "thickness_mm": thickness,
                    "is_ours": name == "P11",
                }
            )
            mean = 4.6 - 0.8 * (i + j)
            for rating in np.clip(np.rint(rng.normal(mean, 0.5, size=60)), 1, 5):
                fid += 1
                feedback.append(
                    {
                        "feedback_id": fid,
                        "dataset_id": 1,
                        "content_hash": f"h{fid}",
                        "brand": "B",
                        "product": name,
                        "rating": int(rating),
                    }
                )
    con.register("p", pd.DataFrame(products))
    con.execute("INSERT INTO products BY NAME SELECT * FROM p")
    con.register("f", pd.DataFrame(feedback))
    con.execute("INSERT INTO feedback BY NAME SELECT * FROM f")
    # one reviewed product has no specs: listed, not drawn
    con.execute(
        "INSERT INTO feedback (feedback_id, dataset_id, content_hash, brand, product, rating) "
        "VALUES (999, 1, 'x', 'B', 'Unknown', 5)"
    )
    return con


def test_planted_good_and_bad_regions() -> None:
    con = _planted_store()
    pmap = parameter_map(con, Filters(), "weight_g", "thickness_mm", "rating", grid_size=30)
    assert len(pmap.points) == 9 and pmap.products_without_specs == ("B Unknown",)
    assert pmap.surface.shape == (30, 30) and pmap.grid_x[0] < 170 < 220 < pmap.grid_x[-1]
    assert pmap.points.set_index("product").loc["P11", "is_ours"]
    good = pmap.value_at(170, 7.0)
    bad = pmap.value_at(220, 9.0)
    assert good > pmap.centre + 0.5 and bad < pmap.centre - 0.5
    points = pmap.points
    assert pmap.centre == pytest.approx(float(np.average(points["satisfaction"], weights=points["n"])))
    with pytest.raises(ValueError):
        parameter_map(con, Filters(), "weight_g", "weight_g")
    with pytest.raises(ValueError):
        parameter_map(con, Filters(), "weight_g; DROP TABLE products", "thickness_mm")


def test_unknown_cells_are_nan(store) -> None:
    con, _ = store
    pmap = parameter_map(
        con, Filters(), "launch_price_cny", "battery_mah", "aspect:电池", unknown_distance=0.3
    )
    assert np.isnan(pmap.surface).any() and np.isfinite(pmap.surface).any()
    for x, y in zip(pmap.points["x"], pmap.points["y"], strict=True):
        assert not math.isnan(pmap.value_at(x, y))
    empty = parameter_map(con, Filters(brands=("无此品牌",)), "weight_g", "thickness_mm")
    assert empty.points.empty and empty.surface.size == 0


def test_compare_products(store) -> None:
    con, fx = store
    chosen = [("华为", "Mate 60"), ("vivo", "Y100")]
    comparison = compare_products(con, Filters(), chosen)
    assert set(comparison.specs["product"]) == {"Y100", "Mate 60"}
    assert set(zip(comparison.aspects["brand"], comparison.aspects["product"], strict=True)) == set(chosen)
    mate = fx.feedback[(fx.feedback["product"] == "Mate 60") & fx.feedback["nps_score"].notna()]
    assert comparison.nps.set_index("product").loc["Mate 60", "n"] == len(mate)
    with pytest.raises(ValueError):
        compare_products(con, Filters(), [])
