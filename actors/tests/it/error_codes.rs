//! One list of error codes: every `ErrorCode` has its HTTP status from the one map, and
//! the README's error table names each code on a row with that status.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use swarm_actors::http::status_of;
use swarm_runtime::ErrorCode;

#[test]
fn the_readme_table_lists_every_code_with_its_status() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let table: Vec<&str> = readme
        .lines()
        .skip_while(|l| !l.starts_with("| status | code | when |"))
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(table.len() > 2, "error table not found");
    for code in ErrorCode::ALL {
        let status = status_of(code).as_u16().to_string();
        let row = table
            .iter()
            .find(|l| l.contains(&format!("`{code}`")))
            .unwrap_or_else(|| panic!("README's error table lacks `{code}`"));
        assert!(
            row.contains(&status),
            "`{code}` is {status}, README says: {row}"
        );
    }
    // Runtime codes are a subset, each once.
    for code in ErrorCode::RUNTIME {
        assert_eq!(ErrorCode::ALL.iter().filter(|c| **c == code).count(), 1);
    }
}
