"""A Bambuddy 1.2.5.2 simulator (REST + WebSocket) for tests, the demo and benchmarks."""

from .simulator import BambuddySimulator

__all__ = ["BambuddySimulator"]
