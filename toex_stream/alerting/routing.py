"""Temporary: re-exports for modules not yet moved; to be deleted."""

from toex_stream.alerting.routes import RoutingConfig
from toex_stream.alerting.routes_file import RoutesFile, load_routes
from toex_stream.alerting.suppression import Silence

__all__ = ["RoutesFile", "RoutingConfig", "Silence", "load_routes"]
