//! The banner's strings, English and German, and the one way their placeholders are filled.

use crate::lang::Lang;

/// key, English, German: the rows of `docs/banner-text.md`'s `strings` table, in its order (a test
/// holds the two equal). Placeholders are `{name}`, as there.
pub(crate) const STRINGS: &[(&str, &str, &str)] = &[
    ("banner_syncing", "Syncing…", "Synchronisiere…"),
    (
        "banner_syncing_progress",
        "{done} of {total}",
        "{done} von {total}",
    ),
    (
        "banner_failed",
        "Sync failed: {reason}",
        "Synchronisierung fehlgeschlagen: {reason}",
    ),
    (
        "banner_retry_in",
        "Retrying in {seconds} s",
        "Neuer Versuch in {seconds} s",
    ),
    ("banner_retry_now", "Retrying now", "Neuer Versuch läuft"),
    ("banner_retry_action", "Retry", "Erneut versuchen"),
    ("banner_offline", "You're offline", "Du bist offline"),
    (
        "banner_offline_pending_one",
        "You're offline · 1 change waiting to sync",
        "Du bist offline · 1 Änderung wartet auf Synchronisierung",
    ),
    (
        "banner_offline_pending_other",
        "You're offline · {count} changes waiting to sync",
        "Du bist offline · {count} Änderungen warten auf Synchronisierung",
    ),
    (
        "banner_decision_one",
        "1 change needs your decision",
        "1 Änderung braucht deine Entscheidung",
    ),
    (
        "banner_decision_other",
        "{count} changes need your decision",
        "{count} Änderungen brauchen deine Entscheidung",
    ),
    ("banner_decision_action", "Review", "Ansehen"),
    (
        "reason_unreachable",
        "server unreachable",
        "Server nicht erreichbar",
    ),
    (
        "reason_timeout",
        "the server took too long",
        "Server antwortet zu langsam",
    ),
    (
        "reason_sign_in_needed",
        "sign-in needed",
        "Anmeldung erforderlich",
    ),
    (
        "reason_server_error",
        "server error ({status})",
        "Serverfehler ({status})",
    ),
    (
        "reason_rejected",
        "request refused by the server ({status})",
        "Anfrage vom Server abgelehnt ({status})",
    ),
    (
        "reason_bad_response",
        "bad answer from the server",
        "ungültige Antwort vom Server",
    ),
    (
        "reason_disk_full",
        "this device is out of storage",
        "Gerätespeicher ist voll",
    ),
    (
        "reason_storage_corrupt",
        "the local data is damaged",
        "lokale Daten sind beschädigt",
    ),
    (
        "reason_storage_read_only",
        "the local data cannot be written",
        "lokale Daten sind schreibgeschützt",
    ),
    (
        "reason_storage_busy",
        "the local data is busy",
        "lokale Daten sind belegt",
    ),
    (
        "reason_storage_failed",
        "this device's storage failed",
        "Gerätespeicher-Fehler",
    ),
    ("reason_internal", "unexpected error", "unerwarteter Fehler"),
    (
        "record_pending",
        "Not synced yet",
        "Noch nicht synchronisiert",
    ),
    ("record_in_conflict", "In conflict", "Im Konflikt"),
    (
        "record_quarantined",
        "Refused by the server",
        "Vom Server abgelehnt",
    ),
    (
        "refused_by_office",
        "Refused by the office: {message}",
        "Vom Büro abgelehnt: {message}",
    ),
];

/// The string `key` in `lang` with its placeholders filled from `args`. A key without a row gives
/// the key itself, so a missing string shows up on screen instead of going blank (as on iOS); the
/// tests render every key the rules use.
pub(crate) fn text(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let template =
        STRINGS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map_or(key, |(_, en, de)| match lang {
                Lang::En => en,
                Lang::De => de,
            });
    fill(template, args)
}

/// `template` with every `{name}` replaced by the value `args` gives for `name`; a placeholder
/// `args` does not name stays as it is. The placeholders are those of `docs/banner-text.md`'s
/// tables: for an app's own words written the same way (the terminal client's `terminal_*` rows).
///
/// ```
/// assert_eq!(
///     syncline_words::fill("{count} items of {total}", &[("count", "2"), ("total", "9")]),
///     "2 items of 9"
/// );
/// ```
pub fn fill(template: &str, args: &[(&str, &str)]) -> String {
    // One pass, so a value that itself holds braces (a reason, an app's own text) is never read as
    // a placeholder.
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let named = after.find('}').and_then(|close| {
            let name = &after[..close];
            args.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, value)| (*value, close))
        });
        match named {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of `docs/banner-text.md`'s `strings` table: key, English, German.
    fn documented() -> Vec<(String, String, String)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/banner-text.md");
        let doc = std::fs::read_to_string(path).expect("docs/banner-text.md");
        let begin = doc.find("<!-- strings:begin -->").expect("begin marker");
        let end = doc.find("<!-- strings:end -->").expect("end marker");
        doc[begin..end]
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| key"))
            .map(|l| {
                let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
                (cells[0].into(), cells[1].into(), cells[2].into())
            })
            .collect()
    }

    #[test]
    fn the_table_is_the_one_in_the_docs() {
        let ours: Vec<(String, String, String)> = STRINGS
            .iter()
            .map(|(k, en, de)| (k.to_string(), en.to_string(), de.to_string()))
            .collect();
        assert_eq!(ours, documented());
    }

    /// The sample values of `docs/banner-text.md` fill every placeholder of every row in both
    /// languages, and each language names the same placeholders.
    #[test]
    fn every_placeholder_is_filled_in_both_languages() {
        let samples = [
            ("count", "3"),
            ("done", "1"),
            ("total", "3"),
            ("seconds", "5"),
            ("status", "503"),
            ("reason", "server unreachable"),
            ("message", "The due date is in the past."),
        ];
        for (key, en, de) in STRINGS {
            for (lang, template) in [(Lang::En, en), (Lang::De, de)] {
                let filled = text(lang, key, &samples);
                assert!(!filled.contains('{'), "{key} ({lang:?}): {filled}");
                let names = |t: &str| -> Vec<String> {
                    let mut names: Vec<String> = t
                        .split('{')
                        .skip(1)
                        .filter_map(|s| s.split_once('}').map(|(n, _)| n.to_string()))
                        .collect();
                    names.sort();
                    names
                };
                assert_eq!(names(template), names(en), "{key} ({lang:?})");
            }
        }
    }

    #[test]
    fn fill_replaces_named_placeholders_once() {
        assert_eq!(
            fill("{done} of {total}", &[("done", "1"), ("total", "3")]),
            "1 of 3"
        );
        // A value is never read as a placeholder; an unnamed placeholder and a lone brace stay.
        assert_eq!(fill("{a} {b}", &[("a", "{b}"), ("b", "x")]), "{b} x");
        assert_eq!(fill("{missing} {", &[]), "{missing} {");
        assert_eq!(fill("ä {n}ö", &[("n", "1")]), "ä 1ö");
    }

    #[test]
    fn a_key_without_a_row_shows_itself() {
        assert_eq!(
            text(Lang::De, "banner_nonexistent", &[]),
            "banner_nonexistent"
        );
    }
}
