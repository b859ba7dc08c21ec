//! The exit codes `runsc` ends with when the guest did not choose them. A guest may exit with
//! any code, so none of these is unambiguous by itself: each follows a convention (runc and
//! docker, shells, sysexits.h) and always comes with a one-line message on stderr naming the
//! cause. A guest killed by signal N gives 128 + N, as in a shell.

/// runsc itself failed before the guest ran (bad flags, a working directory that doesn't
/// exist, setup), as runc and docker use it.
pub const RUNSC_FAILED: u8 = 125;

/// The command exists but can't be executed (EACCES, ENOEXEC...), as a shell reports it.
pub const COMMAND_NOT_EXECUTABLE: u8 = 126;

/// The command was not found, as a shell reports it.
pub const COMMAND_NOT_FOUND: u8 = 127;

/// The Gofer died while the sandbox ran, taking the sandbox's files with it (sysexits.h's
/// EX_UNAVAILABLE).
pub const GOFER_LOST: u8 = 69;

/// A thread of the Sentry or of the Gofer panicked: a bug in rvisor (sysexits.h's
/// EX_SOFTWARE). The whole sandbox ends at once.
pub const PANICKED: u8 = 70;
