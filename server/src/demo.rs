//! The demo data set: three users with fixed tokens, three projects, a dozen tasks and a few
//! comments of a field maintenance team. For trying the sample app and for tests.
//!
//! **Demo only.** The tokens `demo-alice`, `demo-bob` and `demo-carol` are public and never
//! expire; never seed a database that is reachable by anyone else.

use serde_json::{json, Map, Value as Json};

use crate::error::StoreError;
use crate::store::Store;

/// The demo users and their fixed, public tokens (demo only).
pub const DEMO_USERS: [(&str, &str); 3] = [
    ("alice", "demo-alice"),
    ("bob", "demo-bob"),
    ("carol", "demo-carol"),
];

/// Project shared by alice and bob.
pub const HARBOR: &str = "p-harbor";
/// Alice's own project.
pub const DEPOT: &str = "p-depot";
/// Carol's own project.
pub const RIDGE: &str = "p-ridge";

/// What [`seed_demo`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSeed {
    /// (user id, token) of each demo user.
    pub users: Vec<(String, String)>,
    /// How many records were created (0 when the demo data was already there).
    pub created_records: usize,
}

const DAY: i64 = 86_400_000;
/// 2026-01-05 08:00 UTC: the demo's "now".
const T0: i64 = 1_767_600_000_000;

fn obj(v: Json) -> Map<String, Json> {
    match v {
        Json::Object(m) => m,
        _ => Map::new(),
    }
}

fn projects() -> Vec<(&'static str, Json)> {
    vec![
        (
            HARBOR,
            json!({"name": "Harbor pump station retrofit", "description": "Replace the two main pumps and the control cabinet at the harbor station.", "archived": false, "created_at": T0 - 30 * DAY, "budget_cents": 18_500_000}),
        ),
        (
            DEPOT,
            json!({"name": "North depot inspection", "description": "Quarterly safety inspection of the north depot.", "archived": false, "created_at": T0 - 12 * DAY, "budget_cents": 1_200_000}),
        ),
        (
            RIDGE,
            json!({"name": "Ridge substation upgrade", "description": "New transformer bay and fencing at the ridge substation.", "archived": false, "created_at": T0 - 45 * DAY, "budget_cents": 42_000_000}),
        ),
    ]
}

fn tasks() -> Vec<(&'static str, Json)> {
    let task = |project: &str,
                title: &str,
                notes: Option<&str>,
                done: bool,
                priority: i64,
                due_days: i64,
                assignee: &str,
                hours: f64,
                tags: Json| {
        json!({
            "project_id": project, "title": title, "notes": notes, "done": done, "priority": priority,
            "due_at": T0 + due_days * DAY, "assignee": assignee, "estimate_hours": hours, "tags": tags,
            "updated_at": T0 - DAY,
        })
    };
    vec![
        (
            "t-harbor-1",
            task(
                HARBOR,
                "Isolate pump 1 and drain the volute",
                Some("Lock-out tag on breaker Q3; drain to the sump, not the harbor."),
                true,
                1,
                -3,
                "bob",
                3.0,
                json!(["safety", "pumps"]),
            ),
        ),
        (
            "t-harbor-2",
            task(
                HARBOR,
                "Inspect pump 2 impeller",
                Some("Photos of the leading edges, measure clearance."),
                false,
                2,
                1,
                "bob",
                2.5,
                json!(["pumps"]),
            ),
        ),
        (
            "t-harbor-3",
            task(
                HARBOR,
                "Order replacement check valves (DN200)",
                None,
                false,
                1,
                2,
                "alice",
                1.0,
                json!(["procurement"]),
            ),
        ),
        (
            "t-harbor-4",
            task(
                HARBOR,
                "Pressure-test the new discharge line",
                Some("16 bar for 30 minutes, record on form PT-2."),
                false,
                2,
                6,
                "bob",
                4.0,
                json!(["testing"]),
            ),
        ),
        (
            "t-harbor-5",
            task(
                HARBOR,
                "Update the cabinet wiring diagram",
                None,
                false,
                3,
                10,
                "alice",
                2.0,
                json!(["docs", "electrical"]),
            ),
        ),
        (
            "t-depot-1",
            task(
                DEPOT,
                "Check fire extinguishers, hall A",
                Some("Note the refill dates."),
                true,
                2,
                -1,
                "alice",
                1.5,
                json!(["safety"]),
            ),
        ),
        (
            "t-depot-2",
            task(
                DEPOT,
                "Inspect the forklift charging area",
                None,
                false,
                1,
                0,
                "alice",
                1.0,
                json!(["safety", "electrical"]),
            ),
        ),
        (
            "t-depot-3",
            task(
                DEPOT,
                "Replace the broken dock light",
                Some("LED floodlight, 50 W, spare in store room 2."),
                false,
                3,
                4,
                "alice",
                0.5,
                json!(["electrical"]),
            ),
        ),
        (
            "t-depot-4",
            task(
                DEPOT,
                "Photograph the roof drainage",
                None,
                false,
                4,
                8,
                "alice",
                1.0,
                json!([]),
            ),
        ),
        (
            "t-ridge-1",
            task(
                RIDGE,
                "Survey the fence line",
                Some("Mark every post that needs replacing."),
                true,
                2,
                -5,
                "carol",
                3.0,
                json!(["civil"]),
            ),
        ),
        (
            "t-ridge-2",
            task(
                RIDGE,
                "Confirm the transformer delivery slot",
                None,
                false,
                1,
                3,
                "carol",
                0.5,
                json!(["logistics"]),
            ),
        ),
        (
            "t-ridge-3",
            task(
                RIDGE,
                "Pour the transformer bay foundation",
                Some("Needs the concrete test results first."),
                false,
                2,
                14,
                "carol",
                16.0,
                json!(["civil", "concrete"]),
            ),
        ),
    ]
}

