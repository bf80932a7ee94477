"""Fault and crash proofs: the CLI against a faulty emulator, kill -9, a broken state DB, races."""
