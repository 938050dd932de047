"""The queue rules: names, wants and the service that ties them to storage."""

from disqueue.core.names import QueueNames
from disqueue.core.service import QueueService
from disqueue.core.wants import Consumer, Want

__all__ = ["Consumer", "QueueNames", "QueueService", "Want"]
