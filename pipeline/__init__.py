"""The data flow by stage (raw → curated → reporting → webhooks, with governance over all of them),
beside the backends (queue, store, query, mail), the storage layout and the configuration."""
