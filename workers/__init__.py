"""Background work on RQ and Redis: the send path, the scheduling pass and the clock.

Job functions take ids and ISO timestamps, never ORM objects, and are safe to run twice.
"""
