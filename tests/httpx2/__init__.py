"""The transport's tests of ``tests/httpx``, run again over httpx2 and `trio_pool.httpx2`.

Each test module there takes the HTTP library and the transport from its package's
``_flavour``. This package's ``__path__`` holds ``tests/httpx`` after its own folder,
so ``tests.httpx2.test_transport`` is ``tests/httpx/test_transport.py`` imported anew,
whose ``_flavour`` is this package's own: httpx2. ``tests/conftest.py`` collects them.
"""

from pathlib import Path

__path__.append(str(Path(__file__).resolve().parent.parent / "httpx"))
