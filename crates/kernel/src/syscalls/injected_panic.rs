//! A test hook of debug builds: a Sentry started with `RVISOR_TEST_PANIC_ON_SYSCALL=N` in its host
//! environment panics when a guest makes system call N, so that a test can prove that a
//! panicking Sentry thread ends the whole sandbox. Release builds have no such code: no guest
//! can reach it there (and no guest can set the Sentry's host environment anyway).

/// The host environment variable naming the system call that panics.
#[cfg(debug_assertions)]
const PANIC_ON_SYSCALL: &str = "RVISOR_TEST_PANIC_ON_SYSCALL";

/// Panics if `nr` is the system call the test hook names.
#[cfg(debug_assertions)]
pub(crate) fn check(nr: u64) {
    static TARGET: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    let target = TARGET.get_or_init(|| {
        std::env::var(PANIC_ON_SYSCALL)
            .ok()
            .and_then(|nr| nr.parse().ok())
    });
    if *target == Some(nr) {
        panic!("injected panic on system call {nr} ({PANIC_ON_SYSCALL})");
    }
}

/// Release builds: nothing.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub(crate) fn check(_nr: u64) {}
