"""Who may export and how often: API keys, JWT, rate-limit tiers, the per-worker export cap."""
