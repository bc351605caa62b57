//! `schedfleet generate agent|completions|man` (hidden): the files a
//! package ships beside the binary, produced by the binary itself so they
//! always match it: the static agent it embeds, shell completions (bash,
//! zsh, fish) and man pages, both from the clap definitions.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::args::{Cli, GenerateArgs, GenerateWhat};
use crate::exit;

pub fn run(args: GenerateArgs) -> Result<u8> {
    match args.what {
        GenerateWhat::Agent { file } => {
            write_executable(&file, crate::agent::embedded_bytes())?;
            eprintln!("wrote the static agent (sha256:{}) to `{}`", crate::agent::EMBEDDED_SHA256, file.display());
        }
        GenerateWhat::Completions { dir } => {
            fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
            for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh, clap_complete::Shell::Fish] {
                let path = clap_complete::generate_to(shell, &mut command(), "schedfleet", &dir)
                    .with_context(|| format!("cannot write {shell} completions into `{}`", dir.display()))?;
                eprintln!("wrote `{}`", path.display());
            }
        }
        GenerateWhat::Man { dir } => {
            fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
            let mut cmd = command();
            cmd.build();
            man_pages(&cmd, "schedfleet", &dir)?;
        }
    }
    Ok(exit::OK)
}

/// The command as `--help` shows it, with the long version.
fn command() -> clap::Command {
    Cli::command().long_version(crate::agent::long_version())
}

/// One page per visible command: `schedfleet.1`, `schedfleet-apply.1`,
/// `schedfleet-lab-up.1` ...
fn man_pages(cmd: &clap::Command, name: &str, dir: &Path) -> Result<()> {
    let page = cmd.clone().name(name.to_owned()).bin_name(name.replace('-', " "));
    let mut text = Vec::new();
    clap_mangen::Man::new(page).render(&mut text)?;
    let path = dir.join(format!("{name}.1"));
    fs::write(&path, text).with_context(|| format!("cannot write `{}`", path.display()))?;
    eprintln!("wrote `{}`", path.display());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        man_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}

fn write_executable(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, bytes).with_context(|| format!("cannot write `{}`", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make `{}` executable", path.display()))?;
    Ok(())
}
