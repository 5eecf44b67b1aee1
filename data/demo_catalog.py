"""The phone models of the demo market, with real launch figures and where each figure came from.

Sources (all under ``data.config.shared_data_dir()``; "line N" is the 1-based line of the CSV file, the header
being line 1):

- ``mobiles_dataset_2025/mobiles_dataset_2025.csv`` ("M"): weight, battery, screen, CNY launch price, year.
  Its SOURCE.md calls the values noisy, and they are: several CNY prices are later street prices or belong to
  another storage variant, and a few weights/batteries belong to the previous generation. Every disagreement
  is noted below.
- ``gsmarena_specs_melodiw82/final_data_2.csv`` ("G"): weight, thickness (column ``Diameter``), battery,
  screen. It has no OPPO, vivo or Honor models.
- ``gsmarena_summary_ayushmanmalla/gsmarena_dataset.csv`` ("S"): announce month, screen, battery (to
  mid-2023).

Where the files disagree or lack a figure, the manufacturer's published launch figure is used and the
comment says so ("published"). Those could not be re-checked offline here; verify them before a public demo.
Launch prices are the lowest storage variant sold in mainland China at launch. Product names follow the
store's convention (:func:`data.products.short_product_name`): no company name, sub-brands kept ("14 Pro",
"90", "Redmi Note 13 Pro", "iPhone 15"); :attr:`DemoProduct.display_name` is how buyers write them.

"Our" brand (``is_ours=True``) is 华为: its figures are the best cross-checked (all three of its models are
in both spec files), its three models span the budget, mid and flagship tiers, and the after-sales story in
:mod:`data.demo_truth` is planted on it, so the PM's own NPS survey (售后回访问卷) shows the decline.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

OUR_BRAND = "华为"


@dataclass(frozen=True)
class DemoProduct:
    """One phone model of the demo market, with its launch figures and their provenance."""

    brand: str
    product: str
    release_date: dt.date
    launch_price_cny: float
    weight_g: float
    thickness_mm: float
    battery_mah: float
    screen_in: float
    popularity: float  # relative review volume in the demo (not a real figure)
    sources: tuple[tuple[str, str], ...]

    @property
    def is_ours(self) -> bool:
        return self.brand == OUR_BRAND

    @property
    def display_name(self) -> str:
        """How a buyer writes the model: "小米14 Pro", "vivo X100 Pro", "Mate 60 Pro", "iPhone 15"."""
        if self.brand in ("小米", "荣耀") and not self.product.startswith("Redmi"):
            return f"{self.brand}{self.product}"
        if self.brand in ("OPPO", "vivo"):
            return f"{self.brand} {self.product}"
        return self.product

    def source_of(self, field_name: str) -> str:
        """Where the figure for ``field_name`` came from."""
        for name, note in self.sources:
            if name == field_name:
                return note
        raise KeyError(f"{self.product}: no source recorded for {field_name}")


_D = dt.date

DEMO_PRODUCTS: tuple[DemoProduct, ...] = (
    # ---------------------------------------------------------------- 华为 (ours)
    DemoProduct(
        "华为", "Mate 60 Pro", _D(2023, 8, 29), 6999, 225, 8.1, 5000, 6.82, 1.6,
        (
            ("release_date", "published (on sale 2023-08-29); M line 647 says 2023"),
            ("launch_price_cny", "published ¥6,999 (12+256 GB); M line 647 'CNY 7,999' disagrees"),
            ("weight_g", "M line 647 '225g' = G line 1399 225.0"),
            ("thickness_mm", "G line 1399 Diameter 8.1"),
            ("battery_mah", "M line 647 '5,000mAh' = G line 1399 5000"),
            ("screen_in", "M line 647 '6.82 inches' = G line 1399 6.82"),
        ),
    ),
    DemoProduct(
        "华为", "P60", _D(2023, 3, 23), 4488, 197, 8.3, 4815, 6.67, 0.8,
        (
            ("release_date", "published (launch 2023-03-23); S line 3093 'Mar-23'"),
            ("launch_price_cny", "published ¥4,488 (8+128 GB); M line 642 'CNY 6,988' disagrees"),
            ("weight_g", "M line 642 '197g' = G line 1414 197.0"),
            ("thickness_mm", "G line 1414 Diameter 8.3"),
            ("battery_mah", "M line 642 '4,815mAh' = G line 1414 4815 = S line 3093"),
            ("screen_in", "M line 642 '6.67 inches' = G line 1414 6.67"),
        ),
    ),
    DemoProduct(
        "华为", "nova 11", _D(2023, 4, 17), 2499, 168, 6.88, 4500, 6.7, 1.0,
        (
            ("release_date", "published (launch 2023-04-17); S line 3090 'Apr-23'"),
            ("launch_price_cny", "published ¥2,499 (8+128 GB); M line 649 'CNY 2,999' disagrees"),
            ("weight_g", "M line 649 '168g' = G line 1411 168.0"),
            ("thickness_mm", "published 6.88 mm; G line 1411 Diameter 6.9 (rounded)"),
            ("battery_mah", "M line 649 '4,500mAh' = G line 1411 4500 = S line 3090"),
            ("screen_in", "M line 649 '6.7 inches' = G line 1411 6.7"),
        ),
    ),
    # ---------------------------------------------------------------- 小米
    DemoProduct(
        "小米", "14", _D(2023, 10, 26), 3999, 188, 8.2, 4610, 6.36, 1.2,
        (
            ("release_date", "published (launch 2023-10-26); M line 536 says 2023"),
            ("launch_price_cny", "published ¥3,999 (8+256 GB) = M line 536 'CNY 3,999'"),
            ("weight_g", "G line 3493 188.0; M line 536 '189g' (the versions differ by colour/back)"),
            ("thickness_mm", "G line 3493 Diameter 8.2"),
            ("battery_mah", "M line 536 '4,610mAh' = G line 3493 4610"),
            ("screen_in", "M line 536 '6.36 inches' = G line 3493 6.36"),
        ),
    ),
    DemoProduct(
        "小米", "14 Pro", _D(2023, 10, 26), 4999, 223, 8.5, 4880, 6.73, 0.7,
        (
            ("release_date", "published (launch 2023-10-26); M line 534 says 2023"),
            ("launch_price_cny", "published ¥4,999 (12+256 GB); M line 534 'CNY 4,799' disagrees"),
            ("weight_g", "G line 3492 223.0; M line 534 '206g' disagrees (not the published figure)"),
            ("thickness_mm", "G line 3492 Diameter 8.5"),
            ("battery_mah", "G line 3492 4880; M line 534 '5,000mAh' disagrees (published 4,880)"),
            ("screen_in", "M line 534 '6.73 inches' = G line 3492 6.73"),
        ),
    ),
    DemoProduct(
        "小米", "Redmi Note 13 Pro", _D(2023, 9, 21), 1399, 187, 8.0, 5100, 6.67, 1.3,
        (
            ("release_date", "published (launch 2023-09-21); G line 3477 Announced 2023"),
            ("launch_price_cny", "published ¥1,399 (8+128 GB); not in M (it lists only Redmi Note 14)"),
            ("weight_g", "G line 3477 187.0"),
            ("thickness_mm", "G line 3477 Diameter 8.0 (published 7.98 mm)"),
            ("battery_mah", "G line 3477 5100"),
            ("screen_in", "G line 3477 6.67"),
        ),
    ),
    # ---------------------------------------------------------------- OPPO
    DemoProduct(
        "OPPO", "Find X6 Pro", _D(2023, 3, 21), 5999, 218, 9.1, 5000, 6.82, 0.6,
        (
            ("release_date", "published (launch 2023-03-21); S line 6809 'Mar-23'"),
            ("launch_price_cny", "published ¥5,999 (12+256 GB); M line 370 'CNY 6,499' is the 16+256 GB one"),
            ("weight_g", "M line 370 '218g' (published: 216 g glass, 218 g vegan leather)"),
            ("thickness_mm", "published 9.1 mm (glass back); not in G (no OPPO models)"),
            ("battery_mah", "M line 370 '5000mAh' = S line 6809"),
            ("screen_in", "M line 370 '6.82 inches' = S line 6809 6.82"),
        ),
    ),
    DemoProduct(
        "OPPO", "Find X6", _D(2023, 3, 21), 4499, 207, 8.8, 4800, 6.74, 0.5,
        (
            ("release_date", "published (launch 2023-03-21); S line 6810 'Mar-23'"),
            ("launch_price_cny", "published ¥4,499 (12+256 GB); M line 372 'CNY 5,999' disagrees"),
            ("weight_g", "M line 372 '207g'"),
            ("thickness_mm", "published 8.8 mm as best known offline; not in G (no OPPO models): verify"),
            ("battery_mah", "M line 372 '4800mAh' = S line 6810"),
            ("screen_in", "M line 372 '6.74 inches' = S line 6810 6.74"),
        ),
    ),
    DemoProduct(
        "OPPO", "Reno10", _D(2023, 5, 24), 2499, 185, 7.99, 4600, 6.7, 0.8,
        (
            ("release_date", "published (launch 2023-05-24); S line 6804 'May-23'"),
            ("launch_price_cny", "published ¥2,499 (8+256 GB); M line 380 'CNY 2,699' disagrees"),
            ("weight_g", "published 185 g (China model); M line 380 '180g' is the global Reno10 5G"),
            ("thickness_mm", "published 7.99 mm; not in G (no OPPO models)"),
            ("battery_mah", "S line 6804 '4600 mAh'; M line 380 '5,000mAh' is the global Reno10 5G"),
            ("screen_in", "M line 380 '6.7 inches' = S line 6804 6.70"),
        ),
    ),
    # ---------------------------------------------------------------- vivo
    DemoProduct(
        "vivo", "X100 Pro", _D(2023, 11, 13), 4999, 225, 8.91, 5400, 6.78, 1.0,
        (
            ("release_date", "published (launch 2023-11-13); too new for S, not in M"),
            ("launch_price_cny", "published ¥4,999 (12+256 GB); not in M (it lists X200 and X90 Pro)"),
            ("weight_g", "published 225 g; not in M or G"),
            ("thickness_mm", "published 8.91 mm; not in G (no vivo models)"),
            ("battery_mah", "published 5,400 mAh"),
            ("screen_in", "published 6.78 inches"),
        ),
    ),
    DemoProduct(
        "vivo", "X100", _D(2023, 11, 13), 3999, 202, 8.49, 5000, 6.78, 0.8,
        (
            ("release_date", "published (launch 2023-11-13); too new for S, not in M"),
            ("launch_price_cny", "published ¥3,999 (12+256 GB); not in M"),
            ("weight_g", "published 202 g as best known offline; not in M or G: verify"),
            ("thickness_mm", "published 8.49 mm as best known offline; not in G: verify"),
            ("battery_mah", "published 5,000 mAh"),
            ("screen_in", "published 6.78 inches"),
        ),
    ),
    DemoProduct(
        "vivo", "S17", _D(2023, 5, 31), 2499, 186, 7.46, 4600, 6.78, 0.7,
        (
            ("release_date", "published (launch 2023-05-31); S line 10764 'May-23'"),
            ("launch_price_cny", "published ¥2,499 (8+256 GB); not in M"),
            ("weight_g", "published 186 g as best known offline; not in M or G: verify"),
            ("thickness_mm", "published 7.46 mm; not in G (no vivo models)"),
            ("battery_mah", "S line 10764 '4600 mAh battery'"),
            ("screen_in", "S line 10764 6.78"),
        ),
    ),
    # ---------------------------------------------------------------- 荣耀
    DemoProduct(
        "荣耀", "Magic6 Pro", _D(2024, 1, 11), 5699, 229, 8.9, 5600, 6.8, 0.7,
        (
            ("release_date", "published (launch 2024-01-11); M line 858 says 2024"),
            ("launch_price_cny", "published ¥5,699 (12+256 GB); M line 858 'CNY 6,999' disagrees"),
            ("weight_g", "published 229 g; M line 858 '219g' repeats the Magic5 Pro figure (line 847)"),
            ("thickness_mm", "published 8.9 mm; not in G (no Honor models)"),
            ("battery_mah", "published 5,600 mAh (China model); M line 858 '5,500mAh' is the global model"),
            ("screen_in", "M line 858 '6.81 inches' (published 6.8)"),
        ),
    ),
    DemoProduct(
        "荣耀", "90", _D(2023, 5, 29), 2499, 183, 7.8, 5000, 6.7, 0.8,
        (
            ("release_date", "published (launch 2023-05-29); S line 2588 'May-23'"),
            ("launch_price_cny", "published ¥2,499 (12+256 GB); M line 861 'CNY 2,999' disagrees"),
            ("weight_g", "M line 861 '183g'"),
            ("thickness_mm", "published 7.8 mm; not in G (no Honor models)"),
            ("battery_mah", "M line 861 '5,000mAh' = S line 2588"),
            ("screen_in", "M line 861 '6.7 inches' = S line 2588 6.70"),
        ),
    ),
    DemoProduct(
        "荣耀", "X50", _D(2023, 7, 5), 1399, 185, 7.98, 5800, 6.78, 1.0,
        (
            ("release_date", "published (launch 2023-07-05); M line 853 says 2023; too new for S"),
            ("launch_price_cny", "published ¥1,399 (8+128 GB); M line 853 'CNY 1,599' is the 8+256 GB price"),
            ("weight_g", "M line 853 '185g'"),
            ("thickness_mm", "published 7.98 mm; not in G (no Honor models)"),
            ("battery_mah", "M line 853 '5,800mAh'"),
            ("screen_in", "M line 853 '6.78 inches'"),
        ),
    ),
    # ---------------------------------------------------------------- Apple
    DemoProduct(
        "Apple", "iPhone 15", _D(2023, 9, 22), 5999, 171, 7.8, 3349, 6.1, 1.5,
        (
            ("release_date", "published (on sale 2023-09-22); M line 14 and G line 414 say 2023"),
            ("launch_price_cny", "published ¥5,999 (128 GB); M line 14 'CNY 5,299' disagrees"),
            ("weight_g", "M line 14 '171g' = G line 414 171.0"),
            ("thickness_mm", "G line 414 Diameter 7.8"),
            ("battery_mah", "G line 414 3349 (Apple publishes no mAh); M line 14 '3,200mAh' disagrees"),
            ("screen_in", "M line 14 '6.1 inches' = G line 414 6.1"),
        ),
    ),
    DemoProduct(
        "Apple", "iPhone 15 Plus", _D(2023, 9, 22), 6999, 201, 7.8, 4383, 6.7, 0.6,
        (
            ("release_date", "published (on sale 2023-09-22); G line 413 says 2023"),
            ("launch_price_cny", "published ¥6,999 (128 GB); M line 17 'CNY 5,699' disagrees"),
            ("weight_g", "G line 413 201.0; M line 17 '203g' is the iPhone 14 Plus figure"),
            ("thickness_mm", "G line 413 Diameter 7.8"),
            ("battery_mah", "G line 413 4383; M line 17 '4,300mAh' disagrees"),
            ("screen_in", "M line 17 '6.7 inches' = G line 413 6.7"),
        ),
    ),
    DemoProduct(
        "Apple", "iPhone 15 Pro Max", _D(2023, 9, 22), 9999, 221, 8.25, 4441, 6.7, 1.1,
        (
            ("release_date", "published (on sale 2023-09-22); G line 411 says 2023"),
            ("launch_price_cny", "published ¥9,999 (256 GB, the smallest); M line 23 'CNY 7,999' disagrees"),
            ("weight_g", "M line 23 '221g' = G line 411 221.0"),
            ("thickness_mm", "published 8.25 mm; G line 411 Diameter 8.3 (rounded)"),
            ("battery_mah", "G line 411 4441; M line 23 '4,500mAh' disagrees"),
            ("screen_in", "M line 23 '6.7 inches' = G line 411 6.7"),
        ),
    ),
)

PRODUCTS_BY_NAME: dict[str, DemoProduct] = {p.product: p for p in DEMO_PRODUCTS}
DEMO_BRANDS: tuple[str, ...] = tuple(dict.fromkeys(p.brand for p in DEMO_PRODUCTS))


def product(name: str) -> DemoProduct:
    """The demo product called ``name``; a clear error naming the known ones otherwise."""
    try:
        return PRODUCTS_BY_NAME[name]
    except KeyError:
        known = ", ".join(PRODUCTS_BY_NAME)
        raise KeyError(f"{name!r} is not a demo product; known: {known}") from None
