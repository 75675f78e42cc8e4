"""Mentoring models: mentor profiles, pairs, check-ins and safeguarding flags."""
