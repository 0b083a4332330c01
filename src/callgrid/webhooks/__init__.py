"""Webhooks: endpoints, the transactional outbox, signing and the delivery worker.

`from callgrid.webhooks import emit` is the one thing other packages need.
"""

from callgrid.webhooks.events import EVENT_TYPES, emit

__all__ = ["EVENT_TYPES", "emit"]
