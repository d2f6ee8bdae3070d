"""Import a module in a fresh interpreter where some other module is not installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_SCRIPT = """
import importlib.abc, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == {missing!r} or name.startswith({missing!r} + "."):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
try:
    import {module}
except ModuleNotFoundError as error:
    print(f"{{error.name}}: {{error}}")
    sys.exit(1)
print("imported")
"""


def import_without(module: str, missing: str) -> tuple[int, str]:
    """Import ``module`` as if ``missing`` were not installed: (exit status, output).

    The output is ``name: message`` of the ``ModuleNotFoundError`` the import raised,
    or ``imported``.
    """
    script = textwrap.dedent(_SCRIPT).format(module=module, missing=missing)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert not done.stderr, done.stderr
    return done.returncode, done.stdout.strip()
