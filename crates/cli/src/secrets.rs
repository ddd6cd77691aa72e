//! Tokens without the command line: `--token-file FILE` and environment
//! variables (`GAPMAP_TOKEN` for a client's remote, `GAPMAP_SERVE_TOKEN`
//! for `serve`, `GAPMAP_REMOTE_TOKEN` for `remote add`) besides `--token`,
//! which every local user can read in `ps` — so it draws a warning.
//! Resolved once, in the process the user started, before the command line
//! may travel to the store's owner.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use clap::parser::ValueSource;
use clap::ArgMatches;

use crate::args::{Cli, Command, RemoteAction};

/// Reads `--token-file`, warns about `--token`, and drops an exported
/// `GAPMAP_TOKEN` where the command syncs every remembered remote (each
/// then uses its own token: the exported one is meant for the remote the
/// command names, and must not be sent to every server).
pub fn resolve(cli: &mut Cli, matches: &ArgMatches) -> Result<()> {
    let Some((name, sub)) = matches.subcommand() else {
        return Ok(());
    };
    let m = match (name, sub.subcommand()) {
        ("remote", Some(("add", add))) => add,
        ("remote", _) => return Ok(()),
        _ => sub,
    };
    let (token, token_file, names_a_remote, env) = match &mut cli.command {
        Command::Clone {
            token, token_file, ..
        } => (token, token_file, true, "GAPMAP_TOKEN"),
        Command::Sync {
            token,
            token_file,
            url,
            ..
        } => {
            let named = url.is_some();
            (token, token_file, named, "GAPMAP_TOKEN")
        }
        Command::Ui {
            token,
            token_file,
            sync,
            ..
        } => {
            let named = !sync.is_empty();
            (token, token_file, named, "GAPMAP_TOKEN")
        }
        Command::Serve {
            token, token_file, ..
        } => (token, token_file, true, "GAPMAP_SERVE_TOKEN"),
        Command::Remote {
            action: RemoteAction::Add {
                token, token_file, ..
            },
        } => (token, token_file, true, "GAPMAP_REMOTE_TOKEN"),
        _ => return Ok(()),
    };
    let source = m.value_source("token");
    if let Some(path) = token_file.take() {
        if source == Some(ValueSource::CommandLine) {
            bail!("give the token once: --token or --token-file, not both");
        }
        *token = Some(read_token_file(&path)?);
    } else if source == Some(ValueSource::CommandLine) {
        eprintln!(
            "gapmap: warning: a token on the command line is visible to other users of this machine (ps); use --token-file FILE or {env} instead"
        );
    } else if source == Some(ValueSource::EnvVariable) && !names_a_remote {
        *token = None;
    }
    Ok(())
}

/// The token in `path`: its first line, trimmed.
fn read_token_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    let token = text.lines().next().unwrap_or_default().trim();
    if token.is_empty() {
        bail!("the token file {} is empty", path.display());
    }
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "gapmap: warning: the token file {} can be read by other users; chmod 600 it",
                path.display()
            );
        }
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli> {
        let matches = Cli::command().try_get_matches_from(args)?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        resolve(&mut cli, &matches)?;
        Ok(cli)
    }

    fn token(cli: &Cli) -> Option<&str> {
        match &cli.command {
            Command::Sync { token, .. }
            | Command::Clone { token, .. }
            | Command::Serve { token, .. }
            | Command::Ui { token, .. } => token.as_deref(),
            Command::Remote {
                action: RemoteAction::Add { token, .. },
            } => token.as_deref(),
            _ => None,
        }
    }

    #[test]
    fn a_token_file_gives_its_first_line() {
        let file = std::env::temp_dir().join(format!("gapmap-token-{}", std::process::id()));
        std::fs::write(&file, "s3cret \nignored\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let f = file.to_str().unwrap();
        let cases: [&[&str]; 5] = [
            &["gapmap", "sync", "ws://x", "--token-file", f],
            &[
                "gapmap",
                "clone",
                "abc",
                "--from",
                "ws://x",
                "--token-file",
                f,
            ],
            &["gapmap", "serve", "--token-file", f],
            &["gapmap", "ui", "--token-file", f],
            &[
                "gapmap",
                "remote",
                "add",
                "team",
                "ws://x",
                "--token-file",
                f,
            ],
        ];
        for args in cases {
            assert_eq!(token(&parse(args).unwrap()), Some("s3cret"), "{args:?}");
        }
        assert!(parse(&["gapmap", "sync", "--token", "a", "--token-file", f]).is_err());
        std::fs::write(&file, "\n").unwrap();
        assert!(parse(&["gapmap", "sync", "--token-file", f]).is_err());
        std::fs::remove_file(&file).unwrap();
    }
}
