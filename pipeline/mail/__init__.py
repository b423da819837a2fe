"""Mail delivery behind one protocol (`base.Mailer`): an outbox folder on the embedded default, SES on
AWS, chosen from configuration in `pipeline/backends.py`."""
