//! What the wake-up latency probe costs a wake-up-heavy workload.
//!
//! The workload is a ping-pong between two processes over pipes: each round
//! trip is two wake-ups and two context switches, about the worst case for
//! a probe on `sched_wakeup` and `sched_switch`. It runs in alternating
//! blocks without and with the probe attached (the probe is loaded and
//! unloaded for each block, as `status` does), in one run, and prints the
//! median time per round trip of each and the median of the ratios of
//! adjacent blocks, once with both processes on one CPU (every wake-up is a
//! switch on that CPU) and once with the scheduler free to place them.
//!
//! ```text
//! cargo bench -p schedfleet-agent --bench wakelat-overhead
//! ```
//!
//! Needs root and a kernel with BTF. `WAKELAT_BENCH_ROUNDS` sets the round
//! trips per block (default 20000), `WAKELAT_BENCH_BLOCKS` the blocks of
//! each kind (default 21), `WAKELAT_BENCH_OBJECT` another build of the probe
//! to compare (a `.bpf.o` with the same maps).

#[allow(dead_code, unused_imports)]
#[path = "../src/sched/wakelat.rs"]
mod wakelat;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the child: it echoes every byte back.
const ECHO_ENV: &str = "WAKELAT_BENCH_ECHO";

fn main() {
    if std::env::var_os(ECHO_ENV).is_some() {
        echo();
        return;
    }
    let rounds = env_number("WAKELAT_BENCH_ROUNDS", 20_000);
    let blocks = env_number("WAKELAT_BENCH_BLOCKS", 21);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("wakelat overhead: pipe ping-pong between two processes, {rounds} round trips a block, {blocks} blocks each way, {cpus} CPUs");

    let object = match std::env::var_os("WAKELAT_BENCH_OBJECT") {
        Some(path) => std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path:?}: {e}")),
        None => schedfleet_bpf::probes::WAKELAT.to_vec(),
    };
    let started = Instant::now();
    let probe = match wakelat::Probe::attach(&object, None) {
        Ok(probe) => probe,
        Err(e) => {
            eprintln!("cannot load the probe here: {e}");
            std::process::exit(1);
        }
    };
    println!("probe open + load + attach: {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    drop(probe);

    for (label, pin) in [("same CPU", true), ("any CPU", false)] {
        set_affinity(pin);
        let (mut without, mut with, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let mut samples = 0;
        let mut pair = Pair::spawn();
        pair.run(rounds); // warm up
        for _ in 0..blocks {
            // Adjacent blocks, so that other load on the machine drifting
            // in and out affects both sides of one ratio alike.
            let off = pair.run(rounds);
            let probe = wakelat::Probe::attach(&object, None).expect("loaded before");
            let on = pair.run(rounds);
            samples += probe.read().expect("histogram").buckets.iter().sum::<u64>();
            drop(probe);
            ratios.push(on.as_secs_f64() / off.as_secs_f64());
            without.push(off.as_nanos() as f64 / rounds as f64);
            with.push(on.as_nanos() as f64 / rounds as f64);
        }
        drop(pair);
        let (off, on, ratio) = (median(&mut without), median(&mut with), median(&mut ratios));
        println!(
            "{label:>8}: without {off:6.0} ns/round trip, with {on:6.0} ns/round trip; median ratio of adjacent blocks {ratio:.3} \
             (min {:.3}, max {:.3}); {samples} samples recorded",
            ratios[0],
            ratios[ratios.len() - 1],
        );
    }
}

/// The parent's end of a ping-pong with a child process.
struct Pair {
    child: Child,
}

impl Pair {
    fn spawn() -> Pair {
        let exe = std::env::current_exe().expect("own path");
        let child = Command::new(exe)
            .env(ECHO_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the echo process");
        Pair { child }
    }

    fn run(&mut self, rounds: u64) -> Duration {
        let (to, from) = (self.child.stdin.as_mut().unwrap(), self.child.stdout.as_mut().unwrap());
        let mut byte = [0u8; 1];
        let started = Instant::now();
        for _ in 0..rounds {
            to.write_all(b"x").unwrap();
            from.read_exact(&mut byte).unwrap();
        }
        started.elapsed()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn echo() {
    let (mut input, mut output) = (std::io::stdin().lock(), std::io::stdout().lock());
    let mut byte = [0u8; 1];
    while input.read_exact(&mut byte).is_ok() {
        if output.write_all(&byte).and_then(|()| output.flush()).is_err() {
            break;
        }
    }
}

/// Pins this process (and the children it spawns next) to CPU 0, or lets
/// it run anywhere.
fn set_affinity(pin: bool) {
    // SAFETY: cpu_set_t is plain old data; the calls only read it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let cpus = if pin { 1 } else { libc::CPU_SETSIZE as usize };
        for cpu in 0..cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The median; sorts `values`.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
