"""A throw-away certificate authority for the TLS tests, made with the ``openssl`` command.

One CA signs a server certificate (for ``localhost`` and ``127.0.0.1``) and a client
certificate; the client key also exists encrypted with :data:`KEY_PASSWORD`. EC keys: fast.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

KEY_PASSWORD = "key-pass-7Qz"
_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    client_key_encrypted: Path
    other_ca: Path  # a CA that signed none of these: verification against it must fail


def make_certs(directory: Path) -> Certs:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed: no certificates for the TLS tests")
    d = directory
    _ca(d / "ca")
    _ca(d / "other-ca")
    _signed(d, "server", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _signed(d, "client", "/CN=portrait-client", "extendedKeyUsage=clientAuth\n")
    encrypted = d / "client-encrypted.key"
    _run("pkey", "-in", d / "client.key", "-aes256", "-passout", f"pass:{KEY_PASSWORD}",
         "-out", encrypted)  # fmt: skip
    return Certs(
        ca=d / "ca.crt",
        server_cert=d / "server.crt",
        server_key=d / "server.key",
        client_cert=d / "client.crt",
        client_key=d / "client.key",
        client_key_encrypted=encrypted,
        other_ca=d / "other-ca.crt",
    )


def _ca(stem: Path) -> None:
    _run("req", "-x509", *_EC, "-keyout", f"{stem}.key", "-out", f"{stem}.crt", "-days", "2",
         "-subj", f"/CN=portrait-test-{stem.name}")  # fmt: skip


def _signed(d: Path, name: str, subject: str, extensions: str) -> None:
    ext = d / f"{name}.ext"
    ext.write_text(extensions)
    _run("req", *_EC, "-keyout", d / f"{name}.key", "-out", d / f"{name}.csr", "-subj", subject)
    _run("x509", "-req", "-in", d / f"{name}.csr", "-CA", d / "ca.crt", "-CAkey", d / "ca.key",
         "-CAcreateserial", "-out", d / f"{name}.crt", "-days", "2", "-extfile", ext)  # fmt: skip


def _run(*args: object) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=30)
