"""The embedded demo: the seed article's zone, accounts for every role, and cases in every state."""
