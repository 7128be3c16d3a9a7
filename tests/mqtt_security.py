"""A broker locked down as ``docs/mqtt.md`` (§Security) says a hospital's should be: a
throwaway CA with a server and a client certificate (made by ``openssl`` in the test's
folder), Mosquitto with a TLS listener, no anonymous clients, a password file (made by
``mosquitto_passwd``) and the ACL copied from the documentation itself, so the ACL the
page shows is the one these tests prove."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from environment import unavailable
from mqtt_broker import MosquittoBroker, mosquitto_binary

DOCS = Path(__file__).resolve().parents[1] / "docs" / "mqtt.md"
SCREEN_USER = "screen-nurses"
"""The screens' user the documented ACL names."""
PASSWORDS = {"gw1": "gw1-secret", "gw2": "gw2-secret", SCREEN_USER: "screen-secret"}


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    client_key_encrypted: Path
    other_ca: Path
    """A CA that signed nothing of this broker's: trusting it must fail."""


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)}: {done.stderr}")


def _key(name: str, folder: Path) -> None:
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", name, cwd=folder)


def _signed(name: str, subject: str, extensions: str, folder: Path) -> None:
    _key(f"{name}.key", folder)
    _openssl(
        "req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=folder
    )
    (folder / f"{name}.ext").write_text(extensions)
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt",
        cwd=folder,
    )  # fmt: skip


def make_pki(folder: Path) -> Pki:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, valid two days."""
    if shutil.which("openssl") is None:
        unavailable("openssl is not installed (apt-get install openssl)")
    folder.mkdir(parents=True, exist_ok=True)
    for ca in ("ca", "other-ca"):
        _key(f"{ca}.key", folder)
        _openssl(
            "req", "-x509", "-new", "-key", f"{ca}.key", "-subj", f"/CN=throwaway {ca}",
            "-days", "2", "-out", f"{ca}.crt", cwd=folder,
        )  # fmt: skip
    _signed("server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost\n", folder)
    _signed("client", "/CN=gw1", "extendedKeyUsage=clientAuth\n", folder)
    _openssl(
        "pkey", "-in", "client.key", "-aes256", "-passout", "pass:hunter2",
        "-out", "client-encrypted.key", cwd=folder,
    )  # fmt: skip
    for key in folder.glob("*.key"):
        key.chmod(0o600)
    return Pki(
        folder / "ca.crt",
        folder / "server.crt",
        folder / "server.key",
        folder / "client.crt",
        folder / "client.key",
        folder / "client-encrypted.key",
        folder / "other-ca.crt",
    )


def documented_acl() -> str:
    """The ACL file of ``docs/mqtt.md``: the code block that starts ``# /etc/mosquitto/acl``."""
    found = re.search(r"```\n(# /etc/mosquitto/acl.*?)```", DOCS.read_text(), re.DOTALL)
    assert found, f"{DOCS} shows no ACL block"
    return found[1]


def password_file(folder: Path, users: dict[str, str]) -> Path:
    """Mosquitto's own hashed password file, made by ``mosquitto_passwd``."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        unavailable("mosquitto_passwd is not installed (it comes with mosquitto)")
    path = folder / "passwd"
    path.touch(mode=0o600)
    for user, password in users.items():
        subprocess.run([tool, "-b", str(path), user, password], check=True, capture_output=True)
    return path


def credentials_file(folder: Path, user: str, password: str | None = None) -> Path:
    """A gateway's or a screen's credentials file, mode 600 as the gateway demands."""
    path = folder / f"{user}.cred"
    path.write_text(f'username = "{user}"\npassword = "{password or PASSWORDS[user]}"\n')
    path.chmod(0o600)
    return path


def secure_broker(folder: Path, pki: Pki, *, require_certificate: bool = False) -> MosquittoBroker:
    """Mosquitto with one TLS listener, passwords and the documented ACL (not started)."""
    binary = mosquitto_binary()
    if binary is None:
        unavailable("mosquitto is not installed (apt-get install mosquitto)")
    acl = folder / "acl"
    acl.write_text(documented_acl())
    passwd = password_file(folder, PASSWORDS)
    # Run as ourselves: as root Mosquitto would drop to user "mosquitto", who cannot read
    # the key, password and ACL files in a private test folder.
    me = pwd.getpwuid(os.getuid()).pw_name
    config = (
        f"cafile {pki.ca}\ncertfile {pki.server_cert}\nkeyfile {pki.server_key}\n"
        f"require_certificate {'true' if require_certificate else 'false'}\n"
        f"allow_anonymous false\npassword_file {passwd}\nacl_file {acl}\nuser {me}\n"
    )
    return MosquittoBroker(binary, folder, config, tls=True)
