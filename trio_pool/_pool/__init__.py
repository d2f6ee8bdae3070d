"""The pool wing: what a queue drives, and the pools trio-pool ships.

One concept per module, after tower's ``ready_cache`` under ``balance/p2c`` and
Linkerd's ``pool/p2c``:

- ``_protocol``: the `Pool` and `Endpoint` protocols; ``_apply``: `apply_update`;
- ``_balanced``: `BalancedPool`, which owns membership and holds the parts below;
  ``_pools``: the shipped pools, a balanced pool with a policy each;
- ``_ready_cache``: the readiness of members (pending, ready, backing off);
  ``_runner`` and ``_inline``: waits run without a task each unless they block;
- ``_policy``: the choice among ready members (P2C, round robin, random);
  ``_least_loaded`` and ``_heap``: the exact lowest load, from an indexed heap;
- ``_call``, ``_bound``, ``_lease``: call accounting, ended exactly once;
- ``_retire``: endpoints out of service drain, then close;
- ``_health``: outlier ejection and slow start, for every policy;
- ``_member``: one address of a pool; ``_load``: Peak-EWMA and pending requests;
- ``_metrics``: the pool's Prometheus metrics.
"""

from ._apply import apply_update as apply_update
from ._balanced import BalancedPool as BalancedPool
from ._balanced import EndpointStatistics as EndpointStatistics
from ._balanced import PoolStatistics as PoolStatistics
from ._bound import BoundCall as BoundCall
from ._bound import CallOutcome as CallOutcome
from ._health import OutlierDetection as OutlierDetection
from ._health import SlowStart as SlowStart
from ._lease import Lease as Lease
from ._load import Load as Load
from ._load import LoadTracker as LoadTracker
from ._load import PeakEwma as PeakEwma
from ._load import PendingRequests as PendingRequests
from ._member import EndpointState as EndpointState
from ._metrics import PoolMetricFamilies as PoolMetricFamilies
from ._metrics import PoolMetrics as PoolMetrics
from ._pools import LeastLoadedPool as LeastLoadedPool
from ._pools import P2CPool as P2CPool
from ._pools import RandomPool as RandomPool
from ._pools import RoundRobinPool as RoundRobinPool
from ._protocol import Endpoint as Endpoint
from ._protocol import Pool as Pool
