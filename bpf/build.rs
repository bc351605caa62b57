//! Compiles every BPF program of this crate to `$OUT_DIR/<name>.bpf.o`.
//!
//! Sources are found by layout, one folder per program: `schedulers/<name>/main.bpf.c`
//! (shipped builtins), `probes/<name>/main.bpf.c` (tracing programs the agent loads to
//! measure a host, whatever scheduler runs) and `testing/<name>/main.bpf.c` (fixtures for
//! tests). Each is
//! compiled with clang to a BPF object, then stripped of DWARF while keeping `.BTF` and
//! `.BTF.ext`, which libbpf needs for CO-RE relocations, kfunc resolution and the
//! verifier's line info.
//!
//! The objects are reproducible: two checkouts, wherever they are, produce identical bytes
//! given the same clang and libbpf headers. Paths are relative to the directory above this
//! crate, so no path of the checkout ends up in an object, and the code generation step is
//! kept away from everything that differs between checkouts (see `compile` for why that
//! takes a separate preprocessing step with clang 19).
//!
//! This script does not generate `vmlinux.h`; that is `scripts/gen-vmlinux.sh`, run by
//! hand when the lab kernel changes, so the build needs no kernel and no bpftool.

use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The folders whose `<name>/main.bpf.c` are compiled, in the order they are listed.
const PROGRAM_ROOTS: [&str; 3] = ["schedulers", "probes", "testing"];

/// What clang needs to emit BPF code for the kernels we target, in both steps: the
/// preprocessor defines macros from the target, the CPU version and the optimisation level
/// (`__BPF_CPU_VERSION__`, `__OPTIMIZE__`). `-mcpu=v3` allows 32-bit jumps and atomics,
/// which every sched_ext kernel supports. `-g` is what makes clang emit BTF.
const CODEGEN_FLAGS: [&str; 5] = ["-g", "-O2", "-target", "bpf", "-mcpu=v3"];

/// The kernel fixes the signature of every op, so parameters an op does not need are
/// normal; everything else that -Wall -Wextra finds is worth seeing. One diagnostic per
/// line keeps the filtering in `own_diagnostics` (and cargo's output) simple.
const WARNING_FLAGS: [&str; 4] = ["-Wall", "-Wextra", "-Wno-unused-parameter", "-fno-caret-diagnostics"];

/// Folders whose every file is an input: sources, our headers and the generated
/// `vmlinux.h`.
const INPUT_DIRS: [&str; 5] = ["schedulers", "probes", "testing", "include", "vmlinux"];

fn main() {
    let crate_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // Compile from the parent folder so that paths read `bpf/include/...`, the way a
    // reader of the repository sees them, in diagnostics and in the objects' line info.
    let base_dir = crate_dir.parent().expect("the crate folder has a parent").to_path_buf();
    let crate_name = crate_dir.file_name().expect("the crate folder has a name").to_string_lossy().into_owned();

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=BPF_CLANG");
    // A folder makes cargo rescan everything under it, which catches a newly added
    // scheduler; the individual files are listed as well (below, from clang's own
    // dependency list, which also names the libbpf headers under /usr/include).
    for dir in INPUT_DIRS {
        println!("cargo:rerun-if-changed={}", crate_dir.join(dir).display());
    }

    let toolchain = Toolchain::find();
    let mut compiled: Vec<(&str, Vec<String>)> = Vec::new();
    for root in PROGRAM_ROOTS {
        let names = program_names(&crate_dir.join(root));
        for name in &names {
            if let Some((other_root, _)) = compiled.iter().find(|(_, other)| other.contains(name)) {
                panic!("BPF program name `{name}` is used in both `{other_root}/` and `{root}/`; object names must be unique");
            }
        }
        for name in &names {
            let source = format!("{crate_name}/{root}/{name}/main.bpf.c");
            compile(&toolchain, &base_dir, &crate_name, &source, &out_dir, name);
        }
        compiled.push((root, names));
    }

    write_program_list(&out_dir, &compiled);
}

