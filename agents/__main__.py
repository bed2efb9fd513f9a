"""`python -m agents --scheduler HOST:PORT --nodes host|nodes.yaml` (see agents.main)."""

from agents.main import main

raise SystemExit(main())
