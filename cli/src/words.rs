//! The terminal client's words for the core's structured banner, in English and German. The core
//! sends structure only (`Banner`, `FailureReason`); this table is the terminal's share of
//! `docs/banner-text.md`, and a test keeps the two the same.

use syncline_core::{Banner, BannerKind, FailureReason, RecordState, StorageErrorKind};

/// A language the terminal client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    En,
    De,
}

/// The language this process speaks, chosen once at start.
static CURRENT: std::sync::OnceLock<Lang> = std::sync::OnceLock::new();

/// Sets the language this process speaks (the first call wins).
pub fn choose(lang: Lang) {
    let _ = CURRENT.set(lang);
}

/// The language this process speaks (English until one is chosen).
pub fn current() -> Lang {
    CURRENT.get().copied().unwrap_or(Lang::En)
}

impl Lang {
    /// The language the POSIX locale asks for (`de_DE.UTF-8` → German); English otherwise.
    pub fn from_env() -> Lang {
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|v| !v.is_empty())
            .map_or(Lang::En, |v| {
                if v.to_ascii_lowercase().starts_with("de") {
                    Lang::De
                } else {
                    Lang::En
                }
            })
    }
}

/// key, English, German: the rows of `docs/banner-text.md`.
const STRINGS: &[(&str, &str, &str)] = &[
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
];

/// The terminal's own words around the banner (the second table of `docs/banner-text.md`).
const TERMINAL: &[(&str, &str, &str)] = &[
    ("terminal_up_to_date", "Up to date", "Alles synchronisiert"),
    ("terminal_phase_starting", "starting", "startet"),
    ("terminal_phase_pushing", "sending {entity}", "sende {entity}"),
    ("terminal_phase_pulling", "receiving {entity}", "empfange {entity}"),
    ("terminal_items", "{count} items", "{count} Einträge"),
    (
        "terminal_sign_in_hint",
        "The server refused the token: T <token> to sign in again",
        "Der Server lehnt das Token ab: T <token> meldet neu an",
    ),
    (
        "terminal_offline_hint",
        "Edits stay on this device and sync when you're back online (o)",
        "Änderungen bleiben auf dem Gerät und werden synchronisiert, sobald du wieder online bist (o)",
    ),
];

/// The string `key` in `lang`, its `{name}` placeholders filled from `args`.
pub fn text(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let template = STRINGS
        .iter()
        .chain(TERMINAL)
        .find(|(k, _, _)| *k == key)
        .map_or(key, |(_, en, de)| match lang {
            Lang::En => en,
            Lang::De => de,
        });
    args.iter().fold(template.to_string(), |s, (name, value)| {
        s.replace(&format!("{{{name}}}"), value)
    })
}

/// The reason a sync failed, in words.
pub fn reason(lang: Lang, reason: FailureReason) -> String {
    let key = match reason {
        FailureReason::Unreachable => "reason_unreachable",
        FailureReason::Timeout => "reason_timeout",
        FailureReason::SignInNeeded => "reason_sign_in_needed",
        FailureReason::ServerError { status } => {
            return text(
                lang,
                "reason_server_error",
                &[("status", &status.to_string())],
            )
        }
        FailureReason::Rejected { status } => {
            return text(lang, "reason_rejected", &[("status", &status.to_string())])
        }
        FailureReason::BadResponse => "reason_bad_response",
        FailureReason::Storage { kind } => match kind {
            StorageErrorKind::DiskFull => "reason_disk_full",
            StorageErrorKind::Corrupt => "reason_storage_corrupt",
            StorageErrorKind::ReadOnly => "reason_storage_read_only",
            StorageErrorKind::Busy => "reason_storage_busy",
            StorageErrorKind::Other => "reason_storage_failed",
        },
        FailureReason::Internal => "reason_internal",
    };
    text(lang, key, &[])
}

