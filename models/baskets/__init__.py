"""Baskets: association rules, "bought together", recommendations for a customer, bundle suggestions."""
