"""Domain errors: one place says what went wrong and where, so the CLI and the API report it alike."""

from __future__ import annotations


class PodPowerError(Exception):
    """Base class for errors the user can act on (exit code 2 in the CLI, 4xx in the API)."""


class InputError(PodPowerError, ValueError):
    """Bad user input; the message names the source, the document and the field at fault.

    `str()` gives one line such as
    ``deploy.yaml: document 2 (Deployment shop/web): spec.template.spec.containers[0].resources.requests.cpu:
    invalid quantity '12xyz'``.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str = "<input>",
        document: int | None = None,
        what: str | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.document = document
        self.what = what
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [self.source]
        if self.document is not None:
            parts.append(f"document {self.document}" + (f" ({self.what})" if self.what else ""))
        if self.field:
            parts.append(self.field)
        return ": ".join([*parts, self.message])


class TooLargeError(InputError):
    """The input exceeds a documented size, depth or alias limit (HTTP 413)."""


class ArtifactError(PodPowerError):
    """A model or encoder artifact is missing, corrupt or built for another schema/library version."""


class NotReadyError(PodPowerError):
    """The service has no model loaded yet (HTTP 503)."""


class UpstreamError(PodPowerError):
    """A service we depend on (Prometheus, the Kubernetes API, the prediction API) failed or refused us."""
