"""The conversation engine: a person's state and an incoming text in, replies and state out.

No Flask, Twilio or Redis here; the gateway and workers call in and do the sending.
"""

from flows.engine import Context, Inbound, Outcome, Push, handle

__all__ = ["Context", "Inbound", "Outcome", "Push", "handle"]
