"""FilaMan 1.2.20 simulator (spool inventory server) for tests, the demo and benchmarks.

Faithful to the captured reference: paths, auth (`Authorization: ApiKey uak.<id>.<secret>`),
error bodies, paging, the consumption rules (sign, clamp, 5-minute aggregation), gap-filled
ids, printer params and the unauthenticated SSE change stream with its 64-event queue.
"""

from .app import FilamanSimulator

__all__ = ["FilamanSimulator"]
