"""Discovery sources: where a pool learns its endpoints.

Each source is an ``AsyncIterable[Update]`` over addresses ``(host, port)``, ready to be
passed to `open_pool_queue`. It yields a `Reset` first (or `DoesNotExist` when the name
does not exist), then what changes: `Add` and `Remove`, `DoesNotExist` when the name is
gone, a `Reset` when it cannot tell the difference. A bad record is skipped, logged on
a logger under ``trio_pool.discovery`` and counted; a failed lookup keeps the last good set
and is retried with a capped backoff. Neither ends the stream.

- `StaticDiscovery`: a fixed set.
- `FileDiscovery`: a JSON file, polled.
- `DnsDiscovery`: A, AAAA or SRV records (needs ``trio-pool[dns]``).
- `EtcdDiscovery`: keys under an etcd prefix, listed then watched (needs
  ``trio-pool[httpx]``).
- `EndpointSliceDiscovery`: the ready endpoints of a Kubernetes Service, from its
  EndpointSlices, listed then watched, in a pod or through ``kubectl proxy`` (needs
  ``trio-pool[httpx]``).

Built-in sources give each endpoint a `Meta` as its target: the entry's ``"meta"``
object, frozen so that it is hashable and compares by value.
"""

from ._dns import DnsDiscovery as DnsDiscovery
from ._dns import RecordType as RecordType
from ._etcd import EtcdDiscovery as EtcdDiscovery
from ._file import FileDiscovery as FileDiscovery
from ._kubernetes import EndpointSliceDiscovery as EndpointSliceDiscovery
from ._meta import MAX_META_DEPTH as MAX_META_DEPTH
from ._meta import Meta as Meta
from ._metrics import ERROR_KINDS as ERROR_KINDS
from ._metrics import DiscoveryMetricFamilies as DiscoveryMetricFamilies
from ._metrics import DiscoveryMetrics as DiscoveryMetrics
from ._metrics import ErrorKind as ErrorKind
from ._record import Address as Address
from ._retry import DEFAULT_BACKOFF as DEFAULT_BACKOFF
from ._static import StaticDiscovery as StaticDiscovery

__all__ = [
    "DEFAULT_BACKOFF",
    "ERROR_KINDS",
    "MAX_META_DEPTH",
    "Address",
    "DiscoveryMetricFamilies",
    "DiscoveryMetrics",
    "DnsDiscovery",
    "EndpointSliceDiscovery",
    "ErrorKind",
    "EtcdDiscovery",
    "FileDiscovery",
    "Meta",
    "RecordType",
    "StaticDiscovery",
]
