"""State shared by the gateway worker processes of one `percus serve`: fixed-size tables in memory,
linked from its run directory, mapped into every worker and guarded by one lock per operation. The supervisor
creates them before it starts the workers; each worker attaches them."""
