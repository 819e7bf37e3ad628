"""``script/bench``: reproducible speed figures for the integration against the simulators.

The parent process (:mod:`bench.__main__`) hosts both simulators and measures from the
outside; the code under test runs in child processes (:mod:`bench.agent` for the sync and
consumption figures, :mod:`bench.ha_probe` for Home Assistant's event loop), so their peak
RSS and event-loop figures are their own and not the simulators'.
"""
