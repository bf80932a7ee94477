"""Notifications: what a run tells the admin by email or webhook, once, and how it gets there."""
