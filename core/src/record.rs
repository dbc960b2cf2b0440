//! What the app reads and writes: records, queries of one entity and their pages, and the
//! conversions between typed values and their wire (JSON) form.

use std::collections::{BTreeMap, HashMap};

use syncline_protocol::{EntitySchema, Value, WireFields};

use crate::error::{Error, Result};

/// A record as the app sees it: its key, the server version it is based on, and its fields.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Record {
    /// The primary key (text; made on the device, so records can be created offline).
    pub key: String,
    /// The server version this local copy is based on; `None` until the server has accepted it.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub version: Option<i64>,
    /// Field values by name (only the entity's declared fields; unset fields are absent).
    pub values: HashMap<String, Value>,
    /// How the record stands with the server, on a record read from the store (`None` on one
    /// the app builds): a list marks unsynced rows without another query.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub state: Option<RecordState>,
}

/// How a local record stands with the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum RecordState {
    /// The server has it as it is here.
    Synced,
    /// It has mutations waiting to be pushed.
    Pending,
    /// A conflict about it waits in the inbox for the user.
    InConflict,
    /// A mutation of it was quarantined and waits for the user.
    Quarantined,
}

impl Record {
    /// A record with no fields set.
    pub fn new(key: impl Into<String>) -> Self {
        Record {
            key: key.into(),
            version: None,
            values: HashMap::new(),
            state: None,
        }
    }

    /// Sets a field (builder style).
    pub fn with(mut self, field: &str, value: Value) -> Self {
        self.values.insert(field.to_string(), value);
        self
    }

    /// Sets every field of `values` (builder style).
    pub fn with_values(mut self, values: impl IntoIterator<Item = (String, Value)>) -> Self {
        self.values.extend(values);
        self
    }

