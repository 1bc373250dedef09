"""Imports every feature's tables so SQLModel.metadata is complete (Alembic, tests, purge)."""
from ble_beacon import models as ble_beacon_models  # noqa: F401
from core import models as core_models  # noqa: F401
from declarations import models as declarations_models  # noqa: F401
from kiosk import models as kiosk_models  # noqa: F401
from tracing import models as tracing_models  # noqa: F401
