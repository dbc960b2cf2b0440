//! The server binary's administration commands (`syncline-server user add bob`, …): users,
//! tokens, project memberships and projects, written to the same database the server uses (a
//! running server sees them at once). Each prints what it did.

use std::time::Duration;

use clap::Subcommand;

use crate::error::StoreError;
use crate::store::{Service, Store};

/// An administration command.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum AdminCommand {
    /// Users: add one, or list them.
    #[command(subcommand)]
    User(UserCommand),
    /// Opaque bearer tokens: issue one for a user, or revoke one.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Project memberships, which decide what a user sees.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Projects (the scopes records belong to).
    #[command(subcommand)]
    Scope(ScopeCommand),
    /// Service identities: the office's systems on the backend API (`/v1/admin/`).
    #[command(subcommand)]
    Service(ServiceCommand),
    /// The webhook that delivers the change feed (`--webhook`).
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Imports records of an entity from an NDJSON file (`{"key", "fields"}` per line), in
    /// batches of 1,000 (each all or nothing); a bad line stops it with its number.
    Import {
        /// The entity.
        entity: String,
        /// The file (`-`: standard input).
        file: std::path::PathBuf,
    },
    /// Writes every live record of an entity to standard output, one NDJSON line each
    /// (`{"key", "version", "fields"}`, server-only fields included).
    Export {
        /// The entity.
        entity: String,
    },
}

/// `webhook …`
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum WebhookCommand {
    /// Where delivery stands: its cursor, the log's end, the lag in positions and seconds.
    Status,
    /// Delivers again every change after position POS (0: from the start of the log).
    Replay {
        /// The position to deliver after.
        #[arg(long = "from")]
        from: i64,
    },
}

/// `service …`
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ServiceCommand {
    /// Adds a service and prints its token: the only time it is shown (the database keeps its
    /// hash; `token revoke` ends it).
    Add {
        /// Its name (server-set fields name it as the user of its writes).
        name: String,
        /// A project it reaches; repeat for more.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// It reaches every project, present and future.
        #[arg(long)]
        all_scopes: bool,
        /// It may read, not write.
        #[arg(long)]
        read_only: bool,
    },
    /// Lists the services and what they reach.
    List,
}

/// `user …`
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum UserCommand {
    /// Adds a user (nothing changes if it exists).
    Add {
        /// The user id (what a JWT's `sub` would be).
        id: String,
    },
    /// Lists the users and how many projects each is a member of.
    List,
}

/// `token …`
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum TokenCommand {
    /// Issues a new token for a user and prints it: the only time it is shown (the database
    /// keeps its hash).
    Issue {
        /// The user it authenticates.
        user: String,
        /// Days until it expires (never, when omitted).
        #[arg(long)]
        ttl_days: Option<u64>,
    },
    /// Revokes a token: the next request with it is refused.
    Revoke {
        /// The token.
        token: String,
    },
}

/// `member …`
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum MemberCommand {
    /// Makes a user a member of a project: its records reach their devices on the next pull.
    Add {
        /// The user.
        user: String,
        /// The project.
        scope: String,
    },
    /// Removes a user from a project: its records leave their devices on the next pull.
    Remove {
        /// The user.
        user: String,
        /// The project.
        scope: String,
    },
}

/// `scope …`
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ScopeCommand {
    /// Creates a project (or renames an existing one).
    Create {
        /// The project id.
        id: String,
        /// Its display name.
        #[arg(long)]
        name: String,
    },
}

/// Carries out `command` on `store`, writing what it prints to `out` (an export streams its
/// records there, one at a time). Progress (an import's) goes to standard error when it is a
/// terminal.
pub fn run_to(
    store: &Store,
    command: &AdminCommand,
    out: &mut dyn std::io::Write,
) -> Result<(), StoreError> {
    let io = |e: std::io::Error| StoreError::Invalid(format!("writing the output: {e}"));
    let lines = match command {
        AdminCommand::Export { entity } => {
            let n = crate::bulk::export(store, entity, out)?;
            out.flush().map_err(io)?;
            log::info!("exported {n} {entity} records");
            return Ok(());
        }
        AdminCommand::Import { entity, file } => {
            use std::io::IsTerminal as _;
            let terminal = std::io::stderr().is_terminal();
            let mut progress = |n: u64| {
                if terminal {
                    eprint!("\r{n} {entity} records imported");
                }
            };
            let input: Box<dyn std::io::BufRead> = if file.as_os_str() == "-" {
                Box::new(std::io::BufReader::new(std::io::stdin()))
            } else {
                let f = std::fs::File::open(file).map_err(|e| {
                    StoreError::Invalid(format!("cannot open {}: {e}", file.display()))
                })?;
                Box::new(std::io::BufReader::new(f))
            };
            let n = crate::bulk::import(store, entity, input, &mut progress).map_err(|e| match e {
                crate::bulk::ImportError::Store(s) => s,
                other => StoreError::Invalid(other.to_string()),
            });
            if terminal {
                eprintln!();
            }
            vec![format!("{} {entity} records imported", n?)]
        }
        other => run(store, other)?,
    };
    for line in lines {
        writeln!(out, "{line}").map_err(io)?;
    }
    Ok(())
}