/// The banner's title; `None` when it is hidden.
pub fn title(lang: Lang, banner: &Banner) -> Option<String> {
    Some(match banner.kind {
        BannerKind::Hidden => return None,
        BannerKind::Syncing => text(lang, "banner_syncing", &[]),
        BannerKind::Failed => {
            let why = banner.reason.map_or_else(
                || reason(lang, FailureReason::Internal),
                |r| reason(lang, r),
            );
            text(lang, "banner_failed", &[("reason", &why)])
        }
        BannerKind::Offline => match banner.pending {
            0 => text(lang, "banner_offline", &[]),
            1 => text(lang, "banner_offline_pending_one", &[]),
            n => text(
                lang,
                "banner_offline_pending_other",
                &[("count", &n.to_string())],
            ),
        },
        BannerKind::NeedsDecision => decision(lang, banner)?,
    })
}

/// The line that says a decision waits (conflicts and quarantined mutations together), whatever
/// the banner's kind; `None` when none waits. For `NeedsDecision` it is the title.
pub fn decision(lang: Lang, banner: &Banner) -> Option<String> {
    match banner.conflicts + banner.quarantined {
        0 => None,
        1 => Some(text(lang, "banner_decision_one", &[])),
        n => Some(text(
            lang,
            "banner_decision_other",
            &[("count", &n.to_string())],
        )),
    }
}

/// The label of the action that opens the waiting decisions.
pub fn decision_action(lang: Lang) -> String {
    text(lang, "banner_decision_action", &[])
}

/// The banner's second line at `now` (epoch ms): progress, or when the core retries.
pub fn detail(lang: Lang, banner: &Banner, now: i64) -> Option<String> {
    match banner.kind {
        BannerKind::Syncing if banner.entities_total > 1 => Some(text(
            lang,
            "banner_syncing_progress",
            &[
                ("done", &banner.entities_done.to_string()),
                ("total", &banner.entities_total.to_string()),
            ],
        )),
        BannerKind::Failed => banner.next_retry_at.map(|at| {
            let seconds = ((at - now).max(0) + 999) / 1000;
            if seconds == 0 {
                text(lang, "banner_retry_now", &[])
            } else {
                text(
                    lang,
                    "banner_retry_in",
                    &[("seconds", &seconds.to_string())],
                )
            }
        }),
        _ => None,
    }
}

/// The label of the banner's Retry action.
pub fn retry_action(lang: Lang) -> String {
    text(lang, "banner_retry_action", &[])
}

