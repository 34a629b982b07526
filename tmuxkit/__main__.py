import sys

from tmuxkit.cli import main

sys.exit(main())
