//! The one place entity-table SQL is written, and the conversions between field values and
//! SQLite. Table and column names come only from a validated [`EntitySchema`] (quoted); values
//! are always bound as parameters. Imports nothing else from the store.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{Connection, ToSql};
use syncline_protocol::{AttachmentRef, EntitySchema, FieldDef, FieldType, Value};

use crate::error::{Error, Result};
use crate::record::{Record, SortOrder};
use crate::shared::lock;

/// Longest record key accepted, in bytes: the protocol's. Pulled keys are checked for their
/// length only: what the server sends, it has stored (one stored before the key rule forbade
/// control characters must not block every later pull); local writes meet the whole rule.
pub(crate) const MAX_KEY_LEN: usize = syncline_protocol::MAX_KEY_LEN;

/// A field value bound as a SQLite parameter.
pub(crate) struct Param<'a>(pub &'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Value::Null => ToSqlOutput::Owned(SqlValue::Null),
            Value::Text(s) | Value::Json(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Integer(i) | Value::Timestamp(i) => ToSqlOutput::Owned(SqlValue::Integer(*i)),
            Value::Real(f) => ToSqlOutput::Owned(SqlValue::Real(*f)),
            Value::Boolean(b) => ToSqlOutput::Owned(SqlValue::Integer(i64::from(*b))),
            Value::Attachment(r) => ToSqlOutput::Owned(SqlValue::Text(r.to_json().to_string())),
        })
    }
}

/// Binds a list of values as a statement's parameters.
pub(crate) fn params(values: &[Value]) -> impl rusqlite::Params + '_ {
    rusqlite::params_from_iter(values.iter().map(Param))
}

/// One parameter of a record row: its key, its version or a field value.
enum RowParam<'a> {
    Key(&'a str),
    Version(i64),
    Field(Param<'a>),
}

impl ToSql for RowParam<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            RowParam::Key(k) => Ok(ToSqlOutput::Borrowed(ValueRef::Text(k.as_bytes()))),
            RowParam::Version(v) => Ok(ToSqlOutput::Owned(SqlValue::Integer(*v))),
            RowParam::Field(p) => p.to_sql(),
        }
    }
}

/// Binds a record's key, version and field values (the table's column order) as a statement's
/// parameters, without copying them into one list first (a pulled page's rows are bound so).
pub(crate) fn row_params<'a>(
    key: &'a str,
    version: i64,
    values: &'a [Value],
) -> impl rusqlite::Params + 'a {
    let head = [RowParam::Key(key), RowParam::Version(version)];
    rusqlite::params_from_iter(
        head.into_iter()
            .chain(values.iter().map(|v| RowParam::Field(Param(v)))),
    )
}

/// Reads a stored column back into the field's type; anything else is a corrupt store.
pub(crate) fn from_sql(field: &FieldDef, raw: ValueRef<'_>) -> Result<Value> {
    Ok(match (raw, field.field_type) {
        (ValueRef::Null, _) => Value::Null,
        (ValueRef::Text(t), FieldType::Text) => Value::Text(utf8(t)?),
        (ValueRef::Text(t), FieldType::Json) => Value::Json(utf8(t)?),
        (ValueRef::Text(t), FieldType::Attachment) => serde_json::from_slice(t)
            .ok()
            .and_then(|json| AttachmentRef::from_json(&json))
            .map(Value::Attachment)
            .ok_or_else(|| {
                Error::Corrupt(format!("column `{}` holds a broken attachment", field.name))
            })?,
        (ValueRef::Integer(i), FieldType::Integer) => Value::Integer(i),
        (ValueRef::Integer(i), FieldType::Timestamp) => Value::Timestamp(i),
        (ValueRef::Integer(i), FieldType::Boolean) => Value::Boolean(i != 0),
        (ValueRef::Real(f), FieldType::Real) => Value::Real(f),
        (ValueRef::Integer(i), FieldType::Real) => Value::Real(i as f64),
        _ => {
            return Err(Error::Corrupt(format!(
                "column `{}` holds a value that is not {}",
                field.name,
                field.field_type.name()
            )))
        }
    })
}

fn utf8(bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| Error::Corrupt("text column is not UTF-8".into()))
}

/// How an insert treats a row that exists already.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnExisting {
    /// Fail (a local insert of a key in use).
    Fail,
    /// Take the server's row unless the local one is at a newer version (a pulled page).
    KeepNewer,
    /// Replace it whole (a conflict settled one way or the other).
    Replace,
}

