//! The declared schema recorded in the database, and the check of a schema file against it at
//! every start, so that a change the stored data cannot follow stops the server with a message
//! naming the entity or field, instead of serving misread records (`docs/schema.md`, "Changing
//! the schema"). Loading the file itself is `ServerSchema::load` (`schema.rs`).
//!
//! What is compared is what stored data depends on: each entity's scope rule (records are stored
//! in their projects by it), each field's type (stored values have it, and so do devices' local
//! columns) and whether it is required (records stored while it was optional may lack it). The
//! declarations are kept in `declared_entities` and `declared_fields`, never deleted: a name,
//! once used, keeps its type, because its values stay in the records while the file leaves it
//! out.

use std::collections::{HashMap, HashSet};

use syncline_protocol::{FieldType, ScopeRule};

use crate::db::{Next, Param, Tx};
use crate::error::StoreError;
use crate::schema::ServerSchema;

use super::entity::Layout;
use super::json_array::split_array;
use super::records::live_records;

fn describe_scope(scope_field: Option<&str>) -> String {
    match scope_field {
        None => "its own key".to_string(),
        Some(f) => format!("field `{f}`"),
    }
}

/// Live records of `entity` with no value (null, or an array too short) in storage slot `slot`.
/// One scan of the entity, made only when a field becomes required.
fn records_lacking(tx: &mut dyn Tx, entity: &str, slot: usize) -> Result<u64, StoreError> {
    let mut lacking = 0u64;
    let mut ranges = Vec::new();
    tx.query(
        "SELECT key, data FROM records WHERE entity = ?1 AND deleted = FALSE",
        &[Param::Text(entity)],
        &mut |r| {
            let data = r.text(1)?.as_bytes();
            if split_array(data, &mut ranges).is_none() {
                return Err(StoreError::Corrupt(format!(
                    "record `{}` of `{entity}` has malformed data",
                    r.text(0)?
                )));
            }
            let value = ranges.get(slot).and_then(|range| data.get(range.clone()));
            if value.is_none_or(|v| v == b"null") {
                lacking += 1;
            }
            Ok(Next::Continue)
        },
    )?;
    Ok(lacking)
}

