"""Generated Kubernetes object names: the alphabet controllers draw their random suffixes from.

Source: k8s.io/apimachinery `rand.SafeEncodeString` (no vowels, no 0/1/3, so no words and no
look-alikes). The ReplicaSet a Deployment creates is `<deployment>-<pod-template-hash>` (6-10 of
these characters), and every generated pod name ends in `-` plus 5 of them. One place, so the label
builder and the label-table reader strip the same suffixes.
"""

from __future__ import annotations

import re

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
RS_NAME = re.compile(rf"^(?P<base>.+)-[{SAFE_ALPHABET}]{{6,10}}$")
"""A ReplicaSet name: `<deployment>-<pod-template-hash>`."""
POD_SUFFIX = rf"-[{SAFE_ALPHABET}]{{5}}"
"""The random suffix `generateName` adds to a pod name (a regex fragment)."""
