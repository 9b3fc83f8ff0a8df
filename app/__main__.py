"""`python -m app <command>`: see `app.cli`."""

from app.cli import main

raise SystemExit(main())
