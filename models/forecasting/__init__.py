"""Demand forecasting families (statsforecast and friends), one long frame in, one documented frame out."""
