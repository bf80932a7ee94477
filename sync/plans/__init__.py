"""Saved plans: the file `plan --out` writes, and the checks `apply` makes before it writes."""
