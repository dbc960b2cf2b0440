//! The rules of `docs/banner-text.md` that turn the core's structure into lines: which string a
//! banner, a failure reason and a record state take, and what fills its placeholders.

use syncline_core::{Banner, BannerKind, FailureReason, RecordState, StorageErrorKind};

use crate::lang::Lang;
use crate::table::text;

/// The banner's words in one language: its title, its second line, the labels of its actions, a
/// failure's reason, a record's mark in a list, and all of it as one line for a screen reader.
/// The same rules as Kotlin's and Swift's `BannerText`, over the same table
/// (`docs/banner-text.md`).
///
/// ```
/// use syncline_core::{Banner, BannerKind, FailureReason, RecordState};
/// use syncline_words::{BannerText, Lang};
///
/// // A banner as `Syncline::banner()` or `listen_banner` hands it over: the last sync failed,
/// // the core retries in 4.2 s by itself, and a conflict waits.
/// let now_ms = 1_700_000_000_000;
/// let banner = Banner {
///     kind: BannerKind::Failed,
///     reason: Some(FailureReason::ServerError { status: 503 }),
///     next_retry_at: Some(now_ms + 4_200),
///     can_retry: true,
///     conflicts: 1,
///     ..Banner::hidden()
/// };
///
/// let words = BannerText::new(Lang::En);
/// assert_eq!(words.title(&banner).as_deref(), Some("Sync failed: server error (503)"));
/// // The countdown is rounded up: draw it again every second while `next_retry_at` is set.
/// assert_eq!(words.detail(&banner, now_ms).as_deref(), Some("Retrying in 5 s"));
/// assert_eq!(words.retry_label(&banner).as_deref(), Some("Retry")); // calls `retry()`
/// // A decision waiting is said beside any banner, with an action that opens it.
/// assert_eq!(words.decision(&banner).as_deref(), Some("1 change needs your decision"));
/// assert_eq!(words.decision_label(&banner).as_deref(), Some("Review"));
/// assert_eq!(
///     words.accessibility_label(&banner, now_ms).as_deref(),
///     Some("Sync failed: server error (503). Retrying in 5 s. 1 change needs your decision")
/// );
///
/// let german = BannerText::new(Lang::De);
/// assert_eq!(
///     german.title(&banner).as_deref(),
///     Some("Synchronisierung fehlgeschlagen: Serverfehler (503)")
/// );
/// assert_eq!(
///     german.record_mark(Some(RecordState::Pending)).as_deref(),
///     Some("Noch nicht synchronisiert")
/// );
/// assert_eq!(german.title(&Banner::hidden()), None); // nothing to show
/// ```
///
/// In an app, on the core's listener thread:
///
/// ```no_run
/// # fn show(_title: Option<String>, _detail: Option<String>, _retry: Option<String>) {}
/// # fn app(client: &syncline_core::Syncline) {
/// use syncline_words::{BannerText, Lang};
///
/// let words = BannerText::new(Lang::from_env());
/// // Now, then on every change of the banner; keep the handle, dropping it stops the listener.
/// let _handle = client.listen_banner(move |banner| {
///     let now_ms = std::time::SystemTime::now()
///         .duration_since(std::time::UNIX_EPOCH)
///         .map_or(0, |d| d.as_millis() as i64);
///     show(
///         words.title(&banner), // None: hidden, show nothing
///         words.detail(&banner, now_ms),
///         words.retry_label(&banner),
///     );
/// });
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BannerText {
    lang: Lang,
}

impl BannerText {
    /// The words in `lang`.
    pub fn new(lang: Lang) -> BannerText {
        BannerText { lang }
    }

