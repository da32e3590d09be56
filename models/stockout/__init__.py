"""Stock-out risk: for every SKU at every location that stocks it, the chance of running out before the
next replenishment can arrive, the reorder point and order quantity for a service level, ABC/XYZ class,
revenue at risk and a reason in words. ``risk.compute_stockout_risk`` is the entry point."""