/// Carries out `command` on `store`; returns the lines to print (an export's records among
/// them: [`run_to`] streams them instead).
pub fn run(store: &Store, command: &AdminCommand) -> Result<Vec<String>, StoreError> {
    Ok(match command {
        AdminCommand::Export { .. } | AdminCommand::Import { .. } => {
            let mut out = Vec::new();
            run_to(store, command, &mut out)?;
            String::from_utf8_lossy(&out)
                .lines()
                .map(str::to_string)
                .collect()
        }
        AdminCommand::User(UserCommand::Add { id }) => vec![if store.create_user(id)? {
            format!("user {id} added")
        } else {
            format!("user {id} already exists; nothing changed")
        }],
        AdminCommand::User(UserCommand::List) => {
            let users = store.users()?;
            let mut lines: Vec<String> = users
                .iter()
                .map(|(id, projects)| format!("{id}\t{projects} projects"))
                .collect();
            lines.push(format!("{} users", users.len()));
            lines
        }
        AdminCommand::Token(TokenCommand::Issue { user, ttl_days }) => {
            let ttl = ttl_days.map(|d| Duration::from_secs(d.saturating_mul(86_400)));
            let token = store.issue_token(user, ttl)?;
            let lifetime = match ttl_days {
                Some(d) => format!("expires in {d} days"),
                None => "does not expire".to_string(),
            };
            vec![
                token,
                format!(
                    "token issued for {user} ({lifetime}); it is shown only now (the database keeps its hash)"
                ),
            ]
        }
        AdminCommand::Token(TokenCommand::Revoke { token }) => {
            vec![if store.revoke_token(token)? {
                "token revoked".to_string()
            } else {
                "no such token; nothing changed".to_string()
            }]
        }
        AdminCommand::Member(MemberCommand::Add { user, scope }) => {
            vec![if store.add_membership(user, scope)? {
                format!(
                    "{user} is now a member of {scope}; its records reach {user}'s devices on their next pull"
                )
            } else {
                format!("{user} was already a member of {scope}; nothing changed")
            }]
        }
        AdminCommand::Member(MemberCommand::Remove { user, scope }) => {
            vec![if store.remove_membership(user, scope)? {
                format!(
                    "{user} is no longer a member of {scope}; its records leave {user}'s devices on their next pull"
                )
            } else {
                format!("{user} was not a member of {scope}; nothing changed")
            }]
        }
        AdminCommand::Service(ServiceCommand::Add {
            name,
            scopes,
            all_scopes,
            read_only,
        }) => {
            let token = store.add_service(&Service {
                name: name.clone(),
                scopes: scopes.clone(),
                all_scopes: *all_scopes,
                read_only: *read_only,
            })?;
            vec![
                token,
                format!(
                    "service {name} added; its token is shown only now (the database keeps its hash)"
                ),
            ]
        }
        AdminCommand::Service(ServiceCommand::List) => {
            let services = store.services()?;
            let mut lines: Vec<String> = services
                .iter()
                .map(|s| {
                    let reach = if s.all_scopes {
                        "all scopes".to_string()
                    } else {
                        s.scopes.join(", ")
                    };
                    let mode = if s.read_only {
                        "read-only"
                    } else {
                        "read-write"
                    };
                    format!("{}\t{mode}\t{reach}", s.name)
                })
                .collect();
            lines.push(format!("{} services", services.len()));
            lines
        }
        AdminCommand::Webhook(WebhookCommand::Status) => {
            let (state, end, oldest) = store.webhook_status(crate::webhooks::WEBHOOK_NAME)?;
            match state {
                None => vec![format!(
                    "the webhook has not run yet; the change log ends at position {end}"
                )],
                Some(s) => {
                    let lag_secs = oldest.map_or(0, crate::clock::age_secs);
                    let delivered = s.delivered_at.map_or("never".to_string(), |at| {
                        format!("{} s ago", crate::clock::age_secs(at))
                    });
                    vec![
                        format!(
                            "cursor {} of {end}: {} positions behind",
                            s.cursor,
                            end - s.cursor
                        ),
                        format!("oldest undelivered change: {lag_secs} s old"),
                        format!("last delivery: {delivered}"),
                        format!(
                            "delivering: {}",
                            s.holder.as_deref().unwrap_or("no instance yet")
                        ),
                    ]
                }
            }
        }
        AdminCommand::Webhook(WebhookCommand::Replay { from }) => {
            store.webhook_replay(crate::webhooks::WEBHOOK_NAME, *from)?;
            vec![format!(
                "the webhook delivers every change after position {from} again, in order"
            )]
        }
        AdminCommand::Scope(ScopeCommand::Create { id, name }) => {
            let version = store.create_project(id, name)?;
            vec![if version == 1 {
                format!("project {id} created")
            } else {
                format!("project {id} renamed (version {version})")
            }]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_is_set_up_from_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_sample(dir.path().join("a.db")).expect("open");
        let say = |c: AdminCommand| run(&store, &c).expect("command").join("\n");
        assert_eq!(
            say(AdminCommand::User(UserCommand::Add { id: "dana".into() })),
            "user dana added"
        );
        assert!(
            say(AdminCommand::User(UserCommand::Add { id: "dana".into() }))
                .contains("already exists")
        );
        assert_eq!(
            say(AdminCommand::Scope(ScopeCommand::Create {
                id: "p9".into(),
                name: "Nine".into()
            })),
            "project p9 created"
        );
        assert!(say(AdminCommand::Member(MemberCommand::Add {
            user: "dana".into(),
            scope: "p9".into()
        }))
        .contains("now a member of p9"));
        let issued = run(
            &store,
            &AdminCommand::Token(TokenCommand::Issue {
                user: "dana".into(),
                ttl_days: Some(30),
            }),
        )
        .expect("issue");
        let token = issued[0].clone();
        assert_eq!(store.authenticate(&token).expect("valid"), "dana");
        assert_eq!(
            say(AdminCommand::User(UserCommand::List)),
            "dana\t1 projects\n1 users"
        );
        assert_eq!(
            say(AdminCommand::Token(TokenCommand::Revoke {
                token: token.clone()
            })),
            "token revoked"
        );
        assert!(store.authenticate(&token).is_err());
        assert!(say(AdminCommand::Member(MemberCommand::Remove {
            user: "dana".into(),
            scope: "p9".into()
        }))
        .contains("no longer a member"));
        assert!(run(
            &store,
            &AdminCommand::Token(TokenCommand::Issue {
                user: "nobody".into(),
                ttl_days: None
            })
        )
        .is_err());
    }

    #[test]
    fn webhook_status_and_replay_say_where_delivery_stands() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_sample(dir.path().join("a.db")).expect("open");
        crate::demo::seed_demo(&store).expect("seed");
        let say = |c: WebhookCommand| run(&store, &AdminCommand::Webhook(c)).expect("command");
        assert!(say(WebhookCommand::Status)[0].starts_with("the webhook has not run yet"));
        assert!(say(WebhookCommand::Replay { from: 5 })[0].contains("after position 5"));
        let status = say(WebhookCommand::Status);
        let (_, end, _) = store
            .webhook_status(crate::webhooks::WEBHOOK_NAME)
            .expect("status");
        assert_eq!(
            status[0],
            format!("cursor 5 of {end}: {} positions behind", end - 5)
        );
        assert_eq!(status[3], "delivering: no instance yet");
    }

    #[test]
    fn services_are_added_listed_and_revoked_and_never_users() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_sample(dir.path().join("a.db")).expect("open");
        store.create_user("dana").expect("user");
        let add = |name: &str, scopes: &[&str], all: bool, read_only: bool| {
            run(
                &store,
                &AdminCommand::Service(ServiceCommand::Add {
                    name: name.into(),
                    scopes: scopes.iter().map(|s| s.to_string()).collect(),
                    all_scopes: all,
                    read_only,
                }),
            )
        };
        let erp = add("erp", &["p-harbor", "p-depot"], false, false).expect("erp");
        assert!(erp[1].contains("service erp added"), "{erp:?}");
        add("audit", &[], true, true).expect("audit");
        // Refused: reaching nothing, both kinds of reach, a taken name (a user's too), a bad name.
        assert!(add("none", &[], false, false).is_err());
        assert!(add("both", &["p-harbor"], true, false).is_err());
        assert!(add("erp", &["p-harbor"], false, false).is_err());
        assert!(add("dana", &["p-harbor"], false, false).is_err());
        assert!(add("bad\u{0}name", &["p-harbor"], false, false).is_err());
        assert_eq!(
            run(&store, &AdminCommand::Service(ServiceCommand::List))
                .expect("list")
                .join("\n"),
            "audit\tread-only\tall scopes\nerp\tread-write\tp-depot, p-harbor\n2 services"
        );
        let token = crate::token_hash::hash_token(&erp[0]);
        let service = store.service_holder(&token).expect("read").expect("erp");
        assert!(service.reaches("p-harbor") && !service.reaches("p-ridge"));
        // A service is not a user: its token is no device token, and it has no memberships.
        assert!(store.authenticate(&erp[0]).is_err());
        assert_eq!(store.users().expect("users").len(), 1);
        assert!(store.revoke_token(&erp[0]).expect("revoke"));
        assert_eq!(store.service_holder(&token).expect("read"), None);
    }
}
