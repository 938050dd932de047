"""The two wire protocols of SQS, read into one shape and written back from it.

- AWS JSON 1.0: `X-Amz-Target: AmazonSQS.<Action>` and a JSON object body; answers are
  JSON (`application/x-amz-json-1.0`), errors `{"__type", "message"}` with the
  `x-amzn-query-error: <code>;Sender` header that SDKs read the legacy code from.
- Query: a form (body or query string) with `Action=<Action>`; lists and maps are
  flattened (`AttributeName.1`, `Attribute.1.Name` / `.Value`, `MessageAttribute.1.Value
  .StringValue`, `SendMessageBatchRequestEntry.1.Id`, ...). They are read into the JSON
  protocol's shape (`RENAMES`), so one implementation serves both; answers are XML
  (`<ActionResponse><ActionResult>...`), errors `<ErrorResponse>`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree as ET

import orjson

from disqueue.server.sqs.errors import SqsError

JSON_TYPE = "application/x-amz-json-1.0"
XML_TYPE = "text/xml"
NAMESPACE = "http://queue.amazonaws.com/doc/2012-11-05/"
_TARGET = "AmazonSQS."

#: Query names of flattened members → the JSON protocol's member names.
RENAMES = {
    "Attribute": "Attributes",
    "AttributeName": "AttributeNames",
    "MessageAttribute": "MessageAttributes",
    "MessageAttributeName": "MessageAttributeNames",
    "MessageSystemAttribute": "MessageSystemAttributes",
    "MessageSystemAttributeName": "MessageSystemAttributeNames",
    "SendMessageBatchRequestEntry": "Entries",
    "DeleteMessageBatchRequestEntry": "Entries",
    "ChangeMessageVisibilityBatchRequestEntry": "Entries",
    "Tag": "Tags",
    "TagKey": "TagKeys",
}
#: Lists of name/value pairs in the Query protocol that are maps in the JSON one.
_MAPS = {
    "Attributes": ("Name", "Value"),
    "MessageAttributes": ("Name", "Value"),
    "MessageSystemAttributes": ("Name", "Value"),
    "Tags": ("Key", "Value"),
}

#: JSON members written as repeated XML elements (lists and maps), by element name.
_ELEMENTS = {
    "Attributes": "Attribute",
    "MessageAttributes": "MessageAttribute",
    "MessageSystemAttributes": "MessageSystemAttribute",
    "Tags": "Tag",
    "Messages": "Message",
    "QueueUrls": "QueueUrl",
    "queueUrls": "QueueUrl",
    "Failed": "BatchResultErrorEntry",
}


#: Actions whose Query answer has no `<ActionResult>` element (they answer nothing).
NO_RESULT = frozenset({
    "DeleteQueue", "PurgeQueue", "SetQueueAttributes", "DeleteMessage",
    "ChangeMessageVisibility", "TagQueue", "UntagQueue",
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class SqsRequest:
    action: str
    params: dict[str, Any]
    query: bool  # answered in the Query protocol (XML)
    request_id: str


def is_json(headers: Any) -> bool:
    return str(headers.get("X-Amz-Target", "")).startswith(_TARGET)


def decode(headers: Any, raw_query: str, body: bytes) -> SqsRequest:
    """The action and its parameters, in the JSON protocol's shape."""
    request_id = str(uuid.uuid4())
    if is_json(headers):
        action = str(headers["X-Amz-Target"])[len(_TARGET) :]
        try:
            params = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError:
            raise SqsError("SerializationException", "The body is not valid JSON.") from None
        if not isinstance(params, dict):
            raise SqsError("SerializationException", "The body must be a JSON object.")
        return SqsRequest(action, params, False, request_id)
    try:
        pairs = parse_qsl(raw_query, keep_blank_values=True, errors="strict")
        pairs += parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise SqsError("MalformedQueryString", "The request is not a valid form.") from None
    form = dict(pairs)
    action = form.pop("Action", "")
    form.pop("Version", None)
    if not action:
        raise SqsError("MissingAction", "The request must contain the parameter Action.")
    return SqsRequest(action, _unflatten(form), True, request_id)