/// The SQL of one entity's table. Column order everywhere: key, `_version`, then the declared
/// fields in declaration order ([`EntitySql::row`] builds values in that order).
pub(crate) struct EntitySql<'a> {
    e: &'a EntitySchema,
}

impl<'a> EntitySql<'a> {
    /// The SQL of `e`'s table.
    pub(crate) fn of(e: &'a EntitySchema) -> Self {
        EntitySql { e }
    }

    /// The table's quoted name.
    pub(crate) fn table(&self) -> String {
        format!("\"e_{}\"", self.e.name)
    }

    fn columns(&self) -> Vec<String> {
        let mut cols = vec![column(&self.e.key), "_version".to_string()];
        cols.extend(self.e.fields.iter().map(|f| column(&f.name)));
        cols
    }

    /// How many columns a `SELECT` of a record reads (key, version, every field).
    pub(crate) fn column_count(&self) -> usize {
        2 + self.e.fields.len()
    }

    /// `SELECT` of every column, followed by `tail` (a `WHERE`).
    fn select(&self, tail: &str) -> String {
        format!(
            "SELECT {} FROM {} {tail}",
            self.columns().join(", "),
            self.table()
        )
    }

    /// `SELECT` of one record by key (`?1`).
    pub(crate) fn select_by_key(&self) -> String {
        self.select(&format!("WHERE {} = ?1", column(&self.e.key)))
    }

    /// `SELECT` of one page: records whose `filters` fields equal a parameter each (or are null,
    /// for a `true`), in `sort` order and then by key, then `LIMIT ?` and `OFFSET ?`. The names
    /// must be the entity's (the caller checks them against the schema).
    pub(crate) fn select_page(
        &self,
        filters: &[(&str, bool)],
        sort: &[(&str, SortOrder)],
    ) -> String {
        let conditions: Vec<String> = filters
            .iter()
            .map(|(name, is_null)| {
                let test = if *is_null { "IS NULL" } else { "= ?" };
                format!("{} {test}", column(name))
            })
            .collect();
        let mut order: Vec<String> = sort
            .iter()
            .map(|(name, order)| {
                let dir = match order {
                    SortOrder::Ascending => "ASC",
                    SortOrder::Descending => "DESC",
                };
                format!("{} {dir}", column(name))
            })
            .collect();
        order.push(format!("{} ASC", column(&self.e.key)));
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        self.select(&format!(
            "{filter} ORDER BY {} LIMIT ? OFFSET ?",
            order.join(", ")
        ))
    }

    /// `CREATE TABLE` of the entity (key, version, every field), if it does not exist.
    pub(crate) fn create_table(&self) -> String {
        let mut cols = vec![
            format!("{} TEXT PRIMARY KEY NOT NULL", column(&self.e.key)),
            "_version INTEGER".to_string(),
        ];
        cols.extend(
            self.e
                .fields
                .iter()
                .map(|f| format!("{} {}", column(&f.name), f.field_type.sql_type())),
        );
        format!(
            "CREATE TABLE IF NOT EXISTS {} ({})",
            self.table(),
            cols.join(", ")
        )
    }

    /// The table's columns as SQLite has them: `name` and `type` rows.
    pub(crate) fn columns_stored(&self) -> String {
        format!(
            "SELECT name, type FROM pragma_table_info('e_{}')",
            self.e.name
        )
    }

    /// `ALTER TABLE … ADD COLUMN` for a field added since the table was made.
    pub(crate) fn add_column(&self, f: &FieldDef) -> String {
        format!(
            "ALTER TABLE {} ADD COLUMN {} {}",
            self.table(),
            column(&f.name),
            f.field_type.sql_type()
        )
    }

    /// The index of a field the app queries by, if it does not exist.
    pub(crate) fn create_index(&self, f: &FieldDef) -> String {
        format!(
            "CREATE INDEX IF NOT EXISTS \"i_{}_{}\" ON {} ({})",
            self.e.name,
            f.name,
            self.table(),
            column(&f.name)
        )
    }

    /// `INSERT` of a whole row (see [`EntitySql::row`]).
    pub(crate) fn insert(&self, on_existing: OnExisting) -> String {
        let cols = self.columns();
        let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
        let verb = match on_existing {
            OnExisting::Replace => "INSERT OR REPLACE",
            OnExisting::Fail | OnExisting::KeepNewer => "INSERT",
        };
        let mut sql = format!(
            "{verb} INTO {} ({}) VALUES ({})",
            self.table(),
            cols.join(", "),
            marks.join(", ")
        );
        if on_existing == OnExisting::KeepNewer {
            let sets: Vec<String> = cols[1..]
                .iter()
                .map(|c| format!("{c} = excluded.{c}"))
                .collect();
            sql.push_str(&format!(
                " ON CONFLICT ({}) DO UPDATE SET {} WHERE excluded._version >= COALESCE({}._version, 0)",
                column(&self.e.key),
                sets.join(", "),
                self.table()
            ));
        }
        sql
    }

