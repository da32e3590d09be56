"""The campaign ROI simulator: past promotions' uplift, the audience, the Monte Carlo, the test design.

Modules: ``history`` (queries), ``uplift`` (each past promotion's uplift and the pooled prior),
``audience`` (who is targeted and how they bought), ``simulation`` (the Monte Carlo), ``design`` (holdout,
power, minimum detectable effect), ``stock`` (promoted products that may run out). No streamlit here.
"""
