"""The typed runtime data every config entry carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry

if TYPE_CHECKING:
    from .api.models_bambuddy import Printer
    from .consumption.processor import ConsumptionProcessor
    from .coordinator import PrinterCoordinator
    from .hub import BambuddyHub
    from .print_events import PrintEventBridge
    from .spool_locations import SpoolLocations
    from .tray_watch import TrayWatch


@dataclass
class FilamanBambuddyData:
    """What one loaded entry (one Bambuddy printer) holds."""

    hub: BambuddyHub
    coordinator: PrinterCoordinator
    consumption: ConsumptionProcessor
    printer: Printer
    bridge: PrintEventBridge
    tray_watch: TrayWatch
    locations: SpoolLocations


type FilamanBambuddyConfigEntry = ConfigEntry[FilamanBambuddyData]
