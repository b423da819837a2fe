"""The platform's integration events (translator/platform_events.py) kept as dimension tables: per
organization, the latest state of each project, template, channel, share and the organization
itself, and every event that made it (docs/platform-events.md)."""
