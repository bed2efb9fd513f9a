"""The Kubernetes executor and capacity source (`suanchou agent --executor kubernetes`).

Only `api` imports the `kubernetes` client, and `agents.main` imports this package only when
asked for the Kubernetes executor, so the local agent runs without the client installed.
The other modules are pure: they turn leases into pod manifests, pod statuses into run
statuses and nodes plus pods into capacity, on the API's own JSON shapes.
"""
