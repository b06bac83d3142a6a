//! The command line: Gatehouse's own flags (`--config`, `--alpha-config`, `--config-test`,
//! `--convert-config-to-alpha`,
//! `--version`, `generate-secret`) plus one flag per oauth2-proxy option, generated from the
//! option table so `--help` lists every option under its topic.
//!
//! Flags carry no defaults here; defaults live in the option table and are applied by
//! `config::validate`, so "set on the command line" and "left alone" stay distinguishable.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::config::options::{self, OptionSpec};
use crate::config::value::Kind;
use crate::config::{FlagValues, Sources};
use crate::session::ending::Subject;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct Cli {
    pub config: Option<PathBuf>,
    pub alpha_config: Option<PathBuf>,
    /// Validate the configuration and exit 0 (valid) or 1 (invalid), like oauth2-proxy.
    pub config_test: bool,
    /// Print the alpha YAML equivalent of the legacy configuration and exit, as oauth2-proxy.
    pub convert_config_to_alpha: bool,
    /// `--explain METHOD URL` (with `--config-test`): what `route_rules` decide for each.
    pub explain: Vec<(String, String)>,
    pub subcommand: Option<Subcommand>,
    pub flags: Vec<FlagValues>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subcommand {
    /// Print a fresh random cookie secret.
    GenerateSecret,
    /// List (`revoke: false`) or end the sessions of a user or provider session in the
    /// configured Redis.
    Sessions { revoke: bool, who: Subject },
}

impl Cli {
    pub fn sources(&self) -> Sources {
        Sources { config_file: self.config.clone(), alpha_config: self.alpha_config.clone(), flags: self.flags.clone() }
    }
}

const ABOUT: &str = "Gatehouse: an identity-aware proxy, drop-in compatible with oauth2-proxy.\n\
It answers forward-auth checks (nginx auth_request, Traefik ForwardAuth, Envoy ext_authz) on /oauth2/auth,\n\
or runs as an authenticating reverse proxy in front of upstreams.";

const AFTER_HELP: &str = "Every option can also be set in the --config file (key = value, the key is the flag name with _ for -)\n\
and as an environment variable OAUTH2_PROXY_<KEY> (list options use the plural key, comma-separated).\n\
Precedence: flag > environment > config file > default.\n\
Exit status: 0 on success; --config-test exits 1 for an invalid configuration; a server start with an invalid\n\
configuration exits 64. Logging: RUST_LOG=debug|info|warn|error (default info).";

/// The full command definition.
pub fn command() -> Command {
    let mut cmd = Command::new("gatehouse")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .after_help(AFTER_HELP)
        .max_term_width(120)
        .subcommand(Command::new("generate-secret").about("Print a new random cookie secret (32 bytes, base64url) and exit"))
        .subcommand(
            Command::new("sessions")
                .about("List or revoke the sessions of a user (or of one provider session) in the configured Redis, on every instance")
                .subcommand_required(true)
                .subcommand(who(Command::new("list").about("List the user's sessions: ticket, login time, time left")))
                .subcommand(who(Command::new("revoke").about("End the user's sessions on every instance sharing the Redis"))),
        )
        .next_help_heading("Gatehouse")
        .arg(
            Arg::new("config")
                .long("config")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .global(true)
                .help("Legacy oauth2-proxy config file (TOML-style key = value)"),
        )
        .arg(
            Arg::new("alpha-config")
                .long("alpha-config")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .global(true)
                .help("Alpha YAML config (upstreamConfig, injectRequestHeaders, server, providers, ...)"),
        )
        .arg(
            Arg::new("config-test")
                .long("config-test")
                .action(ArgAction::SetTrue)
                .help("Check the configuration, print any problems, and exit (0: valid, 1: invalid)"),
        )
        .arg(
            Arg::new("convert-config-to-alpha")
                .long("convert-config-to-alpha")
                .action(ArgAction::SetTrue)
                .conflicts_with("alpha-config")
                .help(
                    "Print the alpha YAML that means what this legacy configuration means (server, upstreams, headers, provider), and exit",
                ),
        )
        .arg(
            Arg::new("explain")
                .long("explain")
                .num_args(2)
                .value_names(["METHOD", "URL"])
                .action(ArgAction::Append)
                .requires("config-test")
                .help("With --config-test: say which of route_rules a request would meet, and what it decides (repeatable)"),
        );
    for (topic, opts) in options::TOPICS {
        cmd = cmd.next_help_heading(topic.heading());
        for spec in opts.iter().filter(|o| !o.no_flag) {
            cmd = cmd.arg(option_arg(spec));
        }
    }
    cmd
}

/// `--user` or `--sid`, exactly one.
fn who(cmd: Command) -> Command {
    cmd.arg(Arg::new("user").long("user").value_name("SUB").help("The user (the session's user, the ID token's sub)"))
        .arg(Arg::new("sid").long("sid").value_name("SID").help("The provider session (the ID token's sid)"))
        .group(clap::ArgGroup::new("who").args(["user", "sid"]).required(true))
}

fn option_arg(spec: &'static OptionSpec) -> Arg {
    let mut help = spec.help.to_string();
    if !spec.default.is_empty() {
        help.push_str(&format!(" [default: {}]", spec.default));
    }
    let arg = Arg::new(spec.key).long(spec.flag()).help(help).action(ArgAction::Append);
    match spec.kind {
        // pflag booleans: `--flag` means true, `--flag=false` sets false.
        Kind::Bool => arg.num_args(0..=1).require_equals(true).default_missing_value("true").value_name("BOOL"),
        Kind::List => arg.value_name("VALUE"),
        Kind::Dur => arg.value_name("DURATION"),
        Kind::Int => arg.value_name("N"),
        Kind::Str => arg.value_name(if spec.secret { "SECRET" } else { "VALUE" }),
    }
}

/// Parses the process arguments.
pub fn parse() -> Result<Cli, clap::Error> {
    parse_from(std::env::args_os())
}

pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let m = command().try_get_matches_from(args)?;
    Ok(from_matches(&m))
}

