//! Summary lines of the delivery harnesses (sent, duplicates, lost, counter
//! drift …). Cargo hides a passing test's output, so besides printing them
//! a test appends them to the file named by `SMSFLOW_TEST_SUMMARY`;
//! `scripts/test.sh` sets it and prints the file after the run, which is how
//! the figures reach the CI log.

use std::io::Write;

/// Prints `line` and appends it to `$SMSFLOW_TEST_SUMMARY` when set.
pub fn report(line: &str) {
    println!("{line}");
    let Some(path) = std::env::var_os("SMSFLOW_TEST_SUMMARY") else {
        return;
    };
    // Tests of one binary run in parallel: one `write` of a whole line to
    // a file opened for appending keeps the lines whole.
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
    if let Err(e) = appended {
        panic!("cannot append to SMSFLOW_TEST_SUMMARY={path:?}: {e}");
    }
}
