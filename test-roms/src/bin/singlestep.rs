//! Runs the SingleStepTests 80286 real-mode vectors against emu's CPU and prints a pass table.
//!
//! ```text
//! cargo run --release -p emu-test-roms --bin singlestep -- [--markdown] [-v] [--failing] [DIR] [FILES...]
//! ```
//! DIR defaults to `shared/conformance/singlestep-80286-real` next to the workspace. FILES are
//! file names in DIR with or without `.MOO.gz` (`00`, `F6.6`) or paths; without FILES every
//! file runs. `-v`/`--verbose` prints the first failures of each file in detail; `--failing`
//! lists only the files that do not pass entirely (the total still counts every file).

use emu_test_roms::singlestep::{default_dir, list_files, moo::Revocations, table, Runner};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: singlestep [--markdown] [-v|--verbose] [--failing] [DIR] [FILES...]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let (mut markdown, mut verbose, mut failing) = (false, false, false);
    let mut dir: Option<PathBuf> = None;
    let mut names = Vec::new();
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--markdown" => markdown = true,
            "-v" | "--verbose" => verbose = true,
            "--failing" => failing = true,
            "-h" | "--help" => return usage(),
            s if s.starts_with('-') => return usage(),
            s if dir.is_none() && names.is_empty() && Path::new(s).is_dir() => dir = Some(s.into()),
            s => names.push(s.to_string()),
        }
    }
    let dir = dir.unwrap_or_else(default_dir);
    let files: Vec<PathBuf> = if names.is_empty() {
        match list_files(&dir) {
            Ok(f) if !f.is_empty() => f,
            Ok(_) => {
                eprintln!("no MOO files in {}", dir.display());
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("{}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
        }
    } else {
        names
            .iter()
            .map(|n| {
                let p = Path::new(n);
                if p.is_file() {
                    p.to_path_buf()
                } else if n.contains(".MOO") {
                    dir.join(n)
                } else {
                    dir.join(format!("{n}.MOO.gz"))
                }
            })
            .collect()
    };
    let revoked = match Revocations::load(&dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}: {e}", dir.join("revocation_list.txt").display());
            return ExitCode::FAILURE;
        }
    };

    let start = std::time::Instant::now();
    let mut runner = Runner::new();
    let results: Vec<_> = files.iter().map(|f| runner.run_file(f, &revoked)).collect();
    let elapsed = start.elapsed();

    if verbose {
        for r in results.iter().filter(|r| !r.all_passed()) {
            println!("{} ({}): {}/{} passed", r.file, r.mnemonic, r.passed, r.total);
            for f in &r.failures {
                print!("{f}");
            }
        }
        println!();
    }
    let shown: Vec<_> = results.iter().filter(|r| !failing || !r.all_passed()).cloned().collect();
    let mut out = table(&shown, markdown);
    if failing && shown.len() != results.len() {
        // The total line must count every file, not only the failing ones.
        let all = table(&results, markdown);
        let last = all.lines().last().unwrap_or_default().to_string();
        let mut lines: Vec<&str> = out.lines().collect();
        lines.pop();
        out = lines.join("\n") + "\n" + &last + "\n";
    }
    print!("{out}");
    eprintln!("{} tests in {:.1} s", results.iter().map(|r| r.total).sum::<usize>(), elapsed.as_secs_f64());
    if results.iter().all(|r| r.all_passed()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
