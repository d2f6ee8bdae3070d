"""An httpx transport that balances each authority over the endpoints discovery finds.

::

    async with trio_pool.httpx.open_balanced_transport(resolve) as transport:
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.get("https://api.test/users")

Needs the ``httpx`` extra: ``pip install "trio-pool[httpx]"``. For httpx2, the same
transport is `trio_pool.httpx2`.
"""

# The library first: its absence is said in words (see _flavour).
from . import _flavour  # noqa: F401  # isort: skip
from ._authority import Authority as Authority
from ._authority import Resolve as Resolve
from ._endpoint import Address as Address
from ._endpoint import HttpEndpoint as HttpEndpoint
from ._errors import BalancerClosedError as BalancerClosedError
from ._errors import BalancerConnectError as BalancerConnectError
from ._errors import BalancerConnectTimeout as BalancerConnectTimeout
from ._errors import BalancerError as BalancerError
from ._errors import BalancerFailFastError as BalancerFailFastError
from ._errors import BalancerPoolTimeout as BalancerPoolTimeout
from ._errors import UnknownAuthorityError as UnknownAuthorityError
from ._metrics import ENDPOINT_LATENCY_BUCKETS as ENDPOINT_LATENCY_BUCKETS
from ._metrics import EndpointMetricFamilies as EndpointMetricFamilies
from ._metrics import EndpointMetrics as EndpointMetrics
from ._metrics import TransportMetricFamilies as TransportMetricFamilies
from ._metrics import TransportMetrics as TransportMetrics
from ._retry import HTTP_RETRY as HTTP_RETRY
from ._retry import IDEMPOTENT_METHODS as IDEMPOTENT_METHODS
from ._retry import RETRY_STATUSES as RETRY_STATUSES
from ._retry import http_retry as http_retry
from ._transport import HTTP_OUTLIER_DETECTION as HTTP_OUTLIER_DETECTION
from ._transport import HTTP_SLOW_START as HTTP_SLOW_START
from ._transport import AuthorityStatistics as AuthorityStatistics
from ._transport import AuthorityTable as AuthorityTable
from ._transport import BalancedTransport as BalancedTransport
from ._transport import NewEndpoint as NewEndpoint
from ._transport import NewPool as NewPool
from ._transport import TransportStatistics as TransportStatistics
from ._transport import open_balanced_transport as open_balanced_transport

__all__ = [
    "ENDPOINT_LATENCY_BUCKETS",
    "HTTP_OUTLIER_DETECTION",
    "HTTP_RETRY",
    "HTTP_SLOW_START",
    "IDEMPOTENT_METHODS",
    "RETRY_STATUSES",
    "Address",
    "Authority",
    "AuthorityStatistics",
    "AuthorityTable",
    "BalancedTransport",
    "BalancerClosedError",
    "BalancerConnectError",
    "BalancerConnectTimeout",
    "BalancerError",
    "BalancerFailFastError",
    "BalancerPoolTimeout",
    "EndpointMetricFamilies",
    "EndpointMetrics",
    "HttpEndpoint",
    "NewEndpoint",
    "NewPool",
    "Resolve",
    "TransportMetricFamilies",
    "TransportMetrics",
    "TransportStatistics",
    "UnknownAuthorityError",
    "http_retry",
    "open_balanced_transport",
]
