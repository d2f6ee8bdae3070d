"""The ``trio-pool demo`` command: see `run_demo`."""

from ._run import DemoConfig as DemoConfig
from ._run import DemoError as DemoError
from ._run import run_demo as run_demo
