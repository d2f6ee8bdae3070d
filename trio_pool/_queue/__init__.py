"""The pool queue: a bounded request queue, with failfast, in front of a pool.

One concept per module, after tower's buffer: ``_open`` (the entry point), ``_handle``
(what callers hold), ``_worker`` (the background tasks), ``_message`` (request and
one-shot reply), ``_gate`` (failfast and closed state), ``_backlog`` (pending count),
``_metrics`` (its Prometheus families).
"""

from ._handle import PoolQueue as PoolQueue
from ._handle import PoolQueueStatistics as PoolQueueStatistics
from ._metrics import QUEUE_LATENCY_BUCKETS as QUEUE_LATENCY_BUCKETS
from ._metrics import QueueMetricFamilies as QueueMetricFamilies
from ._metrics import QueueMetrics as QueueMetrics
from ._open import open_pool_queue as open_pool_queue
