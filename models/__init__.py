"""The model layer: every model in Retail Pulse is trained, saved, versioned, loaded and described one way.

- ``registry``: the model kinds and ``train`` (data through ``data.access``, scoped to one merchant);
- ``artifacts``: signed model files (hash and HMAC checked before anything is deserialised);
- ``jobs``: background training, so no page ever trains; ``card``: the model card;
- ``evaluation``: accuracy metrics shared by backtests, pages and tests;
- one sub-package per model family (``forecasting``...), registered through ``families``.

Nothing here imports streamlit.
"""
