"""evalkit's pytest plugin (registered through the ``pytest11`` entry point).

It imports only pytest and the standard library at top level, so installing evalkit
costs nothing in test sessions that do not use it.
"""

from __future__ import annotations
