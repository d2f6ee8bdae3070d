"""Test your pools, endpoints and services with trio-pool's own harness.

- `MockEndpoint` / `EndpointHandle`: an endpoint of any `EndpointKind` (with or
  without ``ready_nowait()``) whose readiness (permits, failure) and answers (latency,
  errors) a test scripts, and which records every call bound to it.
- `MockPool` / `PoolHandle`: a pool that records every change and whose readiness and
  ``drive()`` failure a test scripts, for testing what sits in front of a pool.
- Hypothesis strategies: `addresses`, `targets`, `updates`, `update_streams`, `scenarios`.
- `PoolModel`: the reference model of pool membership.
- `check_pool(new_pool)`: the conformance check any `trio_pool.Pool` can run;
  `run_scenario` runs one scenario, for suites of your own.

Needs Hypothesis, the ``testing`` extra: ``pip install "trio-pool[testing]"``.
"""

try:
    import hypothesis as _hypothesis
except ModuleNotFoundError as _missing:  # say which extra brings it
    if _missing.name != "hypothesis":
        raise
    raise ModuleNotFoundError(
        "trio_pool.testing needs Hypothesis, from the 'testing' extra: "
        "pip install 'trio-pool[testing]'",
        name="hypothesis",
    ) from _missing
else:
    del _hypothesis

from ._check import EndpointFactory as EndpointFactory
from ._check import ScenarioReport as ScenarioReport
from ._check import ScriptedDiscoveryError as ScriptedDiscoveryError
from ._check import ScriptedEndpointError as ScriptedEndpointError
from ._check import ScriptedFactoryError as ScriptedFactoryError
from ._check import ScriptedReadinessError as ScriptedReadinessError
from ._check import check_pool as check_pool
from ._check import run_scenario as run_scenario
from ._mock_endpoint import CallState as CallState
from ._mock_endpoint import EndpointHandle as EndpointHandle
from ._mock_endpoint import EndpointKind as EndpointKind
from ._mock_endpoint import MockCall as MockCall
from ._mock_endpoint import MockEndpoint as MockEndpoint
from ._mock_pool import MockPool as MockPool
from ._mock_pool import PoolHandle as PoolHandle
from ._model import PoolModel as PoolModel
from ._scenario import DiscoveryBehaviour as DiscoveryBehaviour
from ._scenario import DiscoveryFails as DiscoveryFails
from ._scenario import EndpointFails as EndpointFails
from ._scenario import EndpointRecovers as EndpointRecovers
from ._scenario import EndpointRejects as EndpointRejects
from ._scenario import EndpointSlowsDown as EndpointSlowsDown
from ._scenario import FactoryFails as FactoryFails
from ._scenario import Scenario as Scenario
from ._scenario import SendUpdate as SendUpdate
from ._scenario import SetPermits as SetPermits
from ._scenario import Sleep as Sleep
from ._scenario import StartCall as StartCall
from ._scenario import Step as Step
from ._scenario import Together as Together
from ._strategies import addresses as addresses
from ._strategies import scenarios as scenarios
from ._strategies import targets as targets
from ._strategies import update_streams as update_streams
from ._strategies import updates as updates