/// Checks `schema` against the declarations recorded by earlier starts, then records it. Runs in
/// the store's opening transaction, after the layouts are loaded (`layouts[i]` belongs to
/// `schema.entities()[i]`). A database from a server older than this check has no declarations
/// yet: its entities and fields are taken as declared, and only the required fields are checked
/// against the stored records.
pub(super) fn check_and_record(
    tx: &mut dyn Tx,
    schema: &ServerSchema,
    layouts: &[Layout],
) -> Result<(), StoreError> {
    let entities: HashMap<String, Option<String>> = tx
        .query_all(
            "SELECT entity, scope_field FROM declared_entities",
            &[],
            |r| Ok((r.text(0)?.to_string(), r.opt_text(1)?.map(str::to_string))),
        )?
        .into_iter()
        .collect();
    let fields: HashMap<(String, String), (FieldType, bool)> = tx
        .query_all(
            "SELECT entity, field, field_type, required FROM declared_fields",
            &[],
            |r| {
                let (entity, field) = (r.text(0)?.to_string(), r.text(1)?.to_string());
                let name = r.text(2)?;
                let field_type = FieldType::from_name(name).ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "the recorded type of `{entity}.{field}` is `{name}`, not a field type"
                    ))
                })?;
                Ok(((entity, field), (field_type, r.bool(3)?)))
            },
        )?
        .into_iter()
        .collect();

    let mut problems = Vec::new();
    for (e, layout) in schema.entities().iter().zip(layouts) {
        let name = e.name();
        let scope_field = match &e.scope {
            ScopeRule::OwnKey => None,
            ScopeRule::Field(f) => Some(f.as_str()),
        };
        match entities.get(name) {
            Some(old) if old.as_deref() != scope_field => problems.push(format!(
                "entity `{name}`: its scope rule changed from {} to {}, but its records are \
                 stored in the projects the old rule gave them; keep the old rule, or declare \
                 an entity with a new name",
                describe_scope(old.as_deref()),
                describe_scope(scope_field)
            )),
            Some(_) => {}
            None => log::info!("schema: recording entity `{name}`"),
        }
        for (f, &slot) in e.schema.fields.iter().zip(&layout.slots) {
            let old = fields.get(&(name.to_string(), f.name.clone()));
            match old {
                Some((t, _)) if *t != f.field_type => problems.push(format!(
                    "field `{name}.{}`: its type changed from {} to {}, but stored values \
                     and devices keep the old type; declare a field with a new name instead",
                    f.name,
                    t.name(),
                    f.field_type.name()
                )),
                Some(_) => {}
                None if entities.contains_key(name) => {
                    log::info!("schema: recording new field `{name}.{}`", f.name)
                }
                None => {}
            }
            let was_required = old.is_some_and(|(_, required)| *required);
            if !f.nullable && !was_required {
                let lacking = records_lacking(tx, name, slot)?;
                if lacking > 0 {
                    problems.push(format!(
                        "field `{name}.{}`: {} required, but {lacking} stored record(s) have no \
                         value for it; give them one (server-side writes) before declaring it \
                         required, or keep it optional",
                        f.name,
                        match (old, entities.contains_key(name)) {
                            (Some(_), _) => "is now",
                            (None, true) => "is new and",
                            // A new entity, or the first start with these checks.
                            (None, false) => "is",
                        },
                    ));
                }
            }
        }
    }
    let declared: HashSet<&str> = schema.entities().iter().map(|e| e.name()).collect();
    let mut left_out: Vec<&String> = entities
        .keys()
        .filter(|n| !declared.contains(n.as_str()))
        .collect();
    left_out.sort();
    for name in left_out {
        let live = live_records(tx, name)?;
        if live > 0 {
            problems.push(format!(
                "entity `{name}`: left out of the schema, but it has {live} stored record(s); \
                 declare it again (its records are kept), or delete its records first"
            ));
        }
    }
    if !problems.is_empty() {
        return Err(StoreError::IncompatibleSchema(problems));
    }

    for e in schema.entities() {
        let scope_field = match &e.scope {
            ScopeRule::OwnKey => None,
            ScopeRule::Field(f) => Some(f.as_str()),
        };
        tx.execute(
            "INSERT INTO declared_entities (entity, scope_field) VALUES (?1, ?2)
             ON CONFLICT (entity) DO UPDATE SET scope_field = excluded.scope_field",
            &[Param::Text(e.name()), Param::OptText(scope_field)],
        )?;
        for f in &e.schema.fields {
            tx.execute(
                "INSERT INTO declared_fields (entity, field, field_type, required)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (entity, field)
                 DO UPDATE SET field_type = excluded.field_type, required = excluded.required",
                &[
                    Param::Text(e.name()),
                    Param::Text(&f.name),
                    Param::Text(f.field_type.name()),
                    Param::Bool(!f.nullable),
                ],
            )?;
        }
    }
    // A field the file leaves out keeps its recorded type, but as optional: records written
    // while it is left out lack it, so declaring it required again checks them.
    let mut left_out: Vec<&(String, String)> = fields
        .keys()
        .filter(|(entity, field)| {
            schema
                .entity(entity)
                .and_then(|e| e.field_index(field))
                .is_none()
        })
        .collect();
    left_out.sort();
    for (entity, field) in left_out {
        if declared.contains(entity.as_str()) {
            log::warn!(
                "schema: field `{entity}.{field}` is no longer declared; its stored values are \
                 kept, unseen, and devices that still ask for it get unknown_field"
            );
        }
        tx.execute(
            "UPDATE declared_fields SET required = FALSE WHERE entity = ?1 AND field = ?2",
            &[Param::Text(entity), Param::Text(field)],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::db::Param;
    use crate::error::StoreError;
    use crate::testing::ScratchDb;

    fn forget_declarations(store: &crate::Store) {
        store
            .with_writer(|tx| {
                tx.execute("DELETE FROM declared_fields", &[])?;
                tx.execute("DELETE FROM declared_entities", &[])?;
                Ok::<_, StoreError>(())
            })
            .expect("forget");
    }

    fn declared_fields(store: &crate::Store) -> i64 {
        store
            .with_reader(|tx| {
                tx.query_opt("SELECT COUNT(*) FROM declared_fields", &[], |r| r.int(0))
            })
            .expect("count")
            .unwrap_or(0)
    }

    /// A database written before the declared schema was recorded (migration 2) has records but
    /// no declarations: the file's are taken, once its required fields hold for the records.
    #[test]
    fn a_database_from_before_the_checks_is_adopted() {
        let db = ScratchDb::new();
        let store = db.open_sample().expect("open");
        crate::seed_demo(&store).expect("demo");
        assert_eq!(declared_fields(&store), 22);
        forget_declarations(&store);
        assert_eq!(declared_fields(&store), 0);
        drop(store);
        let store = db.open_sample().expect("adopted");
        assert_eq!(declared_fields(&store), 22, "recorded again");

        // A record that lacks a required value stops the adoption.
        forget_declarations(&store);
        store
            .with_writer(|tx| {
                tx.execute(
                    "UPDATE records SET data = ?1 WHERE entity = ?2 AND key = ?3",
                    &[
                        Param::Text("[\"p-harbor\"]"),
                        Param::Text("tasks"),
                        Param::Text("t-harbor-1"),
                    ],
                )
            })
            .expect("damage");
        drop(store);
        match db.open_sample() {
            Err(StoreError::IncompatibleSchema(problems)) => assert_eq!(
                problems,
                vec![
                    "field `tasks.title`: is required, but 1 stored record(s) have no value for \
                     it; give them one (server-side writes) before declaring it required, or \
                     keep it optional"
                        .to_string()
                ]
            ),
            other => panic!("{other:?}"),
        }
    }
}
