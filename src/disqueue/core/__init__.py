"""The queue rules: names, wants and the service that ties them to storage."""

from disqueue.core.service import QueueService
from disqueue.core.wants import Consumer, Want
from disqueue.names import QueueNames

__all__ = ["Consumer", "QueueNames", "QueueService", "Want"]
