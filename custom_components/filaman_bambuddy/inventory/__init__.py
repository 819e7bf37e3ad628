"""FilaMan → Bambuddy inventory sync, free of Home Assistant imports.

``mapping``, ``plan`` and ``rfid`` are pure; ``sync_run`` performs one run (when runs
happen is the Home Assistant side's :class:`~..coordinator.InventoryCoordinator`);
``watcher`` turns FilaMan's change stream into sync requests.
"""

from .result import SyncResult, SyncStatus
from .watcher import FilamanChangeWatcher

__all__ = ["FilamanChangeWatcher", "SyncResult", "SyncStatus"]
