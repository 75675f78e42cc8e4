"""The conversation engine: a person's state and an incoming text in, replies and state out.

No Flask, Twilio or Redis here; the gateway and workers call in and do the sending. The order
in which a text is matched is the table in `flows.routes`.
"""

from flows.engine import Context, Inbound, Outcome, Push
from flows.routes import handle

__all__ = ["Context", "Inbound", "Outcome", "Push", "handle"]
