//! With `--root DIR`, the guest sees DIR as `/` and nothing outside it: symlinks pointing out of
//! the root (absolute or through `..`) resolve inside it, and `..` stops at `/`.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use crate::support::{guest, shared_tempdir, Run, Status};

/// A host directory outside the sandbox root, with files the guest must never read. Not under
/// /tmp, where a sandbox with --read-only has a tmpfs of its own that would hide the in-root
/// decoy.
struct Outside {
    dir: tempfile::TempDir,
    secret: String,
}

impl Outside {
    fn new() -> Outside {
        let dir = shared_tempdir();
        let secret = format!("host secret of test process {}", std::process::id());
        for name in ["secret", "secret2"] {
            std::fs::write(dir.path().join(name), &secret).expect("write secret");
        }
        Outside { dir, secret }
    }

    /// The path of `name` in here, without its leading '/'.
    fn relative(&self, name: &str) -> String {
        let path = self.dir.path().join(name);
        path.to_str()
            .expect("utf-8 temp path")
            .trim_start_matches('/')
            .to_owned()
    }
}

#[test]
fn symlinks_and_dotdot_cannot_leave_the_root() {
    let Some(read_paths) = guest("read_paths") else {
        return;
    };
    let outside = Outside::new();
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    std::fs::create_dir_all(r.join("bin")).expect("mkdir bin");
    std::fs::create_dir_all(r.join("sub/dir")).expect("mkdir sub/dir");
    std::fs::copy(&read_paths, r.join("bin/read_paths")).expect("copy guest");
    std::fs::set_permissions(r.join("bin/read_paths"), PermissionsExt::from_mode(0o755))
        .expect("chmod guest");
    // An absolute symlink to the outside file; inside the sandbox the same path names an
    // in-root decoy, which is what the guest must read.
    symlink(outside.dir.path().join("secret"), r.join("abs")).expect("symlink abs");
    let decoy = r.join(outside.relative("secret"));
    std::fs::create_dir_all(decoy.parent().expect("decoy dir")).expect("mkdir decoy dir");
    std::fs::write(&decoy, "in-root decoy").expect("write decoy");
    // A relative symlink climbing far above the root; in the sandbox `..` stops at `/`, where
    // nothing of that name exists.
    let climb = "../".repeat(12);
    symlink(
        format!("{climb}{}", outside.relative("secret2")),
        r.join("rel"),
    )
    .expect("symlink rel");

    // Natively both links lead to the outside files: the escapes the sandbox must stop are real.
    let native = Run::new(r.join("bin/read_paths"))
        .args([r.join("abs"), r.join("rel")])
        .native();
    assert_eq!(
        native.stdout.matches(&outside.secret).count(),
        2,
        "{}",
        native.stdout
    );

    let dotdot = format!("/{climb}{}", outside.relative("secret2"));
    let from_cwd = format!("{climb}{}", outside.relative("secret2"));
    let host_root_path = r.join("abs");
    let sandboxed = Run::new("/bin/read_paths")
        .runsc_flags([Path::new("--root"), r, Path::new("--cwd"), Path::new("/")])
        .args([
            "/abs",
            "/rel",
            &dotdot,
            "cd:/sub/dir",
            &from_cwd,
            host_root_path.to_str().expect("utf-8 temp path"),
        ])
        .sandboxed();
    assert_eq!(sandboxed.status, Status::Exited(0), "{}", sandboxed.stderr);
    assert!(
        !sandboxed.stdout.contains(&outside.secret),
        "leaked: {}",
        sandboxed.stdout
    );
    let expected = [
        "/abs: [in-root decoy]".to_owned(),
        "/rel: ENOENT".to_owned(),
        format!("{dotdot}: ENOENT"),
        "cd:/sub/dir: ok".to_owned(),
        format!("{from_cwd}: ENOENT"),
        format!("{}: ENOENT", host_root_path.display()),
    ];
    assert_eq!(sandboxed.stdout.lines().collect::<Vec<_>>(), expected);
}
