import sys

from blocknas.cli import main

sys.exit(main())
