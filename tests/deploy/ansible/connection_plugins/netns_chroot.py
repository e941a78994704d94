# SPDX-License-Identifier: MIT
"""
A connection plugin for the deployment test: a "host" is a directory tree
used as its root file system (chroot) plus a network namespace
(/run/netns/NAME). Every command the play runs goes through
`nsenter --net=/run/netns/NAME -- chroot ROOT /bin/sh -c CMD`, and files
are written and read by `dd` inside that same environment, so the roles
run their real modules (apt, user, copy, template with --check-config
validation, ...) against a real Debian tree, with the host's own network.
nsenter rather than `ip netns exec`: the latter also makes a new mount
namespace and remounts /sys on every command, which a chroot does not want.
"""
from __future__ import annotations

import os
import shlex
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.plugins.connection import ConnectionBase

DOCUMENTATION = """
name: netns_chroot
short_description: run tasks in a directory root inside a network namespace
description:
  - Commands run as C(nsenter --net=/run/netns/NETNS -- chroot ROOT /bin/sh -c CMD)
    on the control node; file transfers use dd inside the same environment.
author: stagetrace project
options:
  root:
    description: The host's root directory on the control node.
    required: true
    vars:
      - name: ansible_netns_chroot_root
  netns:
    description: The host's network namespace, a name under /run/netns.
    required: true
    vars:
      - name: ansible_netns_chroot_netns
"""


class Connection(ConnectionBase):
    """Local commands, confined to one host's root and network namespace."""

    transport = "netns_chroot"
    has_pipelining = True
    default_user = "root"

    def _connect(self):
        root = self.get_option("root")
        netns = self.get_option("netns")
        if not os.path.isfile(os.path.join(root, "bin/sh")):
            raise AnsibleConnectionFailure(f"{root} holds no /bin/sh: not a root file system")
        if not os.path.exists(f"/run/netns/{netns}"):
            raise AnsibleConnectionFailure(f"no network namespace /run/netns/{netns}")
        self._prefix = ["nsenter", f"--net=/run/netns/{netns}", "--", "chroot", root]
        self._connected = True
        return self

    def _run(self, shell_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE):
        if not self._connected:
            self._connect()
        argv = self._prefix + ["/bin/sh", "-c", shell_cmd]
        self._display.vvv(f"EXEC {shlex.join(argv)}", host=self.get_option("netns"))
        return subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)

    def exec_command(self, cmd, in_data=None, sudoable=False):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        p = self._run(cmd)
        out, err = p.communicate(in_data)
        return p.returncode, out, err

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        with open(to_bytes(in_path), "rb") as f:
            p = self._run(f"dd of={shlex.quote(out_path)} bs=65536 status=none", stdin=f)
            _, err = p.communicate()
        if p.returncode:
            raise AnsibleError(f"put {in_path} -> {out_path}: {to_native(err)}")

    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        with open(to_bytes(out_path), "wb") as f:
            p = self._run(f"dd if={shlex.quote(in_path)} bs=65536 status=none", stdout=f)
            _, err = p.communicate()
        if p.returncode:
            raise AnsibleError(f"fetch {in_path} -> {out_path}: {to_native(err)}")

    def close(self):
        self._connected = False
