"""A device's configuration file: who it is, how it reaches the broker, and its physical parameters.

```yaml
id: gen-1                       # also its MQTT user name and topic level
broker: mqtt://10.0.0.2:1883    # mqtts:// for TLS; --broker overrides it
prefix: edge                    # topic prefix shared by the fleet
credentials:                    # optional: password auth and/or client-certificate TLS
  username: gen-1               # defaults to id
  password_file: /etc/edge-agent/gen-1.password
  ca_file: /etc/edge-agent/ca.crt
  cert_file: /etc/edge-agent/gen-1.crt
  key_file: /etc/edge-agent/gen-1.key
device: {kind: generator, p_max: 80, cost_linear: 2.0, cost_quadratic: 0.04}
```
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from pydantic import Field, TypeAdapter, model_validator

from edge_agent.config import StrictModel, load_yaml, parse
from edge_agent.devices import AgentDevice
from edge_agent.errors import ConfigError
from edge_agent.ids import AgentId

__all__ = ["Credentials", "DeviceConfig", "load_device_config"]


class Credentials(StrictModel):
    username: str | None = None
    password_file: Path | None = Field(None, description="file holding the MQTT password (first line)")
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _pairs(self) -> Credentials:
        if (self.cert_file is None) != (self.key_file is None):
            msg = "cert_file and key_file go together (client-certificate TLS needs both)"
            raise ValueError(msg)
        return self

    def password(self) -> str | None:
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
    credentials: Credentials = Credentials()
    device: AgentDevice

    @model_validator(mode="before")
    @classmethod
    def _device_takes_the_id(cls, data: Any) -> Any:
        """The device block need not repeat the id: it is the device's own."""
        if isinstance(data, dict) and isinstance(data.get("device"), dict) and "id" in data:
            data = {**data, "device": {"id": data["id"], **data["device"]}}
        return data

    @model_validator(mode="after")
    def _same_id(self) -> DeviceConfig:
        if self.device.id != self.id:
            msg = f"device.id {self.device.id!r} differs from id {self.id!r}; give the id once, at the top"
            raise ValueError(msg)
        return self


def load_device_config(path: Path) -> DeviceConfig:
    return parse(TypeAdapter(DeviceConfig), load_yaml(path), str(path), what="device configuration")
