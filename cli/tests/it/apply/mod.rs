//! `apply`, from the outside in: bad input refused before any host is
//! contacted (`input`), a real sshd on this machine whose kernel lacks
//! sched_ext (`loopback`), and lab VMs that boot a sched_ext kernel (`lab`, and
//! `ansible`: the VM reached through an Ansible inventory).

mod ansible;
mod input;
mod lab;
mod loopback;
