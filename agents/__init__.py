"""The suanchou agent: runs inside one cluster, reports its nodes and runs what it is leased.

Imports `protos` (never `scheduler`): the agent ships to clusters without the scheduler's
dependencies and talks to it only through the AgentService protocol.
"""
