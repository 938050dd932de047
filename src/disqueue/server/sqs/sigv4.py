"""AWS Signature Version 4, verified: requests signed with a key of `access_keys`.

The server computes the signature the client should have sent, from the request as it
arrived (AWS's "Create a signed AWS API request"): the canonical request (method, the
path URI-encoded again as AWS does for every service but S3, the sorted query, the
signed headers trimmed, the payload's SHA-256), the string to sign (algorithm, time,
credential scope, the canonical request's SHA-256) and the signing key derived from
the secret by HMAC-SHA256 over date, region, service and `aws4_request`; then compares
the two in constant time. A request dated more than `MAX_SKEW` from now is refused,
so a captured request cannot be replayed later.

Access keys: one `ACCESS_KEY_ID:SECRET:user` line each (`#` comments), read again when
the file changes; the user's permissions apply to the request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import stat
import time
from calendar import timegm
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from disqueue.server.sqs.errors import SqsError

log = logging.getLogger("disqueue.sqs")

ALGORITHM = "AWS4-HMAC-SHA256"
#: How far a request's X-Amz-Date may be from the server's clock (seconds).
MAX_SKEW = 15 * 60
#: How often, at most, the access-key file is looked at for a change (seconds).
RECHECK_SECONDS = 1.0

_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,"
    r"\s*Signature=([0-9a-fA-F]+)\s*"
)


@dataclass(frozen=True, slots=True)
class AccessKey:
    secret: str
    user: str


def parse_keys(text: str, source: str) -> dict[str, AccessKey]:
    """Access key ids to their secret and user; malformed lines are logged, skipped."""
    keys: dict[str, AccessKey] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3 or not all(parts):
            log.error(
                "%s:%d: malformed line (want ACCESS_KEY_ID:SECRET:user), skipped", source, number
            )
            continue
        keys[parts[0]] = AccessKey(parts[1], parts[2])
    return keys


class AccessKeys:
    """The keys of one file, kept up to date with the file on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys: dict[str, AccessKey] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._checked = 0.0
        self.reload()

    def reload(self) -> None:
        st = os.stat(self.path)
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning(
                "access key file %s can be read by others: keep it private (chmod 600)", self.path
            )
        self._keys = parse_keys(self.path.read_text(encoding="utf-8"), str(self.path))
        self._stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        self._checked = time.monotonic()

    def get(self, key_id: str) -> AccessKey | None:
        now = time.monotonic()
        if now - self._checked >= RECHECK_SECONDS:
            self._checked = now
            try:
                st = os.stat(self.path)
                if (st.st_mtime_ns, st.st_size, st.st_ino) != self._stamp:
                    self.reload()
                    log.info("access key file %s reloaded", self.path)
            except OSError as exc:  # keep the keys we have while the file is replaced
                log.error("access key file %s cannot be read: %s", self.path, exc.strerror)
        return self._keys.get(key_id)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    return _hmac(_hmac(_hmac(key, region), service), "aws4_request")


def canonical_query(raw: str) -> str:
    """The query's pairs, sorted, as they were sent (already URI-encoded)."""
    if not raw:
        return ""
    pairs = [pair.partition("=") for pair in raw.split("&")]
    return "&".join(f"{key}={value}" for key, _, value in sorted(pairs))


def canonical_request(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    signed: list[str],
    payload_hash: str,
) -> str:
    lines = [f"{name}:{' '.join(headers.get(name, '').split())}" for name in signed]
    return "\n".join(
        [
            method.upper(),
            quote(raw_path or "/", safe="/~"),
            canonical_query(raw_query),
            "\n".join(lines) + "\n",
            ";".join(signed),
            payload_hash,
        ]
    )


def _amz_time(text: str) -> float | None:
    try:
        return float(timegm(time.strptime(text, "%Y%m%dT%H%M%SZ")))
    except ValueError:
        return None


def verify(
    keys: AccessKeys,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
) -> str:
    """The user of the key that signed the request, or the SqsError AWS answers.
    `headers` are looked up by lower-case name."""
    header = headers.get("authorization")
    if not header:
        raise SqsError("InvalidClientTokenId", "Request is missing Authentication Token")
    match = _AUTHORIZATION.fullmatch(header)
    if match is None:
        raise SqsError("SignatureDoesNotMatch", "Authorization header is malformed.")
    credential, signed_text, signature = match.groups()
    scope = credential.split("/")
    if len(scope) != 5 or scope[3] != "sqs" or scope[4] != "aws4_request":
        raise SqsError("SignatureDoesNotMatch", "Credential should be scoped correctly.")
    key_id, date, region = scope[0], scope[1], scope[2]
    key = keys.get(key_id)
    if key is None:
        raise SqsError(
            "InvalidClientTokenId", "The security token included in the request is invalid."
        )
    amz_date = headers.get("x-amz-date", "")
    sent = _amz_time(amz_date)
    if sent is None or not amz_date.startswith(date):
        raise SqsError("SignatureDoesNotMatch", "The request must carry a valid X-Amz-Date.")
    now = time.time() if now is None else now
    if abs(now - sent) > MAX_SKEW:
        raise SqsError(
            "SignatureDoesNotMatch",
            f"Signature expired: {amz_date} is now more "
            f"than {MAX_SKEW // 60} minutes away from the server's time.",
        )
    signed = signed_text.split(";")
    if "host" not in signed:
        raise SqsError("SignatureDoesNotMatch", "The host header must be signed.")
    body_hash = hashlib.sha256(body).hexdigest()
    # The body is always signed: UNSIGNED-PAYLOAD (an S3 option that SQS's SDKs never
    # send) would let it be changed under a valid signature.
    payload = headers.get("x-amz-content-sha256", body_hash)
    if payload != body_hash:
        raise SqsError("SignatureDoesNotMatch", "The body does not match its SHA-256.")
    request = canonical_request(method, raw_path, raw_query, headers, signed, payload)
    to_sign = "\n".join(
        [
            ALGORITHM,
            amz_date,
            f"{date}/{region}/sqs/aws4_request",
            hashlib.sha256(request.encode("utf-8")).hexdigest(),
        ]
    )
    expected = hmac.new(
        signing_key(key.secret, date, region, "sqs"), to_sign.encode("utf-8"), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise SqsError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not "
            "match the signature you provided. Check your AWS Secret Access Key "
            "and signing method.",
        )
    return key.user
