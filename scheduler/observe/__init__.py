"""Prometheus metrics of a scheduler process: what the cycle, the store and the RPCs report,
served over HTTP on --metrics-listen (scheduler.app wires the hooks; nothing else imports it)."""
