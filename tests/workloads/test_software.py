"""Image references and software identity, expectations written from the reference grammar and the projects' docs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.workloads.software import BOILERPLATE_LABELS, identify, parse_image, variant_words


@pytest.mark.parametrize(("ref", "registry", "path", "name", "tag"), [
    ("nginx", "", "nginx", "nginx", ""),
    ("nginx:1.27-alpine", "", "nginx", "nginx", "1.27-alpine"),
    ("docker.io/library/redis:7.2", "", "redis", "redis", "7.2"),
    ("docker.io/bitnami/postgresql:16.3.0-debian-12-r14", "", "bitnami/postgresql", "postgresql",
     "16.3.0-debian-12-r14"),
    ("registry.k8s.io/ingress-nginx/controller:v1.10.1@sha256:" + "e" * 64, "registry.k8s.io",
     "ingress-nginx/controller", "controller", "v1.10.1"),
    ("localhost:5000/team/app@sha256:" + "0" * 64, "localhost:5000", "team/app", "app", ""),
    ("public.ecr.aws/docker/library/redis:7.2.4-alpine", "public.ecr.aws", "redis", "redis", "7.2.4-alpine"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/storefront/orders-api:3.8.2",
     "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "storefront/orders-api", "orders-api", "3.8.2"),
    ("ghcr.io/Acme/API:Latest", "ghcr.io", "acme/api", "api", "latest"),
])
def test_parse_image(ref: str, registry: str, path: str, name: str, tag: str) -> None:
    got = parse_image(ref)
    assert (got.registry, got.path, got.name, got.tag) == (registry, path, name, tag)


@pytest.mark.parametrize(("tag", "words"), [
    ("2.1.3-frontend", ("frontend",)),
    ("v0.10.0", ()),
    ("16.3.0-debian-12-r14", ()),
    ("1.27-alpine", ()),
    ("8f3e2a1", ()),
    ("24.05-py3", ()),
    ("2.24.0-py310-gpu", ("gpu",)),
    ("latest", ()),
    ("RELEASE.2024-06-13T22-53-53Z".lower(), ()),
    # CI builds and package versioning: hashes, git-describe, build and release markers (audit 2026-12-01)
    ("sha-1a2b3c4", ()), ("sha-7e9cafe", ()), ("main-7e9cafe", ()), ("v1.8.2-9-gdeadbe7", ()),
    ("1.8.2-build.57", ()), ("1.8.2.post1", ()), ("1.8.2-patch1", ()), ("1.8.2-lts", ()),
    ("release-1.8.2-abcdef0", ()), ("2024.06.01-a1b2c3d", ()), ("3248.v65ecb_254c298-1", ()),
    # variants stay, with a version glued on
    ("cuda12-2024-06-03", ("cuda",)), ("3-management", ("management",)), ("8.2-fpm-alpine", ("fpm",)),
    ("2.3.0-cuda12.1-cudnn8-runtime", ("cuda", "cudnn")),
])
def test_tag_words_keep_only_application_variants(tag: str, words: tuple[str, ...]) -> None:
    assert parse_image(f"x/y:{tag}").tag_words() == words


@pytest.mark.parametrize(("images", "commands", "labels", "software", "family", "category"), [
    (["docker.io/valkey/valkey:7.2.5-alpine"], [[]], {}, "valkey", "redis", "cache"),
    (["docker.dragonflydb.io/dragonflydb/dragonfly:v1.19.2"], [[]], {}, "dragonfly", "redis", "cache"),
    (["opensearchproject/opensearch:2.15.0"], [[]], {}, "opensearch", "elasticsearch", "search"),
    (["docker.io/bitnami/mariadb:11.3.2-debian-12-r5"], [[]], {}, "mariadb", "mysql", "sql-database"),
    (["registry.k8s.io/ingress-nginx/controller:v1.10.1"], [["/nginx-ingress-controller"]],
     {"app.kubernetes.io/name": "ingress-nginx", "helm.sh/chart": "ingress-nginx-4.10.1"},
     "ingress-nginx", "nginx", "ingress"),
    (["ghcr.io/acme/orders:1.4.0"], [["gunicorn", "app:wsgi"]], {"app": "orders"}, "gunicorn", "python-web", "api"),
    (["ghcr.io/acme/orders:1.4.0"], [[]], {"app.kubernetes.io/name": "orders"}, "orders", "", ""),
    (["quay.io/prometheus/prometheus:v2.53.0"], [[]], {}, "prometheus", "prometheus", "observability-server"),
    (["nvcr.io/nvidia/tritonserver:24.05-py3"], [["tritonserver"]], {}, "triton", "triton", "ml-inference"),
])
def test_identify(images: list[str], commands: list[list[str]], labels: dict[str, str], software: str,
                  family: str, category: str) -> None:
    got = identify(images, commands, labels)
    assert (got.software, got.family, got.category) == (software, family, category)


def test_a_new_release_has_the_same_identity() -> None:
    a = identify(["docker.io/bitnami/redis:7.2.5-debian-12-r0"], [[]], {"helm.sh/chart": "redis-19.5.5"})
    b = identify(["docker.io/bitnami/redis:7.4.1-debian-12-r3@sha256:" + "a" * 64], [[]], {})
    assert a.tokens() == b.tokens()


def test_chart_boilerplate_keys_are_listed() -> None:
    for key in ("helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of",
                "app.kubernetes.io/version", "app.kubernetes.io/instance"):
        assert key in BOILERPLATE_LABELS
    assert "app.kubernetes.io/name" not in BOILERPLATE_LABELS
    assert "app.kubernetes.io/component" not in BOILERPLATE_LABELS


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789abcdefrvz.-_", max_size=24))
def test_tag_words_do_not_depend_on_which_digits_a_tag_has(tag: str) -> None:
    """`variant_words` is memoised by the tag with its digits written as 0: the same words as the tag's own."""
    from app.workloads.software import _variant_words

    assert variant_words(tag) == _variant_words.__wrapped__(tag)
