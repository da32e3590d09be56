"""Importing this package registers every model family's kinds in ``models.registry.KINDS``."""

from models.forecasting import total  # noqa: F401
from models.forecasting import outputs  # noqa: F401
from models.fraud import outputs as fraud_outputs  # noqa: F401
from models.baskets import outputs as basket_outputs  # noqa: F401
from models.customers import outputs as customer_outputs  # noqa: F401
from models.alerts import detectors as alert_detectors  # noqa: F401
