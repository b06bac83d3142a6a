//! The `gatehouse` binary: parse the command line, load the configuration, build the app, run.

use std::process::ExitCode;

use gatehouse::cli::{self, Subcommand};
use gatehouse::config::{self, ProcessEnv};
use gatehouse::{App, telemetry};

/// Exit status for a configuration that cannot be used (sysexits EX_USAGE).
const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    if cli.subcommand == Some(Subcommand::GenerateSecret) {
        println!("{}", gatehouse::generate_secret());
        return ExitCode::SUCCESS;
    }
    telemetry::init();
    let loaded = match config::load(&cli.sources(), &ProcessEnv) {
        Ok(loaded) => loaded,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::from(if cli.config_test { 1 } else { EX_USAGE });
        }
    };
    if !cli.config_test
        && let Err(e) = telemetry::configure(&loaded.config.logging)
    {
        eprintln!("{e:#}");
        return ExitCode::from(EX_USAGE);
    }
    for w in &loaded.warnings {
        log::warn!("{w}");
    }
    if let Some(Subcommand::Sessions { revoke, who }) = &cli.subcommand {
        let run = gatehouse::app::sessions_command(&loaded.config, *revoke, who);
        return match actix_web::rt::System::new().block_on(run) {
            Ok(report) => {
                print!("{report}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e:#}");
                ExitCode::FAILURE
            }
        };
    }
    if cli.convert_config_to_alpha {
        print!("{}", config::convert::to_alpha(&loaded.config));
        return ExitCode::SUCCESS;
    }
    if cli.config_test {
        // As oauth2-proxy does: a Redis store must answer a write, a read and a delete.
        if let Err(e) = actix_web::rt::System::new().block_on(gatehouse::app::probe(&loaded.config)) {
            eprintln!("invalid configuration: {e:#}");
            return ExitCode::from(1);
        }
        println!("configuration is valid");
        for (method, url) in &cli.explain {
            println!("{}", gatehouse::gate::explain(&loaded.config.authz.route_rules, method, url));
        }
        return ExitCode::SUCCESS;
    }
    match actix_web::rt::System::new().block_on(async move { App::build(loaded.config)?.serve().await.map_err(Into::into) }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let e: anyhow::Error = e;
            log::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
