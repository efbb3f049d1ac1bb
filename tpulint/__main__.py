"""`python -m tpulint`."""

from tpulint.cli import main

raise SystemExit(main())
