"""The seeding CLI: python -m seed."""