    /// `UPDATE` of the named fields of one record: key `?1`, the fields' values from `?2` on.
    pub(crate) fn update<'n>(&self, names: impl Iterator<Item = &'n String>) -> String {
        let sets: Vec<String> = names
            .enumerate()
            .map(|(i, name)| format!("{} = ?{}", column(name), i + 2))
            .collect();
        format!(
            "UPDATE {} SET {} WHERE {} = ?1",
            self.table(),
            sets.join(", "),
            column(&self.e.key)
        )
    }

    /// `UPDATE` of a record's version (`?2`) by key (`?1`), never to an older one.
    pub(crate) fn raise_version(&self) -> String {
        format!(
            "UPDATE {} SET _version = ?2 WHERE {} = ?1 AND COALESCE(_version, 0) < ?2",
            self.table(),
            column(&self.e.key)
        )
    }

    /// `DELETE` of one record by key (`?1`).
    pub(crate) fn delete(&self) -> String {
        format!(
            "DELETE FROM {} WHERE {} = ?1",
            self.table(),
            column(&self.e.key)
        )
    }

    /// A whole row's values in column order: key, version, then every field (null when unset).
    pub(crate) fn row(
        &self,
        key: &str,
        version: Option<i64>,
        values: &BTreeMap<String, Value>,
    ) -> Vec<Value> {
        let mut row = Vec::with_capacity(self.e.fields.len() + 2);
        row.push(Value::Text(key.to_string()));
        row.push(version.map_or(Value::Null, Value::Integer));
        row.extend(
            self.e
                .fields
                .iter()
                .map(|f| values.get(&f.name).cloned().unwrap_or(Value::Null)),
        );
        row
    }

    /// Reads a row selected by [`EntitySql::select`].
    pub(crate) fn record(&self, row: &rusqlite::Row<'_>) -> Result<Record> {
        let mut record = Record::new(row.get::<_, String>(0)?);
        record.version = row.get(1)?;
        // Sized once: growing a map rehashes every field already in it.
        record.values.reserve(self.e.fields.len());
        for (i, def) in self.e.fields.iter().enumerate() {
            let v = from_sql(def, row.get_ref(i + 2)?)?;
            if v != Value::Null {
                record.values.insert(def.name.clone(), v);
            }
        }
        Ok(record)
    }
}

/// One entity's write-path SQL, built once when the store opens: the text of a cached statement
/// is its key in rusqlite's statement cache, and building it with `format!` on every write cost
/// ~23,000 instructions of a ~200,000-instruction insert (callgrind, `docs/benchmarks.md`).
pub(crate) struct EntityStatements {
    insert: String,
    select_by_key: String,
    delete: String,
    /// `"column" = ?n` of each field, in declaration order, for building updates.
    set_columns: Vec<String>,
    /// `UPDATE` texts by the set of fields they change (bit `i`: the `i`-th declared field), made
    /// the first time that set is written: an app changes few distinct sets of fields.
    updates: Mutex<HashMap<u64, Arc<str>>>,
    update_head: String,
    update_tail: String,
}

impl EntityStatements {
    /// The statements of `e`'s table.
    pub(crate) fn of(e: &EntitySchema) -> Self {
        let sql = EntitySql::of(e);
        EntityStatements {
            insert: sql.insert(OnExisting::Fail),
            select_by_key: sql.select_by_key(),
            delete: sql.delete(),
            set_columns: e.fields.iter().map(|f| column(&f.name)).collect(),
            updates: Mutex::new(HashMap::new()),
            update_head: format!("UPDATE {} SET ", sql.table()),
            update_tail: format!(" WHERE {} = ?1", column(&e.key)),
        }
    }

    /// `UPDATE` of the fields whose declared positions are in `mask` (bit `i`: field `i`): key
    /// `?1`, then the fields' values from `?2` on, in declaration order.
    fn update(&self, mask: u64) -> Arc<str> {
        let mut updates = lock(&self.updates);
        Arc::clone(updates.entry(mask).or_insert_with(|| {
            let sets: Vec<String> = self
                .set_columns
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .enumerate()
                .map(|(n, (_, col))| format!("{col} = ?{}", n + 2))
                .collect();
            format!(
                "{}{}{}",
                self.update_head,
                sets.join(", "),
                self.update_tail
            )
            .into()
        }))
    }
}

