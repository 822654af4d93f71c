//! Debian packages for tests: `apt-get download` (no root needed) into a cache under `target/`,
//! unpacked with `dpkg-deb -x`. Firmware and guests the tests boot come from here, never from
//! the repository.
//!
//! A package that cannot be had is a failure in CI (`CI=true`) and a skip elsewhere: tests call
//! [`require`] and return early on `None`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The cache: `target/debian/` of the workspace (or `$EMU_DEBIAN_CACHE`).
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EMU_DEBIAN_CACHE") {
        return dir.into();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debian")
}

/// Why a package is not available.
#[derive(Debug)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Downloads (once) and unpacks Debian package `name` (e.g. `"seabios"`, `"busybox-static:i386"`),
/// returning the directory it was unpacked into (`<cache>/<name>/root`).
///
/// Safe to call from tests running in parallel: each call downloads and unpacks into a directory
/// of its own and renames it into place, so `root` only ever appears complete; a call that loses
/// the race uses the winner's copy.
pub fn fetch(name: &str) -> Result<PathBuf, Unavailable> {
    let dir = cache_dir().join(name.replace(':', "_"));
    let root = dir.join("root");
    if root.join(".unpacked").exists() {
        return Ok(root);
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let work = dir.join(format!("work-{}-{nanos}", std::process::id()));
    let result = download_and_unpack(name, &work);
    let outcome = result.and_then(|unpacked| match std::fs::rename(&unpacked, &root) {
        Ok(()) => Ok(root.clone()),
        // Another test got there first: its copy is complete (it has the marker).
        Err(_) if root.join(".unpacked").exists() => Ok(root.clone()),
        Err(e) => Err(Unavailable(format!("cannot move {} into place: {e}", unpacked.display()))),
    });
    let _ = std::fs::remove_dir_all(&work);
    outcome
}

/// `apt-get download` into `work`, then `dpkg-deb -x` into `work/root` with the marker file.
fn download_and_unpack(name: &str, work: &Path) -> Result<PathBuf, Unavailable> {
    std::fs::create_dir_all(work).map_err(|e| Unavailable(format!("cannot create {}: {e}", work.display())))?;
    let out = Command::new("apt-get")
        .args(["download", name])
        .current_dir(work)
        .output()
        .map_err(|e| Unavailable(format!("apt-get cannot run: {e}")))?;
    if !out.status.success() {
        return Err(Unavailable(format!(
            "apt-get download {name} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let deb = std::fs::read_dir(work)
        .map_err(|e| Unavailable(e.to_string()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| Unavailable(format!("apt-get download {name} left no .deb in {}", work.display())))?;
    let unpacked = work.join("root");
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&unpacked)
        .status()
        .map_err(|e| Unavailable(format!("dpkg-deb cannot run: {e}")))?;
    if !status.success() {
        return Err(Unavailable(format!("dpkg-deb -x {} failed", deb.display())));
    }
    std::fs::write(unpacked.join(".unpacked"), b"").map_err(|e| Unavailable(e.to_string()))?;
    Ok(unpacked)
}

/// Whether tests run in CI, where a missing package is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// [`fetch`] for a test: `Some(root)`, or `None` after printing why the test is skipped; in CI a
/// missing package panics instead.
pub fn require(name: &str) -> Option<PathBuf> {
    match fetch(name) {
        Ok(root) => Some(root),
        Err(e) if in_ci() => panic!("Debian package {name} is required in CI: {e}"),
        Err(e) => {
            eprintln!("skipping: Debian package {name} is not available: {e}");
            None
        }
    }
}

/// A host tool a test needs (e.g. `mcopy` from mtools): `true` if it runs; in CI its absence
/// panics, elsewhere it prints why the test is skipped.
pub fn require_tool(tool: &str, package: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        if in_ci() {
            panic!("tool {tool} (Debian package {package}) is required in CI: .ci/run installs it");
        }
        eprintln!("skipping: {tool} is not installed (apt-get install {package})");
    }
    found
}
