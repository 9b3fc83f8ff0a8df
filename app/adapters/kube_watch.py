"""Reading a Kubernetes watch stream: the one parser the collector's watch and the webhook's informers share.

The rule (API concepts, "Efficient detection of changes"): a watch response is one JSON event per
line, `{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": …}`; an ERROR event carries a
`Status`, and code 410 (Gone) means the resourceVersion is too old: relist. Blank lines are
keep-alives. Every other event's `metadata.resourceVersion` is where to resume.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


class Gone(Exception):
    """The watch's resourceVersion is too old (HTTP 410 in an ERROR event): list again."""


def watch_events(resp: Any) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(type, object, resourceVersion) per event of a streaming watch response (`_preload_content=False`).

    Raises `Gone` for a 410 ERROR event and the client's `ApiException` for any other ERROR event.
    """
    from kubernetes.client.exceptions import ApiException
    from kubernetes.watch.watch import iter_resp_lines

    for line in iter_resp_lines(resp):
        if not line.strip():
            continue
        event = json.loads(line)
        etype, obj = event.get("type"), event.get("object") or {}
        if etype == "ERROR":
            if obj.get("code") == 410:
                raise Gone(obj.get("message") or "resourceVersion too old")
            raise ApiException(status=obj.get("code"), reason=obj.get("reason"), body=json.dumps(obj))
        yield str(etype), obj, str((obj.get("metadata") or {}).get("resourceVersion") or "")
