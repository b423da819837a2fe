"""Per-organization webhooks: an organization's curated events, POSTed in signed batches to the endpoint
it configured, retried with backoff, dead-lettered when they keep failing. A run (`run.py`) collects
what the compactor committed into an outbox in the store (`collect.py`, `outbox.py`) and delivers it
(`deliver.py`, signed as `signatures.py` says, to the addresses `addresses.py` allows);
`dead_letters.py` lists and redrives the batches that failed. docs/architecture.md walks through it.
"""