    /// The language the words are in.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// The banner's first line; `None` when it is hidden. A failed banner without a reason (the
    /// core always sends one) says "unexpected error" rather than leave a hole in the sentence.
    pub fn title(&self, banner: &Banner) -> Option<String> {
        Some(match banner.kind {
            BannerKind::Hidden => return None,
            BannerKind::Syncing => self.text("banner_syncing", &[]),
            BannerKind::Failed => {
                let why = self.reason(banner.reason.unwrap_or(FailureReason::Internal));
                self.text("banner_failed", &[("reason", &why)])
            }
            BannerKind::Offline => match banner.pending {
                0 => self.text("banner_offline", &[]),
                1 => self.text("banner_offline_pending_one", &[]),
                n => self.text("banner_offline_pending_other", &[("count", &n.to_string())]),
            },
            BannerKind::NeedsDecision => return self.decision(banner),
        })
    }

    /// The banner's second line at `now_ms` (ms since the Unix epoch): "1 of 3" while a unit of
    /// more than one entity syncs, or the countdown to the core's own retry of a failed sync;
    /// `None` when there is nothing to add. The banner does not change as the retry comes closer:
    /// call again every second while `next_retry_at` is set.
    pub fn detail(&self, banner: &Banner, now_ms: i64) -> Option<String> {
        match banner.kind {
            BannerKind::Syncing if banner.entities_total > 1 => Some(self.text(
                "banner_syncing_progress",
                &[
                    ("done", &banner.entities_done.to_string()),
                    ("total", &banner.entities_total.to_string()),
                ],
            )),
            BannerKind::Failed => Self::seconds_to_retry(banner, now_ms).map(|seconds| {
                if seconds == 0 {
                    self.text("banner_retry_now", &[])
                } else {
                    self.text("banner_retry_in", &[("seconds", &seconds.to_string())])
                }
            }),
            _ => None,
        }
    }

    /// Whole seconds from `now_ms` to the core's own retry of a failed sync, rounded up, so that
    /// "in 1 s" lasts until the retry starts and 0 ("now") means it is due; `None` when none is
    /// planned.
    pub fn seconds_to_retry(banner: &Banner, now_ms: i64) -> Option<i64> {
        match (banner.kind, banner.next_retry_at) {
            (BannerKind::Failed, Some(at)) => Some((at.saturating_sub(now_ms).max(0) + 999) / 1000),
            _ => None,
        }
    }

    /// The label of the failed banner's Retry action (which calls `Syncline::retry`); `None`
    /// when there is none to show, because nothing failed or retrying cannot help (the user must
    /// sign in again).
    pub fn retry_label(&self, banner: &Banner) -> Option<String> {
        (banner.kind == BannerKind::Failed && banner.can_retry)
            .then(|| self.text("banner_retry_action", &[]))
    }

    /// The line that says a decision waits (conflicts and quarantined mutations together),
    /// whatever the banner's kind, so that no other banner hides it; `None` when none waits. For
    /// [`BannerKind::NeedsDecision`] it is the title.
    pub fn decision(&self, banner: &Banner) -> Option<String> {
        match decisions(banner) {
            0 => None,
            1 => Some(self.text("banner_decision_one", &[])),
            n => Some(self.text("banner_decision_other", &[("count", &n.to_string())])),
        }
    }

    /// The label of the action that opens the waiting decisions (the conflicts, or the
    /// quarantined mutations when no conflict waits); `None` when none waits.
    pub fn decision_label(&self, banner: &Banner) -> Option<String> {
        (decisions(banner) > 0).then(|| self.text("banner_decision_action", &[]))
    }

    /// The whole banner as one utterance at `now_ms`: the title, the detail and the decision
    /// line (when it is not the title), as sentences; `None` when the banner is hidden. For a
    /// screen reader, and wherever one line must say it all (a tooltip, a notification, a log).
    pub fn accessibility_label(&self, banner: &Banner, now_ms: i64) -> Option<String> {
        // The middle dot separates two phrases for the eye only; a comma makes a screen reader
        // pause.
        let title = self.title(banner)?.replace(" · ", ", ");
        let decision = match banner.kind {
            BannerKind::NeedsDecision => None,
            _ => self.decision(banner),
        };
        let rest: Vec<String> = [self.detail(banner, now_ms), decision]
            .into_iter()
            .flatten()
            .collect();
        if rest.is_empty() {
            return Some(title);
        }
        // "Syncing…" already ends a sentence; a second full stop would be read as another pause.
        let stop = if title.ends_with(['.', '…', '!', '?']) {
            ""
        } else {
            "."
        };
        Some(format!("{title}{stop} {}", rest.join(". ")))
    }

