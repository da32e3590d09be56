"""What each generator size builds: the merchants and the volumes per merchant.

A merchant profile fixes the trade (categories and price levels), the country
(holidays, regions, carriers) and the shape of its demand (weekly pattern,
yearly peak, growth). A size picks profiles and volumes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MerchantProfile:
    key: str
    name: str
    country: str
    currency: str
    trade: str
    categories: tuple[str, ...]
    price_medians: tuple[float, ...]  # typical list price per category, merchant currency
    weekday: tuple[float, ...]  # Mon..Sun demand multipliers before normalisation
    yearly_amplitude: float  # smooth yearly swing (cosine), share of the mean
    yearly_peak_doy: int  # day of year the smooth swing peaks
    december_boost: float  # extra demand in the weeks before Christmas
    black_friday_boost: float  # extra demand on Black Friday (Cyber Monday gets 70% of it)
    growth_per_year: float  # trend: log growth per year
    return_rate: float  # share of delivered orders sent back
    channel_mix: tuple[float, float, float, float]  # web, app, store, marketplace
    shipping_fee_cents: int
    free_shipping_cents: int
    female_share: float


PROFILES: dict[str, MerchantProfile] = {
    p.key: p
    for p in (
        MerchantProfile(
            "gb_gifts", "Wren & Co Gifts", "GB", "GBP", "gifts",
            ("cards & wrap", "candles", "homeware", "toys & games", "jewellery", "personalised", "food & drink"),
            (4.0, 18.0, 25.0, 20.0, 35.0, 22.0, 15.0),
            (1.12, 1.05, 1.0, 0.98, 0.88, 0.80, 1.15),
            0.10, 350, 1.10, 1.2, 0.22, 0.04, (0.52, 0.28, 0.12, 0.08), 399, 4000, 0.62,
        ),
        MerchantProfile(
            "de_fashion", "Nordlicht Mode", "DE", "EUR", "fashion",
            ("tops", "dresses", "trousers", "shoes", "outerwear", "accessories", "sportswear"),
            (25.0, 55.0, 45.0, 70.0, 110.0, 20.0, 35.0),
            (1.10, 1.04, 1.0, 1.0, 0.90, 0.82, 1.14),
            0.16, 300, 0.45, 1.5, 0.18, 0.13, (0.50, 0.30, 0.12, 0.08), 495, 5000, 0.66,
        ),
        MerchantProfile(
            "us_electronics", "Voltline Electronics", "US", "USD", "electronics",
            ("phones", "audio", "computing", "accessories", "gaming", "smart home", "cameras"),
            (450.0, 120.0, 800.0, 25.0, 60.0, 90.0, 400.0),
            (0.90, 0.93, 0.94, 0.97, 1.06, 1.20, 1.08),
            0.08, 340, 0.60, 2.5, 0.30, 0.06, (0.55, 0.25, 0.10, 0.10), 599, 3500, 0.38,
        ),
        MerchantProfile(
            "fr_home", "Maison Lumen", "FR", "EUR", "home",
            ("kitchen", "bedding", "decor", "furniture", "lighting", "bath", "garden"),
            (30.0, 60.0, 25.0, 250.0, 70.0, 25.0, 45.0),
            (1.08, 1.02, 1.02, 1.0, 0.92, 0.88, 1.08),
            0.12, 120, 0.35, 1.3, 0.15, 0.05, (0.55, 0.22, 0.15, 0.08), 590, 6000, 0.58,
        ),
    )
}


@dataclass(frozen=True)
class SizeSpec:
    name: str
    profiles: tuple[str, ...]
    months: int
    orders_per_merchant: int  # legitimate orders planted per merchant over the whole window
    skus_per_merchant: int
    customers_per_merchant: int
    physical_stores: int  # stores of kind `store` per merchant (plus one online shop, one warehouse)
    bundles_per_merchant: int
    inventory_days: int | None  # days of inventory history kept (None: the whole window)
    non_purchase_sessions_per_order: float


SIZES: dict[str, SizeSpec] = {
    s.name: s
    for s in (
        SizeSpec("tiny", ("gb_gifts", "de_fashion", "us_electronics"), 14, 6_000, 150, 1_800, 2, 5, None, 3.0),
        SizeSpec("demo", tuple(PROFILES), 24, 50_000, 800, 12_000, 4, 12, None, 3.0),
        SizeSpec("benchmark", tuple(PROFILES), 24, 2_500_000, 5_000, 360_000, 12, 40, None, 0.8),
    )
}
