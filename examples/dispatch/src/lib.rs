//! Syncline's office side, worked through (README, "Connecting your backend"; docs/backend.md): a dispatcher
//! ([`office`]) that provisions a field team and hands out tasks over the backend API, follows
//! the change feed and answers a task ticked done; and the write rules it owns ([`rules`]),
//! which refuse a due date in the past. [`schema`] is the server's schema with those rules.

pub mod office;
pub mod rules;

/// The sample schema (`schema/sample.toml`) with the office's write rules on tasks at
/// `rules_url`: what the server is started with (`--schema`). Fail-closed: while the rules
/// cannot be asked, devices' task changes wait on the devices rather than skip the rules.
pub fn schema(rules_url: &str) -> String {
    format!(
        "{}\n# The office's write rules (examples/dispatch): a due date may not lie in the past.\n\
         [entities.tasks.validate]\nurl = \"{rules_url}\"\ntimeout_ms = 2000\non_failure = \"fail_closed\"\n",
        syncline_protocol::sample::SCHEMA_TOML
    )
}
