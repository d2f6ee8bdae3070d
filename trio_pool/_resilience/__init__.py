"""Resilience: retries within a budget, and hedged requests, for every call of a queue.

One concept per module: ``_budget`` (`RetryBudget`, Finagle's, and the balance a queue
keeps under it), ``_retry`` (`RetryPolicy`), ``_hedging`` (`Hedging`), ``_latency``
(the recent percentile that sets a hedge's delay), ``_outcome`` (one attempt's outcome,
and closing the responses that are not delivered), ``_race`` (copies of an attempt,
the first answer wins), ``_attempts`` (`Resilience`: the attempts of one call, which
the queue runs in the caller's task).
"""

from ._attempts import Resilience as Resilience
from ._budget import BudgetAccount as BudgetAccount
from ._budget import RetryBudget as RetryBudget
from ._hedging import Hedging as Hedging
from ._retry import RetryPolicy as RetryPolicy
