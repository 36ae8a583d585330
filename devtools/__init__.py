"""Developer tooling kept out of the runtime apps: the demo loader and the benchmarks.

Installed only when it runs (settings add it with DEBUG on or CIVICAPP_DEVTOOLS=1; the tests
always), so a production deployment has neither the demo's known-password accounts nor its
dev-only dependencies (time-machine). The runtime apps never import it.
"""
