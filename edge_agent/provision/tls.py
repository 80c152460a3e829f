"""A local CA and certificates through the ``openssl`` command; keys never pass through a file of looser mode."""

from __future__ import annotations

import ipaddress
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from edge_agent.errors import ConfigError
from edge_agent.provision.files import BROKER_READS, PUBLIC, SECRET, Writer
from edge_agent.runtime.interrupts import held

__all__ = ["HARDENED_CIPHERS", "LOOPBACK_HOSTS", "broker_name", "certificates", "client_certificate"]

LOOPBACK_HOSTS = ("localhost", "127.0.0.1")
# TLS 1.2: forward secrecy (ECDHE) and authenticated encryption (GCM, ChaCha20-Poly1305) only; TLS 1.3 suites
# all are. Keep equal to `ciphers` in broker/mosquitto.prod.conf (a test compares them).
HARDENED_CIPHERS = ":".join([
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305",
])
CA_DAYS, CERT_DAYS = 3650, 825


def _openssl(*args: str, stdin: bytes | None = None) -> bytes:
    tool = shutil.which("openssl")
    if tool is None:
        msg = "the openssl command is needed for the certificates (Debian/Ubuntu: apt-get install openssl)"
        raise ConfigError(msg)
    with held():  # a Ctrl-C waits for openssl (milliseconds): never inside logging's at-fork hook
        done = subprocess.run([tool, *args], input=stdin, capture_output=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"openssl {args[0]} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def _new_key() -> bytes:
    """A P-256 private key (PEM), produced on stdout so it is written only by us, with its final mode."""
    return _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")


def broker_name(hosts: Sequence[str]) -> str:
    """The name devices use: the first host given beyond the loopback names."""
    return next((h for h in hosts if h not in LOOPBACK_HOSTS), "localhost")


def _san(hosts: Sequence[str]) -> str:
    names = []
    for host in hosts:
        try:
            names.append(f"IP:{ipaddress.ip_address(host)}")
        except ValueError:
            names.append(f"DNS:{host}")
    return ",".join(names)


def _sign(key_path: Path, subject: str, extensions: str, ca_dir: Path) -> bytes:
    """A certificate for the key at ``key_path``, signed by ``ca_dir``'s CA, with ``extensions``."""
    csr = _openssl("req", "-new", "-key", str(key_path), "-subj", subject)
    with tempfile.NamedTemporaryFile("w", suffix=".ext", encoding="utf-8") as ext:
        ext.write(extensions)
        ext.flush()
        return _openssl("x509", "-req", "-CA", str(ca_dir / "ca.crt"), "-CAkey", str(ca_dir / "ca.key"),
                        "-set_serial", str(secrets.randbits(120)), "-days", str(CERT_DAYS), "-extfile", ext.name,
                        stdin=csr)


def certificates(certs: Path, hosts: Sequence[str], signed_for: Sequence[str] | None, writer: Writer) -> bool:
    """The CA (kept once made) and the broker's certificate (again when the host names change).

    Returns whether the CA is new (device certificates must then be issued again)."""
    writer.directory(certs, 0o750, broker=True)
    new_ca = not (certs / "ca.key").exists() or not (certs / "ca.crt").exists()
    if new_ca:
        writer.file(certs / "ca.key", _new_key(), SECRET)
        ca = _openssl("req", "-x509", "-new", "-key", str(certs / "ca.key"), "-days", str(CA_DAYS),
                      "-subj", "/CN=edge-agent local CA", "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        writer.file(certs / "ca.crt", ca, PUBLIC, broker=True)
    if new_ca or list(signed_for or []) != list(hosts) or not (certs / "server.crt").exists():
        if not (certs / "server.key").exists():
            writer.file(certs / "server.key", _new_key(), BROKER_READS, broker=True)
        extensions = (f"subjectAltName={_san(hosts)}\nbasicConstraints=critical,CA:FALSE\n"
                      f"keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
        server = _sign(certs / "server.key", f"/CN={broker_name(hosts)}", extensions, certs)
        writer.file(certs / "server.crt", server, PUBLIC, broker=True)
    else:  # owners and modes are put right on every run
        writer.file(certs / "server.key", (certs / "server.key").read_bytes(), BROKER_READS, broker=True)
    return new_ca




def client_certificate(key: Path, certificate: Path, device: str, ca_dir: Path, writer: Writer) -> None:
    """A new key and a client certificate (``CN=<device>``, clientAuth) signed by the CA in ``ca_dir``."""
    writer.file(key, _new_key(), SECRET)
    extensions = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"
    writer.file(certificate, _sign(key, f"/CN={device}", extensions, ca_dir), PUBLIC)