    /// The value of `field`: `None` when the record does not set it (a field the entity does
    /// not declare, or one left out of an insert), `Some(&Value::Null)` when it is set to null.
    ///
    /// ```
    /// use syncline_core::{Record, Value};
    ///
    /// let task = Record::new("t-1").with("title", Value::Text("Fix the pump".into()));
    /// assert_eq!(task.get("title"), Some(&Value::Text("Fix the pump".into())));
    /// assert_eq!(task.get("due_at"), None);
    /// ```
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.values.get(field)
    }

    /// The value of `field`, null when the record does not set it: how the store compares a
    /// stored row with a change (an unset field and a null one mean the same there).
    pub(crate) fn get_or_null(&self, field: &str) -> &Value {
        self.get(field).unwrap_or(&Value::Null)
    }

    /// The text in `field`; `None` when it is unset, null or not text.
    pub fn text(&self, field: &str) -> Option<&str> {
        match self.get(field)? {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The boolean in `field`; `None` when it is unset, null or not a boolean.
    pub fn boolean(&self, field: &str) -> Option<bool> {
        match self.get(field)? {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer in `field`; `None` when it is unset, null or not an integer.
    pub fn integer(&self, field: &str) -> Option<i64> {
        match self.get(field)? {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The number in `field` (a real, or an integer as a real); `None` when it is unset, null
    /// or not a number.
    pub fn real(&self, field: &str) -> Option<f64> {
        match self.get(field)? {
            Value::Real(r) => Some(*r),
            Value::Integer(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The time in `field`, in milliseconds since the Unix epoch (UTC); `None` when it is unset,
    /// null or not a timestamp.
    pub fn timestamp(&self, field: &str) -> Option<i64> {
        match self.get(field)? {
            Value::Timestamp(t) => Some(*t),
            _ => None,
        }
    }
}

/// Sort direction of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum SortOrder {
    /// Smallest first.
    Ascending,
    /// Largest first.
    Descending,
}

/// A field equality filter of a [`Query`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Filter {
    /// The field (or the key field).
    pub field: String,
    /// The value it must have; `Null` matches null.
    pub value: Value,
}

/// A sort key of a [`Query`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Sort {
    /// The field (or the key field).
    pub field: String,
    /// Smallest or largest first.
    pub order: SortOrder,
}

/// A query of one entity: field equality filters, an order and a page window. Built with
/// [`Query::all`], then [`Query::filter`] (all filters must hold) and [`Query::order`]; the same
/// value goes to [`Syncline::query`](crate::Syncline::query) for one page and to
/// [`Syncline::watch`](crate::Syncline::watch) to follow it. Only equality filters exist; a
/// field declared `indexed` in the schema is filtered by index.
///
/// ```
/// use syncline_core::{Query, SortOrder, Value};
///
/// // Open tasks of one project, newest due date first, 50 to a page.
/// let open = Query::all(50)
///     .filter("project_id", Value::Text("p-harbor".into()))
///     .filter("done", Value::Boolean(false))
///     .order("due_at", SortOrder::Descending);
/// assert_eq!(open.filters.len(), 2);
///
/// // The next page: the previous page's `next_offset`, while it is `Some`.
/// let next = Query { offset: 50, ..open };
/// assert_eq!(next.limit, 50);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Query {
    /// Records must have all these values.
    pub filters: Vec<Filter>,
    /// Sort by these fields, in turn; the key breaks ties so pages are stable.
    pub sort: Vec<Sort>,
    /// Most records in the page.
    pub limit: u32,
    /// Records to skip (from a previous page's `next_offset`).
    pub offset: u64,
}

impl Query {
    /// The first `limit` records, in key order.
    pub fn all(limit: u32) -> Self {
        Query {
            filters: Vec::new(),
            sort: Vec::new(),
            limit,
            offset: 0,
        }
    }

    /// Adds an equality filter (builder style).
    pub fn filter(mut self, field: &str, value: Value) -> Self {
        self.filters.push(Filter {
            field: field.to_string(),
            value,
        });
        self
    }

    /// Adds a sort field (builder style).
    pub fn order(mut self, field: &str, order: SortOrder) -> Self {
        self.sort.push(Sort {
            field: field.to_string(),
            order,
        });
        self
    }
}

/// One page of query results.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Page {
    /// At most `limit` records, in the query's order.
    pub records: Vec<Record>,
    /// Offset of the next page, if there may be one.
    pub next_offset: Option<u64>,
}

/// How many mutations and conflicts wait, and why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Mutations waiting to be pushed.
    pub pending: u64,
    /// Mutations the server refused, waiting in quarantine for the user.
    pub quarantined: u64,
    /// Conflicts in the inbox, waiting for the user.
    pub conflicts: u64,
    /// The store's commit number the counts are at least as new as: counts read by two threads
    /// can be published out of order, and older ones must not overwrite newer ones.
    pub commit: u64,
}

/// Checks every value the app gives against its field's declaration (unknown fields and fields
/// clients may not write are refused) and returns them in the fields' own types.
pub(crate) fn coerce_all(
    e: &EntitySchema,
    values: impl IntoIterator<Item = (String, Value)>,
) -> Result<BTreeMap<String, Value>> {
    values
        .into_iter()
        .map(|(name, v)| {
            let def = e.field_def(&name)?;
            // Refused here, before anything is saved: the server would reject the mutation
            // (`read_only_field`) and it would only come back quarantined.
            if !def.writable {
                return Err(Error::ReadOnlyField {
                    entity: e.name.clone(),
                    field: name,
                });
            }
            Ok((name, v.coerce(&e.name, def)?))
        })
        .collect()
}

/// Only the fields `e` declares (a server sends every field of its own; an app update may have
/// removed a field since something was stored).
pub(crate) fn declared(e: &EntitySchema, fields: &WireFields) -> WireFields {
    fields
        .iter()
        .filter(|(name, _)| e.field_def(name).is_ok())
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

/// Converts wire values into typed values, checking every name and type against the entity.
pub(crate) fn fields_from_json(
    e: &EntitySchema,
    json: &WireFields,
) -> Result<BTreeMap<String, Value>> {
    json.iter()
        .map(|(name, v)| {
            let def = e.field_def(name)?;
            Ok((name.clone(), Value::from_json(&e.name, def, v)?))
        })
        .collect()
}

/// The wire form of typed values.
pub(crate) fn fields_to_json<'a>(
    values: impl IntoIterator<Item = (&'a String, &'a Value)>,
) -> WireFields {
    values
        .into_iter()
        .map(|(k, v)| (k.clone(), v.to_json()))
        .collect()
}

/// The values `names` have in `record`, in wire form (null when unset): what an edit changes
/// them from.
pub(crate) fn values_of<'a>(
    record: &Record,
    names: impl Iterator<Item = &'a String>,
) -> WireFields {
    names
        .map(|n| (n.clone(), record.get_or_null(n).to_json()))
        .collect()
}
