"""trio-pool: a Trio-native, structured-concurrency client-side load balancer.

Requests wait in a bounded queue in front of a pool of endpoints; discovery updates are
applied the moment they arrive, even while no request flows; when no endpoint becomes
ready within the failfast timeout, queued and new requests fail fast until the pool
recovers::

    async with trio_pool.open_pool_queue(pool, discovery) as queue:
        response = await queue.call(request)
"""

from ._endpoint import Endpoint as Endpoint
from ._errors import FailFastError as FailFastError
from ._errors import PoolClosedError as PoolClosedError
from ._errors import PoolError as PoolError
from ._metrics import QUEUE_LATENCY_BUCKETS as QUEUE_LATENCY_BUCKETS
from ._metrics import QueueMetricFamilies as QueueMetricFamilies
from ._metrics import QueueMetrics as QueueMetrics
from ._pool import Pool as Pool
from ._queue import PoolQueue as PoolQueue
from ._queue import PoolQueueStatistics as PoolQueueStatistics
from ._queue import apply_update as apply_update
from ._queue import open_pool_queue as open_pool_queue
from ._update import Add as Add
from ._update import DoesNotExist as DoesNotExist
from ._update import Remove as Remove
from ._update import Reset as Reset
from ._update import Update as Update

__version__ = "0.1.0.dev0"

__all__ = [
    "QUEUE_LATENCY_BUCKETS",
    "Add",
    "DoesNotExist",
    "Endpoint",
    "FailFastError",
    "Pool",
    "PoolClosedError",
    "PoolError",
    "PoolQueue",
    "PoolQueueStatistics",
    "QueueMetricFamilies",
    "QueueMetrics",
    "Remove",
    "Reset",
    "Update",
    "apply_update",
    "open_pool_queue",
]
