# The two commands of the README, and the steps they share. Every target
# installs what it needs itself (lab/setup.sh is idempotent and cached).

CARGO ?= cargo
RELEASE := target/release

.PHONY: demo test setup build deb agent clean-lab

## demo: boot two lab VMs and roll the `simple` scheduler out to them
demo: build
	$(RELEASE)/schedfleet lab up --hosts 2
	$(RELEASE)/schedfleet apply --repo examples/quickstart --yes

## test: every test: unit, integration, and the lab tests on real VMs; the
## Debian package installed in a clean root; a plain release build applied;
## the serving benchmark's quick round as a smoke test (no threshold)
test: setup
	$(CARGO) test --workspace --locked
	packaging/deb/test.sh
	packaging/release-apply.sh
	bench/serve.sh --quick --out target/bench/serve-quick.json

setup:
	bash lab/setup.sh

## build: the CLI, with the static agent built into it (cli/build.rs)
build: setup
	$(CARGO) build --release --locked -p schedfleet

## deb: the Debian package, target/debian/schedfleet_<version>_<arch>.deb
deb: setup
	packaging/deb/build.sh

agent: setup
	agent/build-static.sh >/dev/null

clean-lab:
	-$(RELEASE)/schedfleet lab down
