"""The balanced transport for httpx2, pydantic's maintained fork of httpx: the API of
`trio_pool.httpx`, over ``httpx2`` and ``httpcore2``.

::

    async with trio_pool.httpx2.open_balanced_transport(resolve) as transport:
        async with httpx2.AsyncClient(transport=transport) as client:
            response = await client.get("https://api.test/users")

Needs the ``httpx2`` extra: ``pip install "trio-pool[httpx2]"``.

It is the same implementation, not a copy: this package runs the modules of
``trio_pool.httpx`` (its ``__path__`` holds that package's folder after its own), and
its own ``_flavour`` module binds httpx2 and httpcore2 where those modules take the
library from. So its classes are its own: `BalancedTransport` here is an
``httpx2.AsyncBaseTransport``, and its errors are ``httpx2`` exceptions
(``BalancerConnectError`` is an ``httpx2.ConnectError``), which is what code written
against httpx2 catches. Type checkers see its names as ``Any``.
"""

from pathlib import Path as _Path

# The shared modules, found after this package's own (_flavour).
__path__.append(str(_Path(__file__).resolve().parent.parent / "httpx"))


def _export() -> list[str]:
    # The public names are those of trio_pool.httpx, imported by its __init__, which is
    # run here as a module of this package so that it imports this package's modules.
    from importlib.util import module_from_spec, spec_from_file_location  # noqa: PLC0415

    shared = _Path(__path__[-1]) / "__init__.py"
    spec = spec_from_file_location(f"{__name__}._exports", shared, submodule_search_locations=None)
    assert spec is not None, "trio_pool.httpx is beside this package"
    assert spec.loader is not None, "trio_pool.httpx is beside this package"
    exports = module_from_spec(spec)
    spec.loader.exec_module(exports)
    names: list[str] = exports.__all__
    globals().update({name: getattr(exports, name) for name in names})
    return names


__all__ = _export()  # noqa: PLE0605 - the names of trio_pool.httpx
