//! docs/compatibility.md is what the syscall table says. `cargo xtask compat` (which runs this
//! test with RVISOR_BLESS=1) rewrites it after the table changes.

use std::path::Path;

#[test]
fn compatibility_doc_matches_the_syscall_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/compatibility.md");
    let rendered = kernel::compatibility_markdown();
    if std::env::var_os("RVISOR_BLESS").is_some() {
        std::fs::write(&path, &rendered).expect("writing docs/compatibility.md");
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == rendered,
        "docs/compatibility.md is out of date with the syscall table: run `cargo xtask compat`"
    );
}
