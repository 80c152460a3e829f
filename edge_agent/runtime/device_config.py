"""A device's configuration file: who it is, how it reaches the broker, and its physical parameters.

```yaml
id: gen-1                       # also its MQTT user name and topic level
broker: mqtts://10.0.0.2:8883   # mqtts:// is TLS, mqtt:// plain TCP; --broker overrides it
prefix: edge                    # topic prefix shared by the fleet
credentials:                    # optional: password auth and/or client-certificate TLS
  username: gen-1               # defaults to id once a password is given
  password_file: /etc/edge-agent/gen-1.password   # or password_env: NAME (an environment variable)
  ca_file: /etc/edge-agent/ca.crt                 # TLS only: an mqtt:// broker with a CA is an error
  cert_file: /etc/edge-agent/gen-1.crt
  key_file: /etc/edge-agent/gen-1.key
device: {kind: generator, p_max: 80, cost_linear: 2.0, cost_quadratic: 0.04}
```

Over Zenoh instead (``carrier: zenoh``, docs/zenoh.md) the device needs no broker: ``zenoh:`` says how its session
reaches the others (:class:`~edge_agent.carrier.zenoh_options.ZenohOptions`), e.g.
``zenoh: {listen: [tcp/0.0.0.0:7447], connect: [tcp/10.0.0.3:7447]}``; ``broker`` and ``credentials`` are unused.

The password is never in this file or in the broker URL. ``python -m edge_agent.provision`` (broker/README.md)
writes a file like this one for every device, next to its password file and the CA.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, TypeAdapter, model_validator

from edge_agent.carrier.mqtt_options import BrokerAddress
from edge_agent.carrier.zenoh_options import ZenohOptions
from edge_agent.config import StrictModel, load_yaml, parse
from edge_agent.devices import AgentDevice
from edge_agent.errors import ConfigError
from edge_agent.ids import AgentId

__all__ = ["Credentials", "DeviceConfig", "load_device_config"]


class Credentials(StrictModel):
    username: str | None = None
    password_file: Path | None = Field(None, description="file holding the MQTT password (first line)")
    password_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                     description="environment variable holding the MQTT password")
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _pairs(self) -> Credentials:
        if (self.cert_file is None) != (self.key_file is None):
            msg = "cert_file and key_file go together (client-certificate TLS needs both)"
            raise ValueError(msg)
        if self.password_file is not None and self.password_env is not None:
            msg = "give the password once: password_file or password_env, not both"
            raise ValueError(msg)
        return self

    @property
    def tls(self) -> bool:
        """Whether these credentials need a TLS connection (a CA or a client certificate is given)."""
        return self.ca_file is not None or self.cert_file is not None

    def password(self) -> str | None:
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if not value:
                msg = f"credentials.password_env names {self.password_env}, which is not set in the environment"
                raise ConfigError(msg)
            return value
        if self.password_file is None:
            return None
        try:
            return self.password_file.read_text(encoding="utf-8").splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            raise ConfigError(f"cannot read the password: {exc}", source=str(self.password_file)) from None

    def tls_context(self) -> ssl.SSLContext | None:
        if self.ca_file is None and self.cert_file is None:
            return None
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.cert_file and self.key_file:
                context.load_cert_chain(str(self.cert_file), str(self.key_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load TLS files: {exc}") from None
        return context


class DeviceConfig(StrictModel):
    id: AgentId
    broker: str = "mqtt://127.0.0.1:1883"
    prefix: str = "edge"
    client_id: AgentId | None = Field(None, description="the MQTT client id (default: the device id); under the "
                                      "production ACL the broker takes the user name instead")
    credentials: Credentials = Credentials()
    carrier: Literal["mqtt", "zenoh"] = "mqtt"
    zenoh: ZenohOptions = ZenohOptions()
    device: AgentDevice

    @model_validator(mode="before")
    @classmethod
    def _device_takes_the_id(cls, data: Any) -> Any:
        """The device block need not repeat the id: it is the device's own; so is the MQTT user name."""
        if isinstance(data, dict) and isinstance(data.get("device"), dict) and "id" in data:
            data = {**data, "device": {"id": data["id"], **data["device"]}}
        credentials = data.get("credentials") if isinstance(data, dict) else None
        if isinstance(credentials, Credentials):
            credentials = credentials.model_dump(exclude_none=True)
        if (isinstance(credentials, dict) and credentials.get("username") is None and "id" in data
                and (credentials.get("password_file") or credentials.get("password_env"))):
            data = {**data, "credentials": {**credentials, "username": data["id"]}}  # what the ACL expects
        return data

    @model_validator(mode="after")
    def _same_id(self) -> DeviceConfig:
        if self.device.id != self.id:
            msg = f"device.id {self.device.id!r} differs from id {self.id!r}; give the id once, at the top"
            raise ValueError(msg)
        _check_scheme(self.broker, self.credentials, "broker")
        return self

    def broker_url(self, override: str | None = None) -> str:
        """The URL to connect to: ``override`` (``--broker``) or ``broker``, checked against the credentials."""
        if override is None:
            return self.broker
        _check_scheme(override, self.credentials, "--broker")
        return override


def _check_scheme(url: str, credentials: Credentials, field: str) -> None:
    """A CA or client certificate with a plain ``mqtt://`` URL is a mistake, not a request for TLS."""
    try:
        tls = BrokerAddress.parse(url, environ={}).tls
    except ConfigError as error:
        raise ValueError(f"{field}: {error}") from None
    if credentials.tls and not tls:
        given = "credentials.ca_file" if credentials.ca_file is not None else "credentials.cert_file"
        msg = (f"{field} {url!r} is plain MQTT (mqtt://) but {given} is set for TLS: use mqtts://host:8883 "
               f"for TLS, or remove {given}")
        raise ValueError(msg)


def load_device_config(path: Path) -> DeviceConfig:
    return parse(TypeAdapter(DeviceConfig), load_yaml(path), str(path), what="device configuration")