/// The clang that compiles and the llvm-strip that strips, as one versioned pair.
struct Toolchain {
    clang: OsString,
    strip: PathBuf,
}

impl Toolchain {
    fn find() -> Self {
        let from_env = env::var_os("BPF_CLANG").filter(|value| !value.is_empty());
        let clang = from_env.clone().unwrap_or_else(|| "clang-19".into());
        match Command::new(&clang).arg("--version").output() {
            Ok(output) if output.status.success() => {}
            Ok(output) => panic!(
                "`{} --version` failed ({}): {}",
                clang.to_string_lossy(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            Err(err) if err.kind() == ErrorKind::NotFound => {
                if from_env.is_some() {
                    panic!(
                        "BPF_CLANG names `{}`, which cannot be run; point it at a clang with the BPF target, \
                         or unset it to use clang-19 from the Debian package clang-19 (`lab/setup.sh packages` installs it)",
                        clang.to_string_lossy()
                    );
                }
                panic!(
                    "clang-19 is not installed; the BPF schedulers are compiled with it: install the Debian package \
                     clang-19 (`lab/setup.sh packages` installs it and everything else the build needs), \
                     or set BPF_CLANG to another clang with the BPF target"
                );
            }
            Err(err) => panic!("cannot run `{}`: {err}", clang.to_string_lossy()),
        }
        let strip = strip_for(Path::new(&clang));
        Self { clang, strip }
    }
}

/// The llvm-strip that belongs to `clang`: same folder, same version suffix
/// (`clang-19` -> `llvm-strip-19`, `/usr/lib/llvm-19/bin/clang` -> `.../llvm-strip`), so a
/// custom BPF_CLANG does not get paired with an unrelated LLVM.
fn strip_for(clang: &Path) -> PathBuf {
    let file_name = clang.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let suffix = file_name.strip_prefix("clang").unwrap_or("");
    let strip = clang.with_file_name(format!("llvm-strip{suffix}"));
    match Command::new(&strip).arg("--version").output() {
        Ok(output) if output.status.success() => strip,
        _ => panic!(
            "`{}` cannot be run; it strips DWARF from the BPF objects: install the Debian package llvm-19 \
             (`lab/setup.sh packages` installs it), or install the llvm-strip that matches BPF_CLANG next to it",
            strip.display()
        ),
    }
}

/// The names of the programs under `root`: every sub-folder holding a `main.bpf.c`, sorted
/// so that the generated list does not depend on the file system's order.
fn program_names(root: &Path) -> Vec<String> {
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(err) if err.kind() == ErrorKind::NotFound => return Vec::new(),
        Err(err) => panic!("cannot list `{}`: {err}", root.display()),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.unwrap_or_else(|err| panic!("cannot list `{}`: {err}", root.display()));
        if !entry.path().join("main.bpf.c").is_file() {
            continue;
        }
        let name = entry
            .file_name()
            .into_string()
            .unwrap_or_else(|name| panic!("BPF program folder `{}` is not valid UTF-8", Path::new(&name).display()));
        // The name becomes a file name, a Rust string and, through libbpf, a map name
        // prefix; keeping it to identifier characters avoids surprises in all three.
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            panic!("BPF program folder `{}` must be named with a-z, 0-9 and _ only", entry.path().display());
        }
        names.push(name);
    }
    names.sort();
    names
}

