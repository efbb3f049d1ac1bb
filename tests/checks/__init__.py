"""Per-rule tests: each family module lists CASES of models violating (bad) and satisfying (good) a rule."""