/// The record with this key, if there is one (the statement built at open).
pub(crate) fn read_record_with(
    conn: &Connection,
    e: &EntitySchema,
    sql: &EntityStatements,
    key: &str,
) -> Result<Option<Record>> {
    let mut stmt = conn.prepare_cached(&sql.select_by_key)?;
    let mut rows = stmt.query([key])?;
    match rows.next()? {
        Some(row) => Ok(Some(EntitySql::of(e).record(row)?)),
        None => Ok(None),
    }
}

/// The record with this key, or `NotFound` (the statement built at open).
pub(crate) fn existing_with(
    conn: &Connection,
    e: &EntitySchema,
    sql: &EntityStatements,
    key: &str,
) -> Result<Record> {
    read_record_with(conn, e, sql, key)?.ok_or_else(|| Error::NotFound {
        entity: e.name.clone(),
        key: key.to_string(),
    })
}

/// Inserts a whole row (see [`EntitySql::row`]); fails when the key is in use.
pub(crate) fn insert_row_with(
    conn: &Connection,
    sql: &EntityStatements,
    row: &[Value],
) -> rusqlite::Result<usize> {
    conn.prepare_cached(&sql.insert)?.execute(params(row))
}

/// Sets some fields of a record (the statement built once per set of fields).
pub(crate) fn set_fields_with(
    conn: &Connection,
    e: &EntitySchema,
    sql: &EntityStatements,
    key: &str,
    values: &BTreeMap<String, Value>,
) -> Result<()> {
    if values.is_empty() {
        return Ok(());
    }
    // Wider entities than a mask holds take the statement built on the spot.
    if e.fields.len() > 64 {
        return set_fields(conn, e, key, values);
    }
    let mut mask = 0u64;
    let mut args = Vec::with_capacity(values.len() + 1);
    args.push(Value::Text(key.to_string()));
    for (i, f) in e.fields.iter().enumerate() {
        if let Some(v) = values.get(&f.name) {
            mask |= 1 << i;
            args.push(v.clone());
        }
    }
    if args.len() != values.len() + 1 {
        // A name that is not a field: the caller checks names against the schema first.
        return Err(Error::Corrupt(
            "update of a field the schema does not declare".into(),
        ));
    }
    conn.prepare_cached(&sql.update(mask))?
        .execute(params(&args))?;
    Ok(())
}

/// Deletes a record's row (the statement built at open).
pub(crate) fn delete_row_with(conn: &Connection, sql: &EntityStatements, key: &str) -> Result<()> {
    conn.prepare_cached(&sql.delete)?.execute([key])?;
    Ok(())
}

/// A quoted column name (names come from a validated schema).
fn column(name: &str) -> String {
    format!("\"{name}\"")
}

/// The record with this key, if there is one.
pub(crate) fn read_record(
    conn: &Connection,
    e: &EntitySchema,
    key: &str,
) -> Result<Option<Record>> {
    let sql = EntitySql::of(e);
    let mut stmt = conn.prepare_cached(&sql.select_by_key())?;
    let mut rows = stmt.query([key])?;
    match rows.next()? {
        Some(row) => Ok(Some(sql.record(row)?)),
        None => Ok(None),
    }
}

/// Sets some fields of a record.
pub(crate) fn set_fields(
    conn: &Connection,
    e: &EntitySchema,
    key: &str,
    values: &BTreeMap<String, Value>,
) -> Result<()> {
    if values.is_empty() {
        return Ok(());
    }
    let mut args = vec![Value::Text(key.to_string())];
    args.extend(values.values().cloned());
    conn.prepare_cached(&EntitySql::of(e).update(values.keys()))?
        .execute(params(&args))?;
    Ok(())
}

/// Replaces a row with exactly `values` (missing fields null) at `version`.
pub(crate) fn write_row(
    conn: &Connection,
    e: &EntitySchema,
    key: &str,
    version: Option<i64>,
    values: &BTreeMap<String, Value>,
) -> Result<()> {
    let sql = EntitySql::of(e);
    conn.prepare_cached(&sql.insert(OnExisting::Replace))?
        .execute(params(&sql.row(key, version, values)))?;
    Ok(())
}

/// Deletes a record's row.
pub(crate) fn delete_row(conn: &Connection, e: &EntitySchema, key: &str) -> Result<()> {
    conn.prepare_cached(&EntitySql::of(e).delete())?
        .execute([key])?;
    Ok(())
}
