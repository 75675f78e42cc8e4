"""The conversation engine: a person's state and an incoming text in, replies and state out.

No Flask, Twilio or Redis here; the gateway and workers call in and do the sending.
"""

from flows.engine import Context, Inbound, Outcome, Push, handle

# Importing the flows registers their keywords, open flows and fallbacks with the engine.
from flows import onboarding, quiz, resources, settings  # noqa: E402, F401  isort: skip

# Mentoring after the quiz: a check-in answer (`4 good week`) is tried before an exam answer.
from flows import checkins, mentors, safeguarding  # noqa: E402, F401  isort: skip

__all__ = ["Context", "Inbound", "Outcome", "Push", "handle"]
