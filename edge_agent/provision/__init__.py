"""One command that provisions a fleet's Mosquitto: users and roles, ACL, a local CA, certificates, device files.

::

    python -m edge_agent.provision --out /etc/mosquitto/edge-agent --fleet deploy/fleets/demo.yaml --host mqtt.lan
    python broker/make_credentials.py --out ...    # the same, from a source checkout
    edge-agent provision --out ...                 # the same, once cli.py adds add_provision_parser

Roles (one MQTT user each; user name = client id = the topic level the user may write under):

=============  =======================================================================================
device         writes ``<prefix>/<id>/#``; reads what is addressed to it, gossip, presence, schedules
coordinator    the coordinator service (``coordinator``): the same rights as a device, under its own id
operator       ``edge-agent submit`` (default user ``operator``): its own subtree, plus every ``results``
dashboard      reads ``<prefix>/#`` and ``$SYS/#`` (the broker's counters: dropped messages); writes nothing
=============  =======================================================================================

Written into ``--out`` (``provision.json`` lists them; Mosquitto reads the first four):

=================================  ======  =========================================================
``passwd``                         0640    pbkdf2-sha512 hashes (Mosquitto's ``$7$`` format)
``acl``                            0640    ``broker/acl.template`` for the prefix, plus the role sections
``certs/ca.crt``, ``server.crt``   0644    local CA (10 years), broker certificate (``--host`` names)
``certs/server.key``               0640    the broker's key
``certs/ca.key``                   0600    signs certificates; never leaves this machine
``secrets/<user>.password``        0600    every user's password, in clear (directory 0700)
``devices/<id>/``                  0700    what to copy to the device: ``<id>.yaml`` (with ``--fleet``
                                           device parameters), ``<id>.password``, ``ca.crt``
                                           (and ``<id>.crt``/``<id>.key`` with ``--client-certs``)
``provision.json``                 0644    the non-secret state a re-run merges with
=================================  ======  =========================================================

Files Mosquitto reads belong to group ``mosquitto`` when it exists and this process may hand them over (root,
or a member of the group); Mosquitto starts as root, drops to user ``mosquitto`` and then reads them.
Running again is idempotent: users keep their role and password (``--rotate`` gives new passwords), roles
given earlier are kept, the CA is kept and the broker certificate is issued again only when the ``--host``
names change. Passwords are 192-bit random tokens; they never appear in argv or logs, only in 0600 files.
"""

from edge_agent.provision.accounts import Role, hash_password, render_acl, verify_password
from edge_agent.provision.command import Provisioned, add_provision_parser, main, provision, run_provision
from edge_agent.provision.tls import HARDENED_CIPHERS

__all__ = [
    "HARDENED_CIPHERS",
    "Provisioned",
    "Role",
    "add_provision_parser",
    "hash_password",
    "main",
    "provision",
    "render_acl",
    "run_provision",
    "verify_password",
]
