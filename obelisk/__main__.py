"""``python -m obelisk`` is the ``obelisk`` command."""

from obelisk.cli.main import main

main()
