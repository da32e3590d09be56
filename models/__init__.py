"""In-process models (forecasting, stock-out risk, segmentation, fraud, anomalies, campaigns, baskets)."""
