"""Where the repository's Hydra configs are: ``configs/`` beside ``src/``, or ``$YOLOLAB_CONFIG_DIR``.

Its own module, below everything that reads it (the entry points, the checkpoint reader, tests), so that
library code never imports the entry points. Importing it registers the configs' resolvers
(:mod:`yololab.utils.resolvers`): whoever composes the configs from ``CONFIG_DIR`` can resolve them.
"""

import os
from pathlib import Path

from yololab.utils import resolvers

resolvers.register()
CONFIG_DIR = os.environ.get("YOLOLAB_CONFIG_DIR", str(Path(__file__).resolve().parents[3] / "configs"))
