"""The monthly compliance report of a site against its service level (STANDARD.md rates and deadlines)."""
