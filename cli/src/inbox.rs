//! What needs the user, in words: conflicts to resolve, mutations the server rejected (quarantined), what a sync
//! did. Shared by the interactive screen and the one-shot subcommands so both say the same thing.

use std::collections::HashMap;

use syncline_core::{
    Conflict, FieldType, NetworkStatus, NetworkType, QuarantinedMutation, Resolution, SyncReport,
    SyncStatus, Syncline, Value,
};

/// A value as the user reads it: text in quotes (so an empty title is visible), timestamps as UTC
/// dates, nothing as "(empty)".
pub fn value_text(v: &Value) -> String {
    match v {
        Value::Null => "(empty)".into(),
        Value::Text(s) => format!("\"{s}\""),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => r.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Timestamp(ms) => utc(*ms),
        Value::Json(j) => j.clone(),
        Value::Attachment(r) => format!("{} ({}, {} bytes)", r.name, r.media_type, r.size),
    }
}

/// Epoch milliseconds as `YYYY-MM-DD HH:MM:SS UTC` (the client has no time-zone database, and UTC
/// is unambiguous in a terminal).
pub fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm, proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The network as one phrase: the core's view and the OS's network kind.
pub fn network_text(status: &SyncStatus) -> String {
    let state = match status.network {
        NetworkStatus::Online => "online",
        NetworkStatus::Offline => "offline",
        NetworkStatus::ServerUnreachable => "server unreachable",
        NetworkStatus::SignInNeeded => "sign-in needed",
    };
    let kind = match status.network_type {
        NetworkType::Wifi => "Wi-Fi",
        NetworkType::Cellular => "cellular",
        NetworkType::Ethernet => "ethernet",
        NetworkType::Other => "other network",
        NetworkType::None => "no network",
    };
    let metered = if status.metered { ", metered" } else { "" };
    format!("{state} ({kind}{metered})")
}

/// "1 conflict", "2 conflicts": counts read better in words.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What a sync did, in one line.
pub fn report_summary(report: &SyncReport) -> String {
    let sum =
        |f: fn(&syncline_core::EntityReport) -> u64| -> u64 { report.entities.iter().map(f).sum() };
    let mut text = format!(
        "{} sent, {} received",
        sum(|e| e.pushed),
        sum(|e| e.pulled + e.deleted)
    );
    let (merged, inbox) = (
        sum(|e| e.conflicts.saturating_sub(e.to_inbox)),
        sum(|e| e.to_inbox),
    );
    if merged > 0 {
        text.push_str(&format!(", {merged} settled by the conflict policy"));
    }
    if inbox > 0 {
        text.push_str(&format!(
            ", {} to resolve (C)",
            count(inbox, "conflict", "conflicts")
        ));
    }
    let quarantined = sum(|e| e.quarantined);
    if quarantined > 0 {
        text.push_str(&format!(", {quarantined} quarantined (Q)"));
    }
    text
}

/// A conflict: its record and, per field changed on both sides, the value before, mine and the
/// server's.
pub fn conflict_lines(c: &Conflict) -> Vec<String> {
    let mut lines = vec![format!(
        "{} {} · changed on both sides: {}",
        c.entity,
        c.key,
        c.fields.join(", ")
    )];
    let side = |record: &Option<HashMap<String, Value>>, field: &str| match record {
        Some(r) => value_text(r.get(field).unwrap_or(&Value::Null)),
        None => "(deleted)".into(),
    };
    // One line per side: values are often long, and side by side they would wrap mid-value.
    for field in &c.fields {
        lines.push(format!(
            "    {field} (was {})",
            value_text(c.base.get(field).unwrap_or(&Value::Null))
        ));
        lines.push(format!("      mine:   {}", side(&c.local, field)));
        lines.push(format!("      theirs: {}", side(&c.remote, field)));
    }
    lines
}

/// A quarantined mutation: its seq, what it did and the server's reason; a refusal by the
/// office's write rules in the localized frame around the office's own words.
pub fn quarantine_line(q: &QuarantinedMutation) -> String {
    let reason = crate::words::banner()
        .office_refusal(&q.code, &q.message)
        .unwrap_or_else(|| q.message.clone());
    format!(
        "seq {} · {} {} {}: {} ({})",
        q.seq,
        q.op.as_str(),
        q.entity,
        q.key,
        reason,
        q.code
    )
}

/// Parses `field=value` for a field of `entity`, typed as the schema declares it (`null` clears
/// a non-text field).
pub fn assignment(client: &Syncline, entity: &str, text: &str) -> Result<(String, Value), String> {
    let (field, raw) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not <field>=<value>"))?;
    let (field, raw) = (field.trim(), raw.trim());
    let def = client
        .schema()
        .entity(entity)
        .and_then(|e| e.field_def(field))
        .map_err(|e| e.to_string())?;
    let bad = |what: &str| format!("{field} expects {what}, not `{raw}`");
    let value = match def.field_type {
        FieldType::Text => Value::Text(raw.to_string()),
        _ if raw == "null" => Value::Null,
        FieldType::Boolean => match raw {
            "true" | "yes" => Value::Boolean(true),
            "false" | "no" => Value::Boolean(false),
            _ => return Err(bad("true or false")),
        },
        FieldType::Integer => Value::Integer(raw.parse().map_err(|_| bad("an integer"))?),
        FieldType::Real => Value::Real(raw.parse().map_err(|_| bad("a number"))?),
        FieldType::Timestamp => {
            Value::Timestamp(raw.parse().map_err(|_| bad("milliseconds since 1970"))?)
        }
        FieldType::Json => Value::Json(raw.to_string()),
        FieldType::Attachment => return Err(format!("{field} is a file: use `attach`")),
    };
    Ok((field.to_string(), value))
}

/// The user's decision on a conflict of `entity`: `mine`, `theirs`, or `merged` with
/// `field=value` assignments (fields not named keep the server's value).
pub fn resolution(
    client: &Syncline,
    entity: &str,
    choice: &str,
    assignments: &[String],
) -> Result<Resolution, String> {
    match choice {
        "mine" | "theirs" if !assignments.is_empty() => {
            Err(format!("values go with merged, not with {choice}"))
        }
        "mine" => Ok(Resolution::KeepMine),
        "theirs" => Ok(Resolution::KeepTheirs),
        "merged" if assignments.is_empty() => {
            Err("merged needs at least one <field>=<value>".into())
        }
        "merged" => assignments
            .iter()
            .map(|a| assignment(client, entity, a))
            .collect::<Result<HashMap<_, _>, _>>()
            .map(|values| Resolution::Merged { values }),
        other => Err(format!("`{other}`: choose mine, theirs or merged")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_767_600_000_000), "2026-01-05 08:00:00 UTC");
        assert_eq!(utc(951_782_400_000 + 3_723_000), "2000-02-29 01:02:03 UTC");
    }

    #[test]
    fn counts_agree_in_number() {
        assert_eq!(count(1, "conflict", "conflicts"), "1 conflict");
        assert_eq!(count(0, "conflict", "conflicts"), "0 conflicts");
    }
}
