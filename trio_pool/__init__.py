"""trio-pool: a Trio-native, structured-concurrency client-side load balancer.

Requests wait in a bounded queue in front of a pool of endpoints; discovery updates are
applied the moment they arrive, even while no request flows; when no endpoint becomes
ready within the failfast timeout, queued and new requests fail fast until the pool
recovers::

    async with trio_pool.open_pool_queue(pool, discovery) as queue:
        response = await queue.call(request)

Calls may be retried within a budget (`RetryPolicy`, `RetryBudget`) and hedged
(`Hedging`): ``open_pool_queue(pool, discovery, retry=..., hedging=...)``.
"""

from ._backoff import Backoff as Backoff
from ._errors import DispatchTimeoutError as DispatchTimeoutError
from ._errors import FailFastError as FailFastError
from ._errors import PoolClosedError as PoolClosedError
from ._errors import PoolError as PoolError
from ._errors import UnavailableError as UnavailableError
from ._pool import BalancedPool as BalancedPool
from ._pool import BoundCall as BoundCall
from ._pool import CallOutcome as CallOutcome
from ._pool import Endpoint as Endpoint
from ._pool import EndpointState as EndpointState
from ._pool import EndpointStatistics as EndpointStatistics
from ._pool import Lease as Lease
from ._pool import LeastLoadedPool as LeastLoadedPool
from ._pool import Load as Load
from ._pool import LoadTracker as LoadTracker
from ._pool import OutlierDetection as OutlierDetection
from ._pool import P2CPool as P2CPool
from ._pool import PeakEwma as PeakEwma
from ._pool import PendingRequests as PendingRequests
from ._pool import Pool as Pool
from ._pool import PoolMetricFamilies as PoolMetricFamilies
from ._pool import PoolMetrics as PoolMetrics
from ._pool import PoolStatistics as PoolStatistics
from ._pool import RandomPool as RandomPool
from ._pool import RoundRobinPool as RoundRobinPool
from ._pool import SlowStart as SlowStart
from ._pool import apply_update as apply_update
from ._queue import QUEUE_LATENCY_BUCKETS as QUEUE_LATENCY_BUCKETS
from ._queue import PoolQueue as PoolQueue
from ._queue import PoolQueueStatistics as PoolQueueStatistics
from ._queue import QueueMetricFamilies as QueueMetricFamilies
from ._queue import QueueMetrics as QueueMetrics
from ._queue import open_pool_queue as open_pool_queue
from ._resilience import BudgetAccount as BudgetAccount
from ._resilience import Hedging as Hedging
from ._resilience import RetryBudget as RetryBudget
from ._resilience import RetryPolicy as RetryPolicy
from ._update import Add as Add
from ._update import DoesNotExist as DoesNotExist
from ._update import Remove as Remove
from ._update import Reset as Reset
from ._update import Update as Update

__version__ = "0.1.0.dev0"

__all__ = [
    "QUEUE_LATENCY_BUCKETS",
    "Add",
    "Backoff",
    "BalancedPool",
    "BoundCall",
    "BudgetAccount",
    "CallOutcome",
    "DispatchTimeoutError",
    "DoesNotExist",
    "Endpoint",
    "EndpointState",
    "EndpointStatistics",
    "FailFastError",
    "Hedging",
    "Lease",
    "LeastLoadedPool",
    "Load",
    "LoadTracker",
    "OutlierDetection",
    "P2CPool",
    "PeakEwma",
    "PendingRequests",
    "Pool",
    "PoolClosedError",
    "PoolError",
    "PoolMetricFamilies",
    "PoolMetrics",
    "PoolQueue",
    "PoolQueueStatistics",
    "PoolStatistics",
    "QueueMetricFamilies",
    "QueueMetrics",
    "RandomPool",
    "Remove",
    "Reset",
    "RetryBudget",
    "RetryPolicy",
    "RoundRobinPool",
    "SlowStart",
    "UnavailableError",
    "Update",
    "apply_update",
    "open_pool_queue",
]
