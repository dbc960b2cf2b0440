//! Syncline's quickstart in Rust (docs/quickstart.md): two devices on the demo server, a typed
//! model, a live query, a conflict and its resolution. Start the demo first
//! (`cargo run -p syncline-cli -- demo`), then `cargo run -p syncline-quickstart`.
//! `./scripts/test` runs it against a server of its own (examples/quickstart/tests/demo.rs).

use std::collections::HashMap;
use std::error::Error;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use syncline_core::{
    Config, Connectivity, NetworkType, Query, Record, Resolution, SchemaFile, Syncline, Value,
};
use syncline_words::{BannerText, Lang};
use tokio_stream::StreamExt;

/// A task as the app sees it: the fields of `tasks` in schema/sample.toml it uses.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Task {
    id: String,
    project_id: String,
    title: String,
    done: Option<bool>,
}

/// Opens a device's client: its own store file, the app's schema, the server and a user's token.
fn open(folder: &Path, server: &str, token: &str) -> Result<Syncline, Box<dyn Error>> {
    // The app's entities, from the same file the server reads (docs/schema.md).
    let schema = SchemaFile::parse(include_str!("../../../schema/sample.toml"))?.device_schema()?;
    let path = folder.join(format!("{token}.db"));
    Ok(Syncline::open(&path, schema, Config::new(server, token))?)
}

/// The whole story, against the server at `server`.
async fn run(server: &str, folder: &Path) -> Result<(), Box<dyn Error>> {
    // 1. Alice's device: open, then sync (joining the sync the client starts by itself).
    let alice = open(folder, server, "demo-alice")?;
    let report = alice.sync_now("all").await?;
    let pulled: u64 = report.entities.iter().map(|e| e.pulled).sum();
    println!("1. alice synced: {pulled} records pulled");

    // 2. Typed access: the struct is checked against the `tasks` entity here, once.
    let tasks = alice.collection::<Task>("tasks")?;
    let harbor = Query::all(100).filter("project_id", Value::Text("p-harbor".into()));
    println!("2. Task fits the tasks entity");

    // 3. A live query: the page now, then after every change (local write or pulled page).
    let mut live = tasks.stream(&harbor)?;
    let first = live.next().await.ok_or("the live query ended")??;
    println!("3. alice sees {} tasks in p-harbor", first.len());

    // 4. Write: saved at once with its outbox entry, pushed by the next sync.
    // Keys are made on the device (any unique text; time-ordered ones index best).
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let id = format!("t-quickstart-{now}");
    let task = Task {
        id: id.clone(),
        project_id: "p-harbor".into(),
        title: "Inspect pump".into(),
        done: Some(false),
    };
    tasks.insert(&task)?;
    let after = live.next().await.ok_or("the live query ended")??;
    println!(
        "4. alice added a task; the live query now has {}",
        after.len()
    );
    alice.sync_now("all").await?;

    // 5. Bob's device syncs and reads the task, typed.
    let bob = open(folder, server, "demo-bob")?;
    bob.sync_now("all").await?;
    let bobs = bob.collection::<Task>("tasks")?;
    let seen = bobs.get(&id)?.ok_or("bob does not have the task")?;
    println!("5. bob sees {:?}", seen.title);

    // 6. Bob renames it with no network (his live stream closes, so alice's rename cannot reach
    //    him first); alice renames it too and syncs. Back online, bob's sync finds a conflict
    //    (tasks use the `manual` policy: overlapping edits wait for the user).
    bob.report_connectivity(Connectivity::offline());
    bob.update(
        "tasks",
        Record::new(&id).with("title", Value::Text("Inspect pump (north)".into())),
    )?;
    tasks.update(&Task {
        title: "Inspect pump 4".into(),
        ..task.clone()
    })?;
    alice.sync_now("all").await?;
    bob.report_connectivity(Connectivity::online(NetworkType::Wifi));
    bob.sync_now("all").await?;
    let conflict = bob
        .conflicts()?
        .into_iter()
        .find(|c| c.key == id)
        .ok_or("no conflict")?;
    let title = |side: &Option<HashMap<String, Value>>| {
        side.as_ref()
            .and_then(|r| r.get("title"))
            .map(Value::to_json)
            .unwrap_or_default()
    };
    println!(
        "6. bob has a conflict on {:?}: mine {}, theirs {}",
        conflict.fields,
        title(&conflict.local),
        title(&conflict.remote)
    );
    let merged = [(
        "title".to_string(),
        Value::Text("Inspect pump 4 (north)".into()),
    )];
    bob.resolve(
        conflict.id,
        Resolution::Merged {
            values: merged.into_iter().collect(),
        },
    )?;
    bob.sync_now("all").await?;

    // 7. Alice syncs; her live query delivers the merged title (waiting at most 10 s for it).
    alice.sync_now("all").await?;
    let merged_seen = async {
        while let Some(page) = live.next().await {
            if page?
                .iter()
                .any(|t| t.id == id && t.title == "Inspect pump 4 (north)")
            {
                return Ok::<_, Box<dyn Error>>(true);
            }
        }
        Ok(false)
    };
    if !tokio::time::timeout(Duration::from_secs(10), merged_seen)
        .await
        .unwrap_or(Ok(false))?
    {
        return Err("alice's live query never showed the merged title".into());
    }
    println!("7. alice's live query shows \"Inspect pump 4 (north)\"");
    let words = BannerText::new(Lang::En);
    println!(
        "   alice's banner: {}",
        words
            .title(&alice.banner())
            .unwrap_or("(hidden: all synced)".into())
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let server =
        std::env::var("SYNCLINE_SERVER_URL").unwrap_or_else(|_| "http://127.0.0.1:8787".into());
    let folder = std::env::temp_dir().join(format!("syncline-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&folder)?;
    let result = run(&server, &folder).await;
    std::fs::remove_dir_all(&folder)?;
    result
}
