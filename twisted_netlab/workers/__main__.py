"""``python -m twisted_netlab.workers``: run one worker (started by the supervisor)."""

from twisted_netlab.workers.child import main

raise SystemExit(main())