/// The mark of a record in a list, by its sync state; `None` for a synced record.
pub fn record_mark(lang: Lang, state: Option<RecordState>) -> Option<String> {
    let key = match state? {
        RecordState::Pending => "record_pending",
        RecordState::InConflict => "record_in_conflict",
        RecordState::Quarantined => "record_quarantined",
        RecordState::Synced => return None,
    };
    Some(text(lang, key, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of a table in `docs/banner-text.md` (`strings` or `terminal`): key, English,
    /// German.
    fn documented(table: &str) -> Vec<(String, String, String)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/banner-text.md");
        let doc = std::fs::read_to_string(path).expect("docs/banner-text.md");
        let begin = doc
            .find(&format!("<!-- {table}:begin -->"))
            .expect("begin marker");
        let end = doc
            .find(&format!("<!-- {table}:end -->"))
            .expect("end marker");
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
    fn the_tables_are_the_ones_in_the_docs() {
        for (table, ours) in [("strings", STRINGS), ("terminal", TERMINAL)] {
            let ours: Vec<(String, String, String)> = ours
                .iter()
                .map(|(k, en, de)| (k.to_string(), en.to_string(), de.to_string()))
                .collect();
            assert_eq!(ours, documented(table), "{table}");
        }
    }

    fn banner(kind: BannerKind) -> Banner {
        Banner {
            kind,
            ..Banner::hidden()
        }
    }

    #[test]
    fn german_banners() {
        let de = Lang::De;
        let now = 1_000_000;
        let offline = Banner {
            pending: 3,
            ..banner(BannerKind::Offline)
        };
        let syncing = Banner {
            entities_done: 1,
            entities_total: 3,
            ..banner(BannerKind::Syncing)
        };
        let failed = Banner {
            reason: Some(FailureReason::ServerError { status: 503 }),
            next_retry_at: Some(now + 4_200),
            can_retry: true,
            ..banner(BannerKind::Failed)
        };
        let disk_full = Banner {
            reason: Some(FailureReason::Storage {
                kind: StorageErrorKind::DiskFull,
            }),
            ..banner(BannerKind::Failed)
        };
        let shown: Vec<String> = [&offline, &syncing, &failed, &disk_full]
            .iter()
            .map(|b| {
                let mut line = title(de, b).unwrap_or_default();
                if let Some(d) = detail(de, b, now) {
                    line.push_str(&format!(" — {d}"));
                }
                line
            })
            .collect();
        for line in &shown {
            println!("{line}");
        }
        assert_eq!(
            shown,
            [
                "Du bist offline · 3 Änderungen warten auf Synchronisierung",
                "Synchronisiere… — 1 von 3",
                "Synchronisierung fehlgeschlagen: Serverfehler (503) — Neuer Versuch in 5 s",
                "Synchronisierung fehlgeschlagen: Gerätespeicher ist voll",
            ]
        );
        assert_eq!(retry_action(de), "Erneut versuchen");
        assert_eq!(title(de, &banner(BannerKind::Hidden)), None);
    }

    /// A decision waiting is the title when nothing else is said, and a line of its own beside
    /// any other kind; conflicts and quarantined mutations count together.
    #[test]
    fn a_decision_waiting_is_said_in_both_languages() {
        let needs = Banner {
            conflicts: 1,
            ..banner(BannerKind::NeedsDecision)
        };
        assert_eq!(
            title(Lang::En, &needs).as_deref(),
            Some("1 change needs your decision")
        );
        let offline = Banner {
            conflicts: 1,
            quarantined: 2,
            ..banner(BannerKind::Offline)
        };
        assert_eq!(
            decision(Lang::De, &offline).as_deref(),
            Some("3 Änderungen brauchen deine Entscheidung")
        );
        assert_eq!(decision(Lang::En, &banner(BannerKind::Offline)), None);
        assert_eq!(decision_action(Lang::De), "Ansehen");
    }

    #[test]
    fn every_reason_has_words_in_both_languages() {
        let reasons = [
            FailureReason::Unreachable,
            FailureReason::Timeout,
            FailureReason::SignInNeeded,
            FailureReason::ServerError { status: 500 },
            FailureReason::Rejected { status: 400 },
            FailureReason::BadResponse,
            FailureReason::Internal,
        ]
        .into_iter()
        .chain(
            [
                StorageErrorKind::DiskFull,
                StorageErrorKind::Corrupt,
                StorageErrorKind::Busy,
                StorageErrorKind::ReadOnly,
                StorageErrorKind::Other,
            ]
            .map(|kind| FailureReason::Storage { kind }),
        );
        for r in reasons {
            let (en, de) = (reason(Lang::En, r), reason(Lang::De, r));
            assert!(
                !en.starts_with("reason_") && !de.starts_with("reason_"),
                "{r:?}"
            );
            assert_ne!(en, de, "{r:?} is translated");
        }
    }

    #[test]
    fn every_record_state_but_synced_has_a_mark() {
        let rows = documented("strings");
        let marks = [
            (RecordState::Pending, "record_pending"),
            (RecordState::InConflict, "record_in_conflict"),
            (RecordState::Quarantined, "record_quarantined"),
        ];
        for (state, key) in marks {
            let (_, en, de) = rows.iter().find(|(k, _, _)| k == key).expect(key);
            assert_eq!(record_mark(Lang::En, Some(state)).as_deref(), Some(&en[..]));
            assert_eq!(record_mark(Lang::De, Some(state)).as_deref(), Some(&de[..]));
        }
        assert_eq!(
            rows.iter()
                .filter(|(k, _, _)| k.starts_with("record_"))
                .count(),
            marks.len(),
            "every documented mark is covered"
        );
        assert_eq!(record_mark(Lang::En, Some(RecordState::Synced)), None);
        assert_eq!(record_mark(Lang::De, None), None);
    }
}
