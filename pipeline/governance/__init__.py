"""Governance: the organization registry and its keys, keyed viewer ids, DSAR, retention and the
append-only audit log."""
