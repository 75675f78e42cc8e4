"""Admin models: accounts, API tokens and broadcasts."""
