"""``python -m obelisk`` is the ``obelisk`` command."""

from obelisk.cli.entry import main

main()
