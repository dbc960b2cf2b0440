//! An entity as push, pull and the admin writes see it: its declaration with the storage slots
//! of its fields in the `data` arrays, the checks of wire fields and keys, and the layouts read
//! (and extended for new fields) when the store opens. Storage slots are recorded per entity in
//! `layout`, so reordering or adding declared fields never misreads stored arrays.

use serde_json::{Map, Value as Json};
use syncline_protocol::{ScopeRule, ServerValue, SetOn, Value};

use crate::db::{Param, Tx};
use crate::error::StoreError;
use crate::schema::{EntityDef, ServerSchema};

/// Storage slots of an entity's fields in the `data` arrays.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// Slot of each declared field, by index in the declaration.
    pub slots: Vec<usize>,
    /// Length of a stored array (slots of undeclared, older fields included).
    pub width: usize,
}

/// An entity with its storage layout: what push, pull and admin ops work with.
#[derive(Clone, Copy)]
pub(crate) struct Ent<'a> {
    /// The declaration.
    pub def: &'a EntityDef,
    /// Where its fields are stored.
    pub layout: &'a Layout,
}

impl Ent<'_> {
    /// The entity's name.
    pub fn name(&self) -> &str {
        self.def.name()
    }

    /// An all-null data array.
    pub fn empty_data(&self) -> Vec<Json> {
        vec![Json::Null; self.layout.width]
    }

    /// The scope of a record with this key and data, if the data names one.
    pub fn scope_of(&self, key: &str, data: &[Json]) -> Option<String> {
        match (&self.def.scope, self.def.scope_field) {
            (ScopeRule::OwnKey, _) => Some(key.to_string()),
            (ScopeRule::Field(_), Some(i)) => data
                .get(self.layout.slots[i])
                .and_then(Json::as_str)
                .map(str::to_string),
            (ScopeRule::Field(_), None) => None,
        }
    }

    /// The declared fields of a data array, by name.
    pub fn fields_of(&self, data: &[Json]) -> Map<String, Json> {
        self.def
            .schema
            .fields
            .iter()
            .zip(&self.layout.slots)
            .map(|(f, &slot)| {
                (
                    f.name.clone(),
                    data.get(slot).cloned().unwrap_or(Json::Null),
                )
            })
            .collect()
    }

    /// Checks a map of wire fields (names known, not the key, values of the right type) and
    /// returns each as (slot, canonical value).
    pub fn check_fields(
        &self,
        fields: &Map<String, Json>,
    ) -> Result<Vec<(usize, Json)>, FieldProblem> {
        let mut out = Vec::with_capacity(fields.len());
        for (name, json) in fields {
            if *name == self.def.schema.key {
                return Err(FieldProblem::Unknown(format!(
                    "`{}` is the key of `{}`, not a field",
                    name,
                    self.name()
                )));
            }
            let Some(i) = self.def.field_index(name) else {
                return Err(FieldProblem::Unknown(format!(
                    "entity `{}` has no field `{}`",
                    self.name(),
                    name
                )));
            };
            let def = &self.def.schema.fields[i];
            let value = Value::from_json(self.name(), def, json)
                .map_err(|e| FieldProblem::Invalid(e.to_string()))?;
            out.push((self.layout.slots[i], value.to_json()));
        }
        Ok(out)
    }

    /// The first required field that has no value in a new record's `data`.
    pub fn missing_required(&self, data: &[Json]) -> Option<&str> {
        self.def
            .schema
            .fields
            .iter()
            .zip(&self.layout.slots)
            .find(|(f, &slot)| !f.nullable && data.get(slot).is_none_or(Json::is_null))
            .map(|(f, _)| f.name.as_str())
    }

    /// The values the server sets into a record being written (`creating`: the write creates
    /// it), as (slot, value): the user's id where a field says `"user"` (none when `user` is
    /// `None`, a server-side write), the server's time where it says `"now"`.
    pub fn server_values(
        &self,
        creating: bool,
        user: Option<&str>,
        now: i64,
    ) -> Vec<(usize, Json)> {
        self.def
            .server_set_fields()
            .filter(|(_, set)| creating || set.on == SetOn::Write)
            .filter_map(|(i, set)| {
                let value = match set.value {
                    ServerValue::User => Json::String(user?.to_string()),
                    ServerValue::Now => Json::from(now),
                };
                Some((self.layout.slots[i], value))
            })
            .collect()
    }
}

/// Why a set of wire fields was refused.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldProblem {
    /// Unknown field or the key field.
    Unknown(String),
    /// A value of the wrong type.
    Invalid(String),
}

/// Reads the storage slots of every served entity, giving new fields fresh slots.
pub(super) fn load_layouts(
    tx: &mut dyn Tx,
    schema: &ServerSchema,
) -> Result<Vec<Layout>, StoreError> {
    let mut layouts = Vec::with_capacity(schema.entities().len());
    for e in schema.entities() {
        let mut known: Vec<(String, usize)> = tx.query_all(
            "SELECT field, slot FROM layout WHERE entity = ?1",
            &[Param::Text(e.name())],
            |r| {
                let field = r.text(0)?.to_string();
                let slot = usize::try_from(r.int(1)?).map_err(|_| {
                    StoreError::Corrupt(format!("negative slot for {}.{field}", e.name()))
                })?;
                Ok((field, slot))
            },
        )?;
        let mut width = known.iter().map(|(_, s)| s + 1).max().unwrap_or(0);
        let mut slots = Vec::with_capacity(e.schema.fields.len());
        for f in &e.schema.fields {
            let slot = match known.iter().find(|(name, _)| *name == f.name) {
                Some((_, s)) => *s,
                None => {
                    let s = width;
                    width += 1;
                    tx.execute(
                        "INSERT INTO layout (entity, field, slot) VALUES (?1, ?2, ?3)",
                        &[
                            Param::Text(e.name()),
                            Param::Text(&f.name),
                            Param::Int(s as i64),
                        ],
                    )?;
                    known.push((f.name.clone(), s));
                    s
                }
            };
            slots.push(slot);
        }
        layouts.push(Layout { slots, width });
    }
    Ok(layouts)
}

/// Checks a record key against the key rule shared with the devices
/// ([`syncline_protocol::key_problem`]).
pub(crate) fn check_key(key: &str) -> Result<(), StoreError> {
    match syncline_protocol::key_problem(key) {
        Some(problem) => Err(StoreError::Invalid(problem)),
        None => Ok(()),
    }
}
