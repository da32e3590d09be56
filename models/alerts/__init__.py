"""Anomaly alerts: detection, incidents and root-cause hints (issue 11, detection side).

- ``watch``: ``WatchRule`` (what to watch and how touchy), the metric and dimension registries.
- ``series``: hourly and daily metric series per merchant and dimension, read through ``DataAccess``.
- ``expected``: the expected value and its band from weekday x hour seasonality and holidays.
- ``scoring``: the robust residual score, direction, minimum volume and quiet hours.
- ``detectors``: PyOD on the vector of metrics per hour (kind ``anomaly_detector``).
- ``incidents``: ``Incident``, ``find_incidents``, ``metric_band``, ``dimension_breakdown``.
- ``causes``: ranked root-cause hints with their evidence.
"""
