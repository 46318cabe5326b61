"""Use cases: each takes a command (or plain arguments) and the ports it needs."""