fn comments() -> Vec<(&'static str, Json)> {
    let comment = |project: &str, task: &str, author: &str, body: &str, minutes: i64| json!({"project_id": project, "task_id": task, "author": author, "body": body, "created_at": T0 - DAY + minutes * 60_000});
    vec![
        (
            "c-harbor-1",
            comment(
                HARBOR,
                "t-harbor-1",
                "bob",
                "Drained and locked out. Volute is clean.",
                30,
            ),
        ),
        (
            "c-harbor-2",
            comment(
                HARBOR,
                "t-harbor-2",
                "alice",
                "Bring the feeler gauges, the old set is in the van.",
                90,
            ),
        ),
        (
            "c-harbor-3",
            comment(
                HARBOR,
                "t-harbor-3",
                "alice",
                "Supplier confirms delivery on Thursday.",
                180,
            ),
        ),
        (
            "c-depot-1",
            comment(
                DEPOT,
                "t-depot-1",
                "alice",
                "Two extinguishers due for refill in March.",
                45,
            ),
        ),
        (
            "c-ridge-1",
            comment(
                RIDGE,
                "t-ridge-1",
                "carol",
                "14 posts to replace on the east side.",
                60,
            ),
        ),
    ]
}

/// Creates the demo users, tokens, memberships and records that are not there yet (idempotent:
/// existing records are left as they are) and returns the users with their tokens.
pub fn seed_demo(store: &Store) -> Result<DemoSeed, StoreError> {
    for (user, token) in DEMO_USERS {
        store.create_user(user)?;
        store.add_token(user, token, None)?;
    }
    let memberships = [
        ("alice", HARBOR),
        ("bob", HARBOR),
        ("alice", DEPOT),
        ("carol", RIDGE),
    ];
    for (user, project) in memberships {
        store.add_membership(user, project)?;
    }
    let mut created = 0;
    let sets = [
        ("projects", projects()),
        ("tasks", tasks()),
        ("comments", comments()),
    ];
    for (entity, records) in sets {
        for (key, fields) in records {
            if store.get_record(entity, key)?.is_none() {
                store.upsert_record(entity, key, &obj(fields))?;
                created += 1;
            }
        }
    }
    if created > 0 {
        log::info!("demo data: created {created} records");
    }
    Ok(DemoSeed {
        users: DEMO_USERS
            .iter()
            .map(|(u, t)| (u.to_string(), t.to_string()))
            .collect(),
        created_records: created,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeding_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open_sample(dir.path().join("d.db")).expect("open");
        let first = seed_demo(&s).expect("seed");
        assert_eq!(first.created_records, 3 + 12 + 5);
        let position = s.log_position().expect("pos");
        let again = seed_demo(&s).expect("seed again");
        assert_eq!(again.created_records, 0);
        assert_eq!(s.log_position().expect("pos"), position, "nothing changed");
        assert_eq!(s.authenticate("demo-bob").expect("token"), "bob");
        assert_eq!(
            s.memberships("alice").expect("m"),
            vec![DEPOT.to_string(), HARBOR.to_string()]
        );
        assert_eq!(s.count_records("tasks").expect("count"), 12);
    }
}
