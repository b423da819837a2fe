"""Canonical schema, Individeo tables and legacy translation. Pure: no I/O."""
