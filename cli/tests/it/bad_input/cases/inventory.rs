//! Bad `inventory.yaml`: YAML and schema errors, hostile host names,
//! addresses and user names that could become `ssh` options, ports, labels,
//! and groups that cycle or name what does not exist.

use crate::bad_input::runner::Content::Text;
use crate::bad_input::runner::{Case, CASE, EVERY};

pub(in crate::bad_input) const CASES: &[Case] = &[
    // Ansible inventories schedfleet does not read, refused by name.
    Case {
        name: "ansible: plugin configuration",
        files: &[("inventory.yaml", Text("plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n"))],
        expect: &["inventory.yaml", "inventory plugin configuration (`plugin:`)", "ansible-inventory -i SOURCE"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "ansible: vaulted value",
        files: &[(
            "inventory.yaml",
            Text("all:\n  hosts:\n    h1:\n      ansible_host: 127.0.0.1\n      secret: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        6162\n"),
        )],
        expect: &["inventory.yaml", "line", "vaulted value (`!vault`)", "cannot decrypt"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "ansible: INI child group never defined",
        files: &[("inventory.yaml", Text("[gpu]\nh1 ansible_host=127.0.0.1\n[prod:children]\ngpu\ncpu\n"))],
        expect: &["inventory.yaml", "line 5", "`cpu`", "no section defines"],
        ..CASE
    },
    Case {
        name: "ansible: an address that could become an ssh option",
        files: &[("inventory.yaml", Text("all:\n  hosts:\n    h1:\n      ansible_host: '-oProxyCommand=x'\n"))],
        expect: &["inventory.yaml", "host `h1`", "neither a host name nor an IP address"],
        cmds: EVERY,
        ..CASE
    },
    // YAML syntax.
    Case {
        name: "yaml: tab indentation",
        files: &[("inventory.yaml", Text("hosts:\n\th1: { address: 127.0.0.1 }\n"))],
        expect: &["inventory.yaml", "line 2", "tabs"],
        ..CASE
    },
    // Unknown keys.
    Case {
        name: "unknown key: inventory defaults",
        files: &[("inventory.yaml", Text("defaults:\n  usr: root\nhosts:\n  h1: { address: 127.0.0.1 }\n"))],
        expect: &["inventory.yaml", "line 2", "unknown field `usr`", "user"],
        ..CASE
    },
    Case {
        name: "unknown key: inventory host",
        files: &[("inventory.yaml", Text("hosts:\n  h1:\n    adress: 127.0.0.1\n"))],
        expect: &["inventory.yaml", "line 3", "unknown field `adress`", "address"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "unknown key: inventory group",
        files: &[("inventory.yaml", Text("hosts:\n  h1: { address: 127.0.0.1 }\ngroups:\n  gpu:\n    host: [h1]\n"))],
        expect: &["inventory.yaml", "line 5", "unknown field `host`", "hosts"],
        ..CASE
    },
    // Wrong types.
    Case {
        name: "wrong type: port is a word",
        files: &[("inventory.yaml", Text("hosts:\n  h1: { address: 127.0.0.1, port: lots }\n"))],
        expect: &["inventory.yaml", "line 2", "u16"],
        ..CASE
    },
    // Duplicate keys.
    Case {
        name: "duplicate key: inventory host",
        files: &[("inventory.yaml", Text("hosts:\n  h1: { address: 127.0.0.1 }\n  h1: { address: 127.0.0.2 }\n"))],
        expect: &["inventory.yaml", "line 3", "duplicate", "`h1`"],
        ..CASE
    },
    // Empty files.
    Case {
        name: "inventory.yaml of comments only",
        files: &[("inventory.yaml", Text("# hosts: to do\n\n---\n"))],
        expect: &["`inventory.yaml` is empty"],
        ..CASE
    },
    // Reserved variable names.
    Case {
        name: "reserved variable: facts in inventory host vars",
        files: &[("inventory.yaml", Text("hosts:\n  h1:\n    address: 127.0.0.1\n    vars:\n      facts: 1\n"))],
        expect: &["`inventory.yaml` line 5", "host `h1`", "variable `facts` is reserved"],
        ..CASE
    },
    // Hostile names in the inventory.
    Case {
        name: "inventory: host name starting with -",
        files: &[("inventory.yaml", Text("hosts:\n  \"-oProxyCommand=touch /tmp/x\": {}\n"))],
        expect: &["`inventory.yaml` line 2", "`-oProxyCommand=touch /tmp/x` is not a valid host name"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "inventory: host name with a space",
        files: &[("inventory.yaml", Text("hosts:\n  \"h1 h2\": { address: 127.0.0.1 }\n"))],
        expect: &["`inventory.yaml` line 2", "`h1 h2` is not a valid host name"],
        ..CASE
    },
    Case {
        name: "inventory: host name with ;",
        files: &[("inventory.yaml", Text("hosts:\n  \"h1;reboot\": { address: 127.0.0.1 }\n"))],
        expect: &["`inventory.yaml` line 2", "`h1;reboot` is not a valid host name"],
        ..CASE
    },
    Case {
        name: "inventory: address starting with -",
        files: &[("inventory.yaml", Text("hosts:\n  h1: { address: \"-oProxyCommand=x\" }\n"))],
        expect: &["`inventory.yaml` line 2", "host `h1`", "`-oProxyCommand=x` is neither a host name nor an IP address"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "inventory: address with ;",
        files: &[("inventory.yaml", Text("hosts:\n  h1: { address: \"127.0.0.1;reboot\" }\n"))],
        expect: &["`inventory.yaml` line 2", "host `h1`", "neither a host name nor an IP address"],
        ..CASE
    },
    Case {
        name: "inventory: user starting with -",
        files: &[("inventory.yaml", Text("hosts:\n  h1: { address: 127.0.0.1, user: \"-oProxyCommand=x\" }\n"))],
        expect: &["`inventory.yaml` line 2", "host `h1`", "not a valid user name"],
        ..CASE
    },
    Case {
        name: "inventory: default user with a space",
        files: &[("inventory.yaml", Text("defaults: { user: \"root -p 2\" }\nhosts:\n  h1: { address: 127.0.0.1 }\n"))],
        expect: &["`inventory.yaml` line 1", "host `h1`", "`root -p 2` is not a valid user name"],
        ..CASE
    },
    Case {
        name: "inventory: one address for every host",
        files: &[("inventory.yaml", Text("defaults:\n  user: ops\n  address: 127.0.0.1\nhosts:\n  h1: {}\n"))],
        expect: &["`inventory.yaml` line 3", "`defaults.address` would give every host the same address"],
        ..CASE
    },
    Case {
        name: "inventory: port 0",
        files: &[("inventory.yaml", Text("hosts:\n  h1:\n    address: 127.0.0.1\n    port: 0\n"))],
        expect: &["`inventory.yaml` line 4", "host `h1`", "port 0"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "inventory: port out of range",
        files: &[("inventory.yaml", Text("hosts:\n  h1:\n    address: 127.0.0.1\n    port: 65536\n"))],
        expect: &["inventory.yaml", "line 4", "u16"],
        ..CASE
    },
    Case {
        name: "inventory: label key with bad characters",
        files: &[("inventory.yaml", Text("hosts:\n  h1: { address: 127.0.0.1, labels: { \"rack;id\": r1 } }\n"))],
        expect: &["`inventory.yaml` line 2", "host `h1`", "label key `rack;id`"],
        ..CASE
    },
    Case {
        name: "inventory: group cycle",
        files: &[(
            "inventory.yaml",
            Text("hosts:\n  h1: { address: 127.0.0.1 }\ngroups:\n  a: { children: [b] }\n  b: { children: [a], hosts: [h1] }\n"),
        )],
        expect: &["inventory.yaml", "cycle", "a -> b -> a"],
        ..CASE
    },
    Case {
        name: "inventory: group member that does not exist",
        files: &[("inventory.yaml", Text("hosts:\n  h1: { address: 127.0.0.1 }\ngroups:\n  gpu: { hosts: [h1, h2] }\n"))],
        expect: &["inventory.yaml", "group `gpu`", "`h2`, which is not in the inventory"],
        ..CASE
    },
    Case {
        name: "inventory: child group that does not exist",
        files: &[("inventory.yaml", Text("hosts:\n  h1: { address: 127.0.0.1 }\ngroups:\n  gpu: { children: [cpu] }\n"))],
        expect: &["inventory.yaml", "group `gpu`", "`cpu`, which is not defined"],
        ..CASE
    },
    Case {
        name: "inventory: no hosts",
        files: &[("inventory.yaml", Text("hosts: {}\n"))],
        expect: &["`inventory.yaml` line 1 lists no hosts"],
        ..CASE
    },
];
