"""Sources of people: each yields Person records."""
