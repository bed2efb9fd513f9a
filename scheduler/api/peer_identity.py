"""Under mutual TLS, an agent's client certificate must name the cluster its token is for.

Then a leaked agent token alone is not enough to act as that cluster: the caller also needs the
private key of a certificate the client CA issued for that cluster name (CN or a SAN DNS name).
"""

from __future__ import annotations

import grpc

from scheduler.domain.errors import PermissionDenied


def certificate_names(context: grpc.ServicerContext) -> list[str]:
    """The common name and subject alternative names of the verified peer certificate."""
    auth = context.auth_context()
    names: list[str] = []
    for key in ("x509_common_name", "x509_subject_alternative_name"):
        names.extend(value.decode("utf-8", "replace") for value in auth.get(key, ()))
    return names


def require_certificate_for(context: grpc.ServicerContext, cluster: str) -> None:
    """Raises PermissionDenied unless the peer certificate names `cluster`."""
    names = certificate_names(context)
    if cluster in names:
        return
    shown = ", ".join(name[:64] for name in names[:4]) or "none"
    raise PermissionDenied(
        f"the client certificate does not name cluster {cluster!r} as CN or SAN "
        f"(it names: {shown})",
        field="client certificate",
    )
