"""Queue names: UUIDs by default (Part 1), or short free-form names (Part 2)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Literal

from disqueue.errors import InvalidQueueId

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: How queue names may look: UUIDs only (Part 1), or free-form names too.
NamePolicy = Literal["uuid", "any"]

_ANY = re.compile(r"[A-Za-z0-9._:-]{1,128}")
#: Amazon SQS queue names (API.md Part 3): names under either policy once SQS is on.
SQS_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}|[A-Za-z0-9_-]{1,75}\.fifo")


@dataclass(frozen=True, slots=True)
class QueueNames:
    """Checks and normalises queue names under one naming policy."""

    policy: NamePolicy = "uuid"
    #: SQS queue names are names too, whatever the policy (`"sqs"` in the config).
    sqs: bool = False

    def parse(self, name: str) -> str:
        """The canonical form of `name`, or `InvalidQueueId`.

        UUIDs compare case-insensitively, so their canonical form is lower-case;
        free-form names (`"any"`) compare case-sensitively and are kept as given.
        """
        if _UUID.fullmatch(name):
            return name.lower()
        if self.policy == "any" and _ANY.fullmatch(name):
            return name
        if self.sqs and SQS_NAME.fullmatch(name):
            return name
        raise InvalidQueueId()

    @staticmethod
    def generate() -> str:
        """A new queue name: a lower-case version-4 UUID."""
        return str(uuid.uuid4())
