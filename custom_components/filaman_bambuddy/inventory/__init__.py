"""FilaMan → Bambuddy inventory sync, free of Home Assistant imports.

``mapping`` and ``plan`` are pure; ``sync_run`` performs one run; ``runner``
schedules runs (coalescing, debounce, echo suppression); ``watcher`` turns
FilaMan's change stream into sync requests.
"""

from .result import SyncResult, SyncStatus
from .runner import InventorySyncRunner
from .watcher import FilamanChangeWatcher

__all__ = ["FilamanChangeWatcher", "InventorySyncRunner", "SyncResult", "SyncStatus"]