fn compile(toolchain: &Toolchain, base_dir: &Path, crate_name: &str, source: &str, out_dir: &Path, name: &str) {
    let preprocessed = out_dir.join(format!("{name}.bpf.i"));
    let depfile = out_dir.join(format!("{name}.bpf.d"));
    let unstripped = out_dir.join(format!("{name}.bpf.unstripped.o"));
    let object = out_dir.join(format!("{name}.bpf.o"));

    // The compilation runs in two steps because clang 19 is not reproducible in one:
    // its BTF writer appends forward declarations in the order of the metadata nodes'
    // heap addresses, and any difference in the length of a path clang handles (the
    // checkout, OUT_DIR, the current directory it resolves when opening headers) shifts
    // the heap enough to swap two of them. So the first step does everything that
    // involves paths (finding headers, the dependency list) and writes plain text; the
    // second compiles that text from stdin to stdout, with nothing that differs between
    // checkouts on its command line, in its input or in the files it opens.
    let mut preprocess = Command::new(&toolchain.clang);
    preprocess
        .current_dir(base_dir)
        .args(CODEGEN_FLAGS)
        .args(WARNING_FLAGS)
        .arg("-D__TARGET_ARCH_x86")
        .arg(format!("-I{crate_name}/include"))
        .arg(format!("-I{crate_name}/vmlinux"))
        // Only __FILE__ could still carry an absolute path after preprocessing, and
        // only if a header were named by one; mapping the checkout to `.` makes sure.
        .arg(format!("-ffile-prefix-map={}=.", base_dir.display()))
        .arg("-MD")
        .arg("-MF")
        .arg(&depfile)
        .arg("-E")
        .arg(source)
        .arg("-o")
        .arg(&preprocessed);
    let output = run(&mut preprocess, None);
    report_diagnostics(&output, crate_name, &format!("clang failed to preprocess `{source}`"));

    let input =
        fs::File::open(&preprocessed).unwrap_or_else(|err| panic!("cannot read `{}`: {err}", preprocessed.display()));
    let mut compile = Command::new(&toolchain.clang);
    compile
        .current_dir(base_dir)
        .args(CODEGEN_FLAGS)
        .args(WARNING_FLAGS)
        // The line markers name files relative to the folder above the crate; `.` as
        // the compilation directory keeps them relative in the debug info and hence in
        // .BTF.ext, and saves clang from asking for the (checkout-specific) current
        // directory. Running from that folder lets the BTF writer reopen the sources
        // to copy their lines into .BTF.ext, where the verifier log shows them.
        .arg("-ffile-compilation-dir=.")
        .args(["-x", "cpp-output", "-c", "-", "-o", "-"]);
    let output = run(&mut compile, Some(input));
    report_diagnostics(&output, crate_name, &format!("clang failed to compile `{source}`"));
    fs::write(&unstripped, &output.stdout)
        .unwrap_or_else(|err| panic!("cannot write `{}`: {err}", unstripped.display()));

    // -g strips DWARF only: .BTF and .BTF.ext are not debug sections to llvm-strip, and
    // the symbol table stays, since libbpf finds programs and maps through it.
    let mut strip = Command::new(&toolchain.strip);
    strip.arg("-g").arg(&unstripped).arg("-o").arg(&object);
    let output = run(&mut strip, None);
    if !output.status.success() {
        panic!(
            "`{}` failed on `{}` ({}): {}",
            toolchain.strip.display(),
            unstripped.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }

    for dependency in read_depfile(&depfile) {
        let path = base_dir.join(dependency);
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// Shows clang's diagnostics about our own files as cargo warnings; panics with them
/// (and the errors) when clang failed.
fn report_diagnostics(output: &Output, crate_name: &str, failure: &str) {
    let diagnostics = own_diagnostics(&String::from_utf8_lossy(&output.stderr), crate_name);
    if !output.status.success() {
        panic!("{failure} ({}):\n{}", output.status, diagnostics.join("\n"));
    }
    for line in &diagnostics {
        println!("cargo:warning={line}");
    }
}

fn run(command: &mut Command, stdin: Option<fs::File>) -> Output {
    command.stdin(stdin.map_or_else(Stdio::null, Stdio::from));
    command.output().unwrap_or_else(|err| panic!("cannot run `{}`: {err}", command.get_program().to_string_lossy()))
}

/// Keeps clang's diagnostics about our own files and drops those about vendored headers.
///
/// The generated `vmlinux.h` makes clang 19 warn about unnamed bitfield-only members
/// ("declaration does not declare anything"), nine times per object; that is noise we can
/// neither fix nor silence without also silencing the warning for our code. A diagnostic
/// counts as ours when its primary location is in this crate outside `vmlinux/`. Notes
/// and "In file included from" lines travel with the diagnostic they belong to. Errors
/// are always kept, wherever they point.
fn own_diagnostics(stderr: &str, crate_name: &str) -> Vec<String> {
    let own_prefix = format!("{crate_name}/");
    let vendored_prefix = format!("{crate_name}/vmlinux/");
    let mut kept = Vec::new();
    let mut context: Vec<&str> = Vec::new();
    let mut keep_current = false;
    for line in stderr.lines() {
        if let Some((path, severity)) = diagnostic_location(line) {
            if severity != "note" {
                let path = path.strip_prefix("./").unwrap_or(path);
                let ours = path.starts_with(&own_prefix) && !path.starts_with(&vendored_prefix);
                keep_current = ours || severity.contains("error");
                if keep_current {
                    kept.extend(context.iter().map(|line| line.to_string()));
                }
                context.clear();
            }
            if keep_current {
                kept.push(line.to_string());
            }
        } else if line.ends_with(" generated.") {
            // "N warnings generated." counts the dropped diagnostics too.
        } else {
            context.push(line);
        }
    }
    // Anything left over (a message without a location, such as an unknown flag) is
    // kept: it is never vmlinux.h noise.
    kept.extend(context.iter().map(|line| line.to_string()));
    kept
}

/// Splits `path:line:col: severity: message` into the path and the severity.
fn diagnostic_location(line: &str) -> Option<(&str, &str)> {
    for severity in ["fatal error", "error", "warning", "note", "remark"] {
        let marker = format!(": {severity}: ");
        if let Some(index) = line.find(&marker) {
            let location = &line[..index];
            let mut parts = location.rsplitn(3, ':');
            let column = parts.next()?;
            let row = parts.next()?;
            let path = parts.next()?;
            if column.bytes().all(|b| b.is_ascii_digit()) && row.bytes().all(|b| b.is_ascii_digit()) {
                return Some((path, severity));
            }
        }
    }
    None
}

/// The prerequisites listed in a make-style dependency file written by `clang -MD`.
fn read_depfile(depfile: &Path) -> Vec<String> {
    let text = fs::read_to_string(depfile).unwrap_or_else(|err| panic!("cannot read `{}`: {err}", depfile.display()));
    let joined = text.replace("\\\n", " ");
    let (_, prerequisites) = joined.split_once(": ").unwrap_or(("", ""));
    // Paths with spaces are escaped as `\ `; none of ours have any, but do not split them.
    let mut paths = Vec::new();
    let mut current = String::new();
    let mut chars = prerequisites.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => {
                current.push(' ');
                chars.next();
            }
            c if c.is_whitespace() => {
                if !current.is_empty() {
                    paths.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        paths.push(current);
    }
    paths
}

/// Writes `$OUT_DIR/programs.rs`, the names of the compiled programs per folder, so that
/// the crate's tests can check its hand-written tables against what was actually built.
fn write_program_list(out_dir: &Path, compiled: &[(&str, Vec<String>)]) {
    let mut code = String::from("// Generated by build.rs: the BPF programs compiled into OUT_DIR.\n");
    for (root, names) in compiled {
        let quoted: Vec<String> = names.iter().map(|name| format!("{name:?}")).collect();
        writeln!(
            code,
            "#[allow(dead_code)]\npub(crate) const COMPILED_{}: &[&str] = &[{}];",
            root.to_uppercase(),
            quoted.join(", ")
        )
        .expect("writing to a String cannot fail");
    }
    let path = out_dir.join("programs.rs");
    fs::write(&path, code).unwrap_or_else(|err| panic!("cannot write `{}`: {err}", path.display()));
}
