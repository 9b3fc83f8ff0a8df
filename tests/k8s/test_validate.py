"""Every manifest under k8s/ and example/ validates offline against the Kubernetes OpenAPI schemas.

`kubernetes-validate` ships the JSON schemas of each Kubernetes release; strict mode rejects unknown
fields (the typo class of error: `replica:` for `replicas:`), so a manifest that passes would be
accepted by an API server of that version. The version is the newest the installed package ships.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import EXAMPLES
from tests.k8s.manifests import K8S, Doc, find, load_docs

kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate (requirements-dev.txt)")

# kubectl's `kind: List` is a client-side envelope with no schema of its own: its items are validated.
LIST_KEYS = {"apiVersion", "kind", "items", "metadata"}


def newest_version() -> str:
    from kubernetes_validate.utils import all_versions

    return all_versions()[-1]


VERSION = newest_version()


def validate(obj: dict[str, Any]) -> str:
    """Strict validation; a kind without a schema is a failure here, not the CLI's warning."""
    return kv.validate(obj, VERSION, strict=True)


def objects(doc: Doc) -> list[dict[str, Any]]:
    if doc.kind == "List":
        assert set(doc.obj) <= LIST_KEYS, f"{doc}: unexpected keys {set(doc.obj) - LIST_KEYS}"
        assert doc.obj.get("apiVersion") == "v1", f"{doc}: a List is apiVersion v1"
        return list(doc.obj["items"])
    return [doc.obj]


ALL_DOCS = load_docs(K8S, EXAMPLES)


def test_the_version_is_current() -> None:
    major, minor = (int(x) for x in VERSION.split(".")[:2])
    assert (major, minor) >= (1, 33), f"kubernetes-validate ships schemas only up to {VERSION}: upgrade it"


def test_there_are_manifests_to_validate() -> None:
    assert sum(1 for d in ALL_DOCS if d.path.is_relative_to(K8S)) >= 15
    assert sum(1 for d in ALL_DOCS if d.path.is_relative_to(EXAMPLES)) >= 5


@pytest.mark.parametrize("doc", ALL_DOCS, ids=str)
def test_manifest_validates_strictly(doc: Doc) -> None:
    for obj in objects(doc):
        try:
            assert validate(obj) == ".".join(VERSION.split(".")[:2])
        except kv.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{doc}: {path}: {exc.message}")
        except kv.SchemaNotFoundError as exc:
            pytest.fail(f"{doc}: {exc.message}")


# The validator must be able to say no, or the test above proves nothing: typical mistakes, each on a
# copy of a real manifest of ours.
def _typo_field(obj: dict[str, Any]) -> None:
    obj["spec"]["replica"] = obj["spec"].pop("replicas")


def _wrong_type(obj: dict[str, Any]) -> None:
    obj["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"


def _unknown_container_field(obj: dict[str, Any]) -> None:
    obj["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesystem"] = True  # belongs in securityContext


def _missing_required(obj: dict[str, Any]) -> None:
    del obj["spec"]["selector"]


@pytest.mark.parametrize("breaks", [_typo_field, _wrong_type, _unknown_container_field, _missing_required])
def test_validator_rejects_a_broken_copy(breaks: Any) -> None:
    obj = copy.deepcopy(find("Deployment", "podpower-predict").obj)
    validate(obj)  # the original passes
    breaks(obj)
    with pytest.raises(kv.ValidationError):
        validate(obj)
