"""Regions, cities and carriers per merchant country (weights are population-like shares)."""

from __future__ import annotations

import numpy as np

# region -> (weight, main city)
REGIONS: dict[str, dict[str, tuple[float, str]]] = {
    "GB": {
        "London": (0.16, "London"), "South East": (0.14, "Brighton"), "North West": (0.11, "Manchester"),
        "East of England": (0.09, "Cambridge"), "West Midlands": (0.09, "Birmingham"),
        "South West": (0.08, "Bristol"), "Yorkshire and the Humber": (0.08, "Leeds"),
        "Scotland": (0.08, "Glasgow"), "East Midlands": (0.07, "Nottingham"), "Wales": (0.05, "Cardiff"),
        "North East": (0.04, "Newcastle"), "Northern Ireland": (0.03, "Belfast"),
    },
    "DE": {
        "Nordrhein-Westfalen": (0.21, "Köln"), "Bayern": (0.16, "München"),
        "Baden-Württemberg": (0.13, "Stuttgart"), "Niedersachsen": (0.10, "Hannover"),
        "Hessen": (0.08, "Frankfurt am Main"), "Berlin": (0.05, "Berlin"), "Sachsen": (0.05, "Dresden"),
        "Rheinland-Pfalz": (0.05, "Mainz"), "Schleswig-Holstein": (0.035, "Kiel"),
        "Brandenburg": (0.03, "Potsdam"), "Hamburg": (0.025, "Hamburg"), "Thüringen": (0.025, "Erfurt"),
        "Sachsen-Anhalt": (0.025, "Magdeburg"), "Mecklenburg-Vorpommern": (0.02, "Rostock"),
        "Saarland": (0.012, "Saarbrücken"), "Bremen": (0.008, "Bremen"),
    },
    "US": {
        "California": (0.12, "Los Angeles"), "Texas": (0.09, "Houston"), "Florida": (0.065, "Miami"),
        "New York": (0.06, "New York"), "Pennsylvania": (0.04, "Philadelphia"), "Illinois": (0.04, "Chicago"),
        "Ohio": (0.035, "Columbus"), "Georgia": (0.033, "Atlanta"), "North Carolina": (0.032, "Charlotte"),
        "Michigan": (0.03, "Detroit"), "Washington": (0.023, "Seattle"), "Arizona": (0.022, "Phoenix"),
        "Massachusetts": (0.021, "Boston"), "Colorado": (0.017, "Denver"), "Hawaii": (0.004, "Honolulu"),
        "Alaska": (0.002, "Anchorage"),
    },
    "FR": {
        "Île-de-France": (0.19, "Paris"), "Auvergne-Rhône-Alpes": (0.12, "Lyon"),
        "Nouvelle-Aquitaine": (0.09, "Bordeaux"), "Occitanie": (0.09, "Toulouse"),
        "Hauts-de-France": (0.09, "Lille"), "Provence-Alpes-Côte d'Azur": (0.08, "Marseille"),
        "Grand Est": (0.08, "Strasbourg"), "Pays de la Loire": (0.06, "Nantes"), "Bretagne": (0.05, "Rennes"),
        "Normandie": (0.05, "Rouen"), "Bourgogne-Franche-Comté": (0.04, "Dijon"),
        "Centre-Val de Loire": (0.04, "Orléans"), "Corse": (0.005, "Ajaccio"),
    },
}

# Regions far from the fulfilment centre: carriers are slower there.
REMOTE = {"Scotland", "Northern Ireland", "Alaska", "Hawaii", "Corse", "Mecklenburg-Vorpommern"}

INTERNATIONAL = "International"  # shipping region of orders sent abroad

CARRIERS: dict[str, tuple[tuple[str, float, int], ...]] = {  # name, share, promised transit days
    "GB": (("Royal Mail", 0.5, 2), ("DPD", 0.3, 1), ("Evri", 0.2, 3)),
    "DE": (("DHL", 0.55, 2), ("Hermes", 0.25, 3), ("DPD", 0.2, 2)),
    "US": (("UPS", 0.4, 3), ("FedEx", 0.3, 2), ("USPS", 0.3, 4)),
    "FR": (("Colissimo", 0.5, 2), ("Chronopost", 0.2, 1), ("Mondial Relay", 0.3, 4)),
}

# Where legitimate foreign customers live, per merchant country.
NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "GB": ("IE", "FR", "DE", "US", "NL"),
    "DE": ("AT", "CH", "NL", "FR", "PL"),
    "US": ("CA", "MX", "GB"),
    "FR": ("BE", "CH", "LU", "DE", "ES"),
}

# Card and IP countries used by planted fraud (foreign to every merchant above).
FRAUD_COUNTRIES = ("BR", "NG", "RO", "VN", "ID", "PH", "UA", "TR")


def region_table(country: str) -> tuple[list[str], np.ndarray, list[str]]:
    """(region names, normalised weights, main city per region) for a merchant country."""
    items = REGIONS[country]
    names = list(items)
    weights = np.array([items[n][0] for n in names], dtype=np.float64)
    return names, weights / weights.sum(), [items[n][1] for n in names]
