//! The command-line grammar (clap derive), apart from what the commands do.
//!
//! Global flags follow runsc's: they may stand before or after the subcommand's name.

mod env_var;
mod limits;
mod volume;

use std::ffi::OsString;
use std::os::fd::RawFd;
use std::path::PathBuf;

use clap::builder::OsStringValueParser;
use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

pub use env_var::EnvVar;
pub use limits::LimitArgs;
pub use volume::{volume_aname, VolumeArg};

#[derive(Parser, Debug)]
#[command(
    name = "runsc",
    version,
    about = "rvisor: run programs in an application-kernel sandbox"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalOptions {
    /// Log at debug level to stderr (RUST_LOG, when set, takes precedence).
    #[arg(long, global = true)]
    pub debug: bool,

    /// Log every guest system call with its arguments and result.
    #[arg(long, global = true)]
    pub strace: bool,

    /// How the Sentry runs guest code.
    #[arg(long, global = true, value_enum, default_value_t = PlatformKind::Ptrace)]
    pub platform: PlatformKind,
}

/// The platforms this build has (kvm is still to come).
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformKind {
    /// Guest threads in stub processes driven by PTRACE_SYSEMU.
    Ptrace,
}

impl PlatformKind {
    /// The flag value, to hand on to a child `runsc`.
    pub fn flag_value(self) -> &'static str {
        match self {
            PlatformKind::Ptrace => "ptrace",
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a command in a fresh sandbox.
    Do(DoArgs),
    /// Run the Sentry (started by `runsc do`, not by hand).
    #[command(hide = true)]
    Boot(BootArgs),
    /// Serve a directory over 9P to the Sentry (started by `runsc do`, not by hand).
    #[command(hide = true)]
    Gofer(GoferArgs),
}

impl Command {
    /// What the process running this command is called in messages.
    pub fn role(&self) -> &'static str {
        match self {
            Command::Do(_) => "runsc",
            Command::Boot(_) => "sentry",
            Command::Gofer(_) => "gofer",
        }
    }
}

#[derive(Args, Debug)]
pub struct DoArgs {
    /// The host directory that becomes the sandbox's root. The host's files are never
    /// written: the guest's writes go to an in-memory overlay and vanish with the sandbox.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// Keep the root read-only (writes fail with EROFS) instead of overlaying it, with a
    /// private tmpfs of --tmpfs-size at /tmp.
    #[arg(long)]
    pub read_only: bool,

    /// The working directory inside the sandbox [default: the caller's].
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<OsString>,

    /// Set an environment variable of the command, on top of the caller's environment.
    #[arg(long = "env", value_name = "K=V", value_parser = env_var_parser())]
    pub env: Vec<EnvVar>,

    #[command(flatten)]
    pub limits: LimitArgs,

    /// Mount host directory HOST at GUEST in the sandbox, writable (or read-only with `:ro`),
    /// served by the Gofer; repeatable.
    #[arg(long = "volume", value_name = "HOST:GUEST[:ro]")]
    pub volumes: Vec<OsString>,

    /// The command and its arguments; a command without '/' is looked up in the guest's PATH.
    #[arg(
        value_name = "CMD",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct BootArgs {
    /// The inherited descriptor of the socket to the Gofer.
    #[arg(long, value_name = "N")]
    pub gofer_fd: RawFd,

    /// The inherited descriptor of the memfd holding what to run (command, environment, working
    /// directory, limits): never on this command line, which any host user can read.
    #[arg(long, value_name = "N")]
    pub spec_fd: RawFd,
}

#[derive(Args, Debug)]
pub struct GoferArgs {
    /// The host directory to serve.
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,

    /// A volume to serve besides the root: `rw:DIR` or `ro:DIR`, its aname given by its
    /// place among the volumes (see `volume_aname`).
    #[arg(long = "volume", value_name = "rw|ro:DIR")]
    pub volumes: Vec<OsString>,

    /// The inherited descriptor of the socket to the Sentry.
    #[arg(long, value_name = "N")]
    pub fd: RawFd,
}

/// Parses `K=V` from any bytes (environments need not be UTF-8).
fn env_var_parser() -> impl TypedValueParser<Value = EnvVar> {
    OsStringValueParser::new().try_map(EnvVar::try_from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(args)
    }

    #[test]
    fn do_takes_everything_after_the_command_verbatim() {
        let cli = parse(&[
            "runsc", "do", "--env", "A=1", "/bin/sh", "-c", "exit 7", "--strace",
        ])
        .expect("valid command line");
        let Command::Do(args) = cli.command else {
            panic!("not do: {:?}", cli.command)
        };
        assert_eq!(args.command, ["/bin/sh", "-c", "exit 7", "--strace"]);
        assert_eq!(
            args.env,
            [EnvVar::try_from(OsString::from("A=1")).expect("valid")]
        );
        assert_eq!(args.root, PathBuf::from("/"));
        assert!(!args.read_only, "the root is writable by default");
        assert!(
            !cli.global.strace,
            "--strace after the command belongs to the command"
        );
    }

    #[test]
    fn global_flags_go_before_or_after_the_subcommand() {
        for args in [
            &[
                "runsc",
                "--strace",
                "--platform",
                "ptrace",
                "do",
                "/bin/true",
            ][..],
            &["runsc", "do", "--strace", "--platform=ptrace", "/bin/true"][..],
        ] {
            let cli = parse(args).expect("valid command line");
            assert!(cli.global.strace, "{args:?}");
            assert_eq!(cli.global.platform, PlatformKind::Ptrace);
        }
    }

    #[test]
    fn unknown_platform_is_an_error_naming_the_known_ones() {
        let err = parse(&["runsc", "--platform", "kvm", "do", "/bin/true"]).expect_err("kvm");
        let message = err.to_string();
        assert!(
            message.contains("kvm") && message.contains("ptrace"),
            "{message}"
        );
    }

    #[test]
    fn boot_takes_descriptors_and_no_command() {
        let cli = parse(&["runsc", "boot", "--gofer-fd", "5", "--spec-fd", "6"])
            .expect("valid command line");
        let Command::Boot(args) = cli.command else {
            panic!("not boot: {:?}", cli.command)
        };
        assert_eq!((args.gofer_fd, args.spec_fd), (5, 6));
        assert!(parse(&[
            "runsc",
            "boot",
            "--gofer-fd",
            "5",
            "--spec-fd",
            "6",
            "/bin/echo"
        ])
        .is_err());
    }

    #[test]
    fn malformed_env_is_rejected() {
        assert!(parse(&["runsc", "do", "--env", "NOEQUALS", "/bin/true"]).is_err());
        assert!(parse(&["runsc", "do", "--env", "=value", "/bin/true"]).is_err());
    }
}
