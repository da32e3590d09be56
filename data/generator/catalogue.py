"""Products (prices, costs, launch dates, popularity) and planted co-purchase bundles."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.generator.sizes import MerchantProfile

ADJECTIVES = ("Classic", "Modern", "Essential", "Premium", "Everyday", "Vintage", "Eco", "Deluxe", "Compact",
              "Signature", "Studio", "Nordic", "Urban", "Coastal", "Heritage", "Pro", "Lite", "Bold", "Soft", "Mini")
BRAND_STEMS = ("Alder", "Birch", "Cobalt", "Dune", "Ember", "Fjord", "Grove", "Harbor", "Iris", "Juniper",
               "Kestrel", "Linden", "Maple", "Nimbus", "Onyx", "Pine", "Quartz", "Rowan", "Sable", "Tide")
LOW_MARGIN_TRADES = {"electronics"}


@dataclass
class Catalogue:
    product_id: np.ndarray  # int64
    sku: list[str]
    name: list[str]
    category: np.ndarray  # code into profile.categories
    brand: list[str]
    price_cents: np.ndarray  # int64
    cost_cents: np.ndarray  # int64
    launch_idx: np.ndarray  # day index of launch (negative: before the window)
    popularity: np.ndarray  # relative demand weight
    bundles: list[np.ndarray]  # product positions of each planted bundle

    def __len__(self) -> int:
        return len(self.product_id)

    def category_share(self, n_categories: int) -> np.ndarray:
        return np.bincount(self.category, weights=self.popularity, minlength=n_categories) / self.popularity.sum()


def _price_cents(raw: np.ndarray) -> np.ndarray:
    """Shop-like price points: x.99 above 10, x.49/x.99 below."""
    big = np.maximum(np.round(raw), 1) * 100 - 1
    small = np.maximum(np.round(raw * 2), 1) * 50 - 1
    return np.where(raw >= 10, big, small).astype(np.int64)


def build_catalogue(profile: MerchantProfile, merchant_id: int, n: int, n_days: int, n_bundles: int,
                    rng: np.random.Generator) -> Catalogue:
    n_cat = len(profile.categories)
    cat_weights = rng.uniform(0.6, 1.6, size=n_cat)
    category = rng.choice(n_cat, size=n, p=cat_weights / cat_weights.sum()).astype(np.int32)
    medians = np.asarray(profile.price_medians)[category]
    price = _price_cents(medians * rng.lognormal(0.0, 0.45, size=n))
    margin_lo, margin_hi = (0.70, 0.88) if profile.trade in LOW_MARGIN_TRADES else (0.35, 0.62)
    cost = np.round(price * rng.uniform(margin_lo, margin_hi, size=n)).astype(np.int64)

    launched_before = rng.random(n) < 0.78
    launch_idx = np.where(launched_before, -rng.integers(1, 1100, size=n),
                          rng.integers(20, max(n_days - 20, 21), size=n)).astype(np.int32)
    popularity = rng.lognormal(0.0, 1.1, size=n) * np.where(launched_before, 1.0, 1.6)

    product_id = merchant_id * 1_000_000 + np.arange(1, n + 1, dtype=np.int64)
    prefix = profile.country + profile.trade[:3].upper()
    sku = [f"{prefix}-{profile.categories[c][:3].upper()}-{i + 1:06d}" for i, c in enumerate(category)]
    adj = rng.integers(0, len(ADJECTIVES), size=n)
    name = [f"{ADJECTIVES[a]} {profile.categories[c].split(' ')[0].rstrip('s').title()} {i + 1}"
            for i, (a, c) in enumerate(zip(adj, category))]
    brand_of = rng.integers(0, len(BRAND_STEMS), size=(n_cat, 4))
    pick = rng.integers(0, 4, size=n)
    suffix = " & Co" if profile.trade == "gifts" else ""
    brand = [BRAND_STEMS[brand_of[c, k]] + suffix for c, k in zip(category, pick)]

    # Bundles: 2-3 products each, all on sale for the whole window, no product in two bundles.
    pool = np.flatnonzero(launched_before)
    pool = pool[rng.permutation(len(pool))]
    bundles, pos = [], 0
    for _ in range(n_bundles):
        size = int(rng.integers(2, 4))
        if pos + size > len(pool):
            break
        bundles.append(np.sort(pool[pos: pos + size]))
        pos += size
    return Catalogue(product_id, sku, name, category, brand, price, cost, launch_idx, popularity, bundles)