def _unflatten(form: dict[str, str]) -> dict[str, Any]:
    """`A.1.B=x` → `{"A": [{"B": "x"}]}`, with `RENAMES` and `_MAPS` applied."""
    tree: dict[str, Any] = {}
    for name, value in form.items():
        parts = name.split(".")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SqsError("MalformedQueryString", f"Parameter {name} conflicts with another.")
        node[parts[-1]] = value
    shaped: dict[str, Any] = _shape(tree)
    return shaped


def _shape(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(key.isdigit() for key in node):
        return [_shape(node[key]) for key in sorted(node, key=int)]
    shaped: dict[str, Any] = {}
    for key, value in node.items():
        name: str = RENAMES.get(str(key), str(key))
        value = _shape(value)
        pair = _MAPS.get(name)
        if pair is not None and isinstance(value, list):
            value = {
                entry.get(pair[0]): entry.get(pair[1])
                for entry in value
                if isinstance(entry, dict) and isinstance(entry.get(pair[0]), str)
            }
        shaped[name] = value
    return shaped


# -- answers -------------------------------------------------------------------------------


def encode(request: SqsRequest, result: dict[str, Any]) -> tuple[bytes, str]:
    """The body and content type of a successful answer."""
    if not request.query:
        return orjson.dumps(result), JSON_TYPE
    root = ET.Element(f"{request.action}Response", xmlns=NAMESPACE)
    if request.action not in NO_RESULT:
        _xml(ET.SubElement(root, f"{request.action}Result"), result, request.action)
    meta = ET.SubElement(root, "ResponseMetadata")
    ET.SubElement(meta, "RequestId").text = request.request_id
    return ET.tostring(root, encoding="utf-8", xml_declaration=True), XML_TYPE


def _xml(parent: ET.Element, value: dict[str, Any], action: str) -> None:
    for name, member in value.items():
        if member is None:
            continue
        element = _ELEMENTS.get(name)
        if name == "Successful":
            element = f"{action}ResultEntry"
        if isinstance(member, dict) and element is not None:  # a map: name/value pairs
            key, val = ("Key", "Value") if name == "Tags" else ("Name", "Value")
            for map_key, map_value in member.items():
                entry = ET.SubElement(parent, element)
                ET.SubElement(entry, key).text = map_key
                _value(ET.SubElement(entry, val), map_value, action)
        elif isinstance(member, list):
            for entry in member:
                _value(ET.SubElement(parent, element or name), entry, action)
        else:
            _value(ET.SubElement(parent, name), member, action)


def _value(element: ET.Element, value: Any, action: str) -> None:
    if isinstance(value, dict):
        _xml(element, value, action)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = str(value)


def encode_error(query: bool, exc: SqsError, request_id: str) -> tuple[bytes, str]:
    fault = "Sender" if exc.sender else "Receiver"
    if not query:
        body = {"__type": f"com.amazonaws.sqs#{exc.shape}", "message": exc.message}
        return orjson.dumps(body), JSON_TYPE
    root = ET.Element("ErrorResponse", xmlns=NAMESPACE)
    error = ET.SubElement(root, "Error")
    ET.SubElement(error, "Type").text = fault
    ET.SubElement(error, "Code").text = exc.code
    ET.SubElement(error, "Message").text = exc.message
    ET.SubElement(error, "Detail")
    ET.SubElement(root, "RequestId").text = request_id
    return ET.tostring(root, encoding="utf-8", xml_declaration=True), XML_TYPE


def error_headers(exc: SqsError, request_id: str) -> dict[str, str]:
    fault = "Sender" if exc.sender else "Receiver"
    return {
        "x-amzn-query-error": f"{exc.code};{fault}",
        "x-amzn-RequestId": request_id,
        **exc.headers,
    }
