//! Runs every SingleStepTests 80286 real-mode vector (see `emu_test_roms::singlestep`) and
//! requires all of them to pass, except the known failures listed here with their reasons.

use emu_test_roms::singlestep::{default_dir, list_files, moo::Revocations, Runner};

/// Files not expected to pass yet, with the reason.
const KNOWN_FAILING_FILES: &[(&str, &str)] = &[];

/// Single tests not expected to pass: (file, SHA-1 of the test, reason).
const KNOWN_FAILING_TESTS: &[(&str, &str, &str)] = &[(
    "F6.7",
    "0038b4bacfb75535b5da175f619b0812b16d0601",
    "`idiv byte [si]` of 81C1h by 7Ch: the quotient (-260) overflows and the SDM (and emu) raise \
     #DE; the Harris 80C286 returned AX = C180h without faulting",
)];

#[test]
fn singlestep_80286_real_mode() {
    let dir = default_dir();
    if !dir.is_dir() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{} is missing (required in CI)", dir.display());
        }
        eprintln!("skipping: {} not found", dir.display());
        return;
    }
    let files = list_files(&dir).expect("list the MOO files");
    assert!(!files.is_empty(), "no MOO files in {}", dir.display());
    let revoked = Revocations::load(&dir).expect("read revocation_list.txt");
    let mut runner = Runner::new();
    let mut problems = Vec::new();
    let (mut passed, mut total) = (0, 0);
    for path in &files {
        let r = runner.run_file(path, &revoked);
        passed += r.passed;
        total += r.total;
        if let Some(e) = r.error.as_ref().or(r.leak.as_ref()) {
            problems.push(format!("{}: {e}", r.file));
            continue;
        }
        if KNOWN_FAILING_FILES.iter().any(|(f, _)| *f == r.file) {
            if r.all_passed() {
                eprintln!("note: {} passes now; remove it from KNOWN_FAILING_FILES", r.file);
            }
            continue;
        }
        let unexpected: Vec<_> = r
            .failed_hashes
            .iter()
            .filter(|h| !KNOWN_FAILING_TESTS.iter().any(|(f, kh, _)| *f == r.file && kh == h))
            .collect();
        if !unexpected.is_empty() {
            let mut msg = format!("{} ({}): {}/{} passed", r.file, r.mnemonic, r.passed, r.total);
            for f in &r.failures {
                msg.push('\n');
                msg.push_str(&f.to_string());
            }
            problems.push(msg);
        }
        for (f, h, _) in KNOWN_FAILING_TESTS.iter().filter(|(f, _, _)| *f == r.file) {
            if !r.failed_hashes.iter().any(|x| x == h) {
                eprintln!("note: test {h} of {f} passes now; remove it from KNOWN_FAILING_TESTS");
            }
        }
    }
    eprintln!("singlestep 80286: {passed}/{total} tests passed in {} files", files.len());
    assert!(problems.is_empty(), "{} files fail unexpectedly:\n{}", problems.len(), problems.join("\n"));
}