    /// Why a sync failed, in words: the `{reason}` of the failed banner's title, and what to say
    /// beside an error (`SynclineError::reason`). A storage failure is worded by its kind.
    pub fn reason(&self, reason: FailureReason) -> String {
        let key = match reason {
            FailureReason::Unreachable => "reason_unreachable",
            FailureReason::Timeout => "reason_timeout",
            FailureReason::SignInNeeded => "reason_sign_in_needed",
            FailureReason::ServerError { status } => {
                return self.text("reason_server_error", &[("status", &status.to_string())])
            }
            FailureReason::Rejected { status } => {
                return self.text("reason_rejected", &[("status", &status.to_string())])
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
        self.text(key, &[])
    }

    /// The mark of a record in a list, by its sync state (`Record::state`, set on the records of
    /// every query, `get` and watch); `None` for a synced record, which needs none. Give it to
    /// screen readers too: it says a mutation has not reached the server, or needs the user.
    pub fn record_mark(&self, state: Option<RecordState>) -> Option<String> {
        let key = match state? {
            RecordState::Pending => "record_pending",
            RecordState::InConflict => "record_in_conflict",
            RecordState::Quarantined => "record_quarantined",
            RecordState::Synced => return None,
        };
        Some(self.text(key, &[]))
    }

    /// Why a refused (quarantined) change was refused, when the office's write rules refused it
    /// (its `code` is `rule:…`): "Refused by the office: " and the office's own words, which
    /// are meant for the user. `None` for the server's own codes, which an app puts in its own
    /// words (docs/protocol.md lists them).
    ///
    /// ```
    /// use syncline_words::{BannerText, Lang};
    /// let words = BannerText::new(Lang::De);
    /// assert_eq!(
    ///     words.office_refusal("rule:due_in_past", "Das Fälligkeitsdatum liegt in der Vergangenheit.").as_deref(),
    ///     Some("Vom Büro abgelehnt: Das Fälligkeitsdatum liegt in der Vergangenheit.")
    /// );
    /// assert_eq!(words.office_refusal("forbidden", "the record is outside your projects"), None);
    /// ```
    pub fn office_refusal(&self, code: &str, message: &str) -> Option<String> {
        syncline_core::codes::office_code(code)?;
        Some(self.text("refused_by_office", &[("message", message)]))
    }

    fn text(&self, key: &str, args: &[(&str, &str)]) -> String {
        text(self.lang, key, args)
    }
}

/// Conflicts and quarantined mutations waiting for the user: each is a decision, and the banner
/// counts them together.
fn decisions(banner: &Banner) -> u64 {
    banner.conflicts.saturating_add(banner.quarantined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::STRINGS;

    const NOW: i64 = 1_000_000;

    fn banner(kind: BannerKind) -> Banner {
        Banner {
            kind,
            ..Banner::hidden()
        }
    }

    fn en() -> BannerText {
        BannerText::new(Lang::En)
    }

    fn de() -> BannerText {
        BannerText::new(Lang::De)
    }

    /// Title and detail as the terminal client draws them, one line per banner.
    fn shown(words: BannerText, banners: &[&Banner]) -> Vec<String> {
        banners
            .iter()
            .map(|b| {
                let mut line = words.title(b).unwrap_or_default();
                if let Some(d) = words.detail(b, NOW) {
                    line.push_str(&format!(" — {d}"));
                }
                line
            })
            .collect()
    }

    fn samples() -> [Banner; 4] {
        [
            Banner {
                pending: 3,
                ..banner(BannerKind::Offline)
            },
            Banner {
                entities_done: 1,
                entities_total: 3,
                ..banner(BannerKind::Syncing)
            },
            Banner {
                reason: Some(FailureReason::ServerError { status: 503 }),
                next_retry_at: Some(NOW + 4_200),
                can_retry: true,
                ..banner(BannerKind::Failed)
            },
            Banner {
                reason: Some(FailureReason::Storage {
                    kind: StorageErrorKind::DiskFull,
                }),
                ..banner(BannerKind::Failed)
            },
        ]
    }

    #[test]
    fn german_banners() {
        let [offline, syncing, failed, disk_full] = samples();
        assert_eq!(
            shown(de(), &[&offline, &syncing, &failed, &disk_full]),
            [
                "Du bist offline · 3 Änderungen warten auf Synchronisierung",
                "Synchronisiere… — 1 von 3",
                "Synchronisierung fehlgeschlagen: Serverfehler (503) — Neuer Versuch in 5 s",
                "Synchronisierung fehlgeschlagen: Gerätespeicher ist voll",
            ]
        );
        assert_eq!(
            de().retry_label(&failed).as_deref(),
            Some("Erneut versuchen")
        );
        assert_eq!(de().title(&banner(BannerKind::Hidden)), None);
    }

    #[test]
    fn english_banners() {
        let [offline, syncing, failed, disk_full] = samples();
        assert_eq!(
            shown(en(), &[&offline, &syncing, &failed, &disk_full]),
            [
                "You're offline · 3 changes waiting to sync",
                "Syncing… — 1 of 3",
                "Sync failed: server error (503) — Retrying in 5 s",
                "Sync failed: this device is out of storage",
            ]
        );
        assert_eq!(en().retry_label(&failed).as_deref(), Some("Retry"));
    }

    #[test]
    fn the_pending_count_chooses_the_offline_sentence() {
        let offline = banner(BannerKind::Offline);
        let with = |pending| Banner {
            pending,
            ..offline.clone()
        };
        assert_eq!(en().title(&offline).as_deref(), Some("You're offline"));
        assert_eq!(
            en().title(&with(1)).as_deref(),
            Some("You're offline · 1 change waiting to sync")
        );
        assert_eq!(
            de().title(&with(1)).as_deref(),
            Some("Du bist offline · 1 Änderung wartet auf Synchronisierung")
        );
        assert_eq!(de().title(&offline).as_deref(), Some("Du bist offline"));
        assert_eq!(en().detail(&with(2), NOW), None);
    }

    #[test]
    fn the_retry_countdown_rounds_up() {
        let failed = Banner {
            reason: Some(FailureReason::Unreachable),
            can_retry: true,
            ..banner(BannerKind::Failed)
        };
        let at = |words: BannerText, offset: i64| {
            let b = Banner {
                next_retry_at: Some(NOW + offset),
                ..failed.clone()
            };
            words.detail(&b, NOW).unwrap_or_default()
        };
        assert_eq!(at(en(), 1), "Retrying in 1 s");
        assert_eq!(at(en(), 1_000), "Retrying in 1 s");
        assert_eq!(at(en(), 1_001), "Retrying in 2 s");
        assert_eq!(at(en(), 300_000), "Retrying in 300 s");
        assert_eq!(at(en(), 0), "Retrying now");
        assert_eq!(at(en(), -5_000), "Retrying now");
        assert_eq!(at(de(), 1_001), "Neuer Versuch in 2 s");
        assert_eq!(at(de(), 0), "Neuer Versuch läuft");
        assert_eq!(en().detail(&failed, NOW), None, "no retry planned");
        // Only a failed banner has a countdown, whatever else it carries.
        let offline = Banner {
            next_retry_at: Some(NOW + 5_000),
            ..banner(BannerKind::Offline)
        };
        assert_eq!(BannerText::seconds_to_retry(&offline, NOW), None);
        assert_eq!(en().detail(&offline, NOW), None);
    }

    #[test]
    fn progress_shows_only_for_more_than_one_entity() {
        let syncing = |done, total| Banner {
            entities_done: done,
            entities_total: total,
            ..banner(BannerKind::Syncing)
        };
        assert_eq!(en().title(&syncing(0, 0)).as_deref(), Some("Syncing…"));
        assert_eq!(
            de().title(&syncing(0, 0)).as_deref(),
            Some("Synchronisiere…")
        );
        assert_eq!(en().detail(&syncing(0, 0), NOW), None);
        assert_eq!(en().detail(&syncing(0, 1), NOW), None);
        assert_eq!(en().detail(&syncing(0, 2), NOW).as_deref(), Some("0 of 2"));
        assert_eq!(de().detail(&syncing(2, 2), NOW).as_deref(), Some("2 von 2"));
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
            en().title(&needs).as_deref(),
            Some("1 change needs your decision")
        );
        assert_eq!(
            de().title(&needs).as_deref(),
            Some("1 Änderung braucht deine Entscheidung")
        );
        let offline = Banner {
            conflicts: 1,
            quarantined: 2,
            ..banner(BannerKind::Offline)
        };
        assert_eq!(
            de().decision(&offline).as_deref(),
            Some("3 Änderungen brauchen deine Entscheidung")
        );
        assert_eq!(
            en().decision(&offline).as_deref(),
            Some("3 changes need your decision")
        );
        assert_eq!(de().decision_label(&offline).as_deref(), Some("Ansehen"));
        assert_eq!(en().decision_label(&needs).as_deref(), Some("Review"));
        let nothing_waits = banner(BannerKind::Offline);
        assert_eq!(en().decision(&nothing_waits), None);
        assert_eq!(en().decision_label(&nothing_waits), None);
    }

    #[test]
    fn retry_is_offered_only_when_it_helps() {
        let failed = Banner {
            reason: Some(FailureReason::Unreachable),
            can_retry: true,
            ..banner(BannerKind::Failed)
        };
        assert_eq!(en().retry_label(&failed).as_deref(), Some("Retry"));
        let sign_in = Banner {
            reason: Some(FailureReason::SignInNeeded),
            can_retry: false,
            ..failed.clone()
        };
        assert_eq!(en().retry_label(&sign_in), None);
        // Nothing failed, so there is nothing to retry.
        let offline = Banner {
            can_retry: true,
            ..banner(BannerKind::Offline)
        };
        assert_eq!(de().retry_label(&offline), None);
    }

    #[test]
    fn a_failure_without_a_reason_is_unexpected() {
        assert_eq!(
            en().title(&banner(BannerKind::Failed)).as_deref(),
            Some("Sync failed: unexpected error")
        );
        assert_eq!(
            de().title(&banner(BannerKind::Failed)).as_deref(),
            Some("Synchronisierung fehlgeschlagen: unerwarteter Fehler")
        );
    }

    /// Counts alone do not make a banner: the kind decides.
    #[test]
    fn a_hidden_banner_says_nothing() {
        let hidden = Banner {
            pending: 2,
            can_retry: true,
            ..banner(BannerKind::Hidden)
        };
        for words in [en(), de()] {
            assert_eq!(words.title(&hidden), None);
            assert_eq!(words.detail(&hidden, NOW), None);
            assert_eq!(words.retry_label(&hidden), None);
            assert_eq!(words.accessibility_label(&hidden, NOW), None);
        }
    }

    #[test]
    fn the_accessibility_label_is_one_utterance() {
        let syncing = Banner {
            entities_done: 1,
            entities_total: 3,
            ..banner(BannerKind::Syncing)
        };
        assert_eq!(
            en().accessibility_label(&syncing, NOW).as_deref(),
            Some("Syncing… 1 of 3")
        );
        let one_entity = Banner {
            entities_total: 1,
            ..syncing
        };
        assert_eq!(
            en().accessibility_label(&one_entity, NOW).as_deref(),
            Some("Syncing…")
        );
        let offline = Banner {
            pending: 3,
            ..banner(BannerKind::Offline)
        };
        assert_eq!(
            en().accessibility_label(&offline, NOW).as_deref(),
            Some("You're offline, 3 changes waiting to sync")
        );
        let [_, _, failed, _] = samples();
        assert_eq!(
            de().accessibility_label(&failed, NOW).as_deref(),
            Some("Synchronisierung fehlgeschlagen: Serverfehler (503). Neuer Versuch in 5 s")
        );
        // The decision line is said once: as the title, or after everything else.
        let needs = Banner {
            quarantined: 2,
            ..banner(BannerKind::NeedsDecision)
        };
        assert_eq!(
            en().accessibility_label(&needs, NOW).as_deref(),
            Some("2 changes need your decision")
        );
        let offline_waiting = Banner {
            conflicts: 1,
            ..offline
        };
        assert_eq!(
            de().accessibility_label(&offline_waiting, NOW).as_deref(),
            Some(
                "Du bist offline, 3 Änderungen warten auf Synchronisierung. \
                 1 Änderung braucht deine Entscheidung"
            )
        );
    }

    #[test]
    fn every_reason_has_words_in_both_languages() {
        let expected = [
            (FailureReason::Unreachable, "server unreachable"),
            (FailureReason::Timeout, "the server took too long"),
            (FailureReason::SignInNeeded, "sign-in needed"),
            (
                FailureReason::ServerError { status: 500 },
                "server error (500)",
            ),
            (
                FailureReason::Rejected { status: 400 },
                "request refused by the server (400)",
            ),
            (FailureReason::BadResponse, "bad answer from the server"),
            (FailureReason::Internal, "unexpected error"),
        ]
        .into_iter()
        .chain(
            [
                (StorageErrorKind::DiskFull, "this device is out of storage"),
                (StorageErrorKind::Corrupt, "the local data is damaged"),
                (StorageErrorKind::Busy, "the local data is busy"),
                (
                    StorageErrorKind::ReadOnly,
                    "the local data cannot be written",
                ),
                (StorageErrorKind::Other, "this device's storage failed"),
            ]
            .map(|(kind, words)| (FailureReason::Storage { kind }, words)),
        );
        for (reason, words) in expected {
            assert_eq!(en().reason(reason), words, "{reason:?}");
            let german = de().reason(reason);
            assert!(!german.starts_with("reason_"), "{reason:?}");
            assert_ne!(german, words, "{reason:?} is translated");
        }
        assert_eq!(
            de().reason(FailureReason::Rejected { status: 409 }),
            "Anfrage vom Server abgelehnt (409)"
        );
    }

    #[test]
    fn every_record_state_but_synced_has_a_mark() {
        let marks = [
            (RecordState::Pending, "record_pending"),
            (RecordState::InConflict, "record_in_conflict"),
            (RecordState::Quarantined, "record_quarantined"),
        ];
        for (state, key) in marks {
            let (_, en_text, de_text) = STRINGS.iter().find(|(k, _, _)| *k == key).expect(key);
            assert_eq!(en().record_mark(Some(state)).as_deref(), Some(*en_text));
            assert_eq!(de().record_mark(Some(state)).as_deref(), Some(*de_text));
        }
        assert_eq!(
            STRINGS
                .iter()
                .filter(|(k, _, _)| k.starts_with("record_"))
                .count(),
            marks.len(),
            "every documented mark is covered"
        );
        assert_eq!(en().record_mark(Some(RecordState::Synced)), None);
        assert_eq!(de().record_mark(None), None);
    }
}