fn from_matches(m: &ArgMatches) -> Cli {
    let flags = options::all()
        .filter(|o| !o.no_flag)
        .filter_map(|o| {
            let values: Vec<String> = m.get_many::<String>(o.key)?.cloned().collect();
            Some(FlagValues { key: o.key, values })
        })
        .collect();
    Cli {
        config: m.get_one::<PathBuf>("config").cloned(),
        alpha_config: m.get_one::<PathBuf>("alpha-config").cloned(),
        config_test: m.get_flag("config-test"),
        convert_config_to_alpha: m.get_flag("convert-config-to-alpha"),
        explain: m
            .get_occurrences::<String>("explain")
            .map(|all| {
                all.filter_map(|mut pair| {
                    let method = pair.next()?.clone();
                    Some((method, pair.next()?.clone()))
                })
                .collect()
            })
            .unwrap_or_default(),
        subcommand: match m.subcommand() {
            Some(("generate-secret", _)) => Some(Subcommand::GenerateSecret),
            Some(("sessions", s)) => s.subcommand().map(|(action, args)| {
                let who = match (args.get_one::<String>("user"), args.get_one::<String>("sid")) {
                    (Some(user), _) => Subject::User(user.clone()),
                    (None, sid) => Subject::Sid(sid.cloned().unwrap_or_default()),
                };
                Subcommand::Sessions { revoke: action == "revoke", who }
            }),
            _ => None,
        },
        flags,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn option_flags_are_collected_in_order() {
        let cli = parse_from([
            "gatehouse",
            "--config",
            "x.cfg",
            "--email-domain=a.com",
            "--email-domain",
            "b.com",
            "--cookie-secure=false",
            "--skip-provider-button",
        ])
        .unwrap();
        assert_eq!(cli.config, Some(PathBuf::from("x.cfg")));
        let get = |k: &str| cli.flags.iter().find(|f| f.key == k).map(|f| f.values.clone());
        assert_eq!(get("email_domains").unwrap(), ["a.com", "b.com"]);
        assert_eq!(get("cookie_secure").unwrap(), ["false"]);
        assert_eq!(get("skip_provider_button").unwrap(), ["true"]);
    }

    #[test]
    fn sessions_subcommands_name_a_user_or_a_sid() {
        let cli = parse_from(["gatehouse", "sessions", "revoke", "--user", "alice", "--config", "x.cfg"]).unwrap();
        assert_eq!(cli.subcommand, Some(Subcommand::Sessions { revoke: true, who: Subject::User("alice".into()) }));
        assert_eq!(cli.config, Some(PathBuf::from("x.cfg")), "--config after the subcommand too");
        let cli = parse_from(["gatehouse", "sessions", "list", "--sid", "s1"]).unwrap();
        assert_eq!(cli.subcommand, Some(Subcommand::Sessions { revoke: false, who: Subject::Sid("s1".into()) }));
        assert!(parse_from(["gatehouse", "sessions", "list"]).is_err(), "whose sessions");
        assert!(parse_from(["gatehouse", "sessions", "list", "--user", "a", "--sid", "s"]).is_err(), "one of them");
        assert!(parse_from(["gatehouse", "sessions"]).is_err());
    }

    #[test]
    fn generate_secret_subcommand() {
        let cli = parse_from(["gatehouse", "generate-secret"]).unwrap();
        assert_eq!(cli.subcommand, Some(Subcommand::GenerateSecret));
    }
}
