//! The terminal client's own words, in English and German, and the language this process speaks.
//! The banner's words (every front end's, `docs/banner-text.md`'s `strings` table) come from
//! `syncline-words`; this holds only the terminal's share around them (the doc's second table,
//! `terminal_*`: a running sync's phase, hints with the terminal's keys), and a test keeps the
//! two the same.

use std::sync::OnceLock;

use syncline_words::{fill, BannerText, Lang};

/// The language this process speaks, chosen once at start.
static CURRENT: OnceLock<Lang> = OnceLock::new();

/// Sets the language this process speaks (the first call wins).
pub fn choose(lang: Lang) {
    let _ = CURRENT.set(lang);
}

/// The language this process speaks (English until one is chosen).
pub fn current() -> Lang {
    CURRENT.get().copied().unwrap_or(Lang::En)
}

/// The banner's words in the language this process speaks.
pub fn banner() -> BannerText {
    BannerText::new(current())
}

/// key, English, German: the rows of the second table of `docs/banner-text.md`.
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

/// The terminal's string `key` in `lang`, its `{name}` placeholders filled from `args` (the key
/// itself if it has no row, so a typo shows on screen).
pub fn text(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let template =
        TERMINAL
            .iter()
            .find(|(k, _, _)| *k == key)
            .map_or(key, |(_, en, de)| match lang {
                Lang::En => en,
                Lang::De => de,
            });
    fill(template, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of `docs/banner-text.md`'s `terminal` table: key, English, German.
    fn documented() -> Vec<(String, String, String)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/banner-text.md");
        let doc = std::fs::read_to_string(path).expect("docs/banner-text.md");
        let begin = doc.find("<!-- terminal:begin -->").expect("begin marker");
        let end = doc.find("<!-- terminal:end -->").expect("end marker");
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
        let ours: Vec<(String, String, String)> = TERMINAL
            .iter()
            .map(|(k, en, de)| (k.to_string(), en.to_string(), de.to_string()))
            .collect();
        assert_eq!(ours, documented());
    }

    #[test]
    fn terminal_words_in_both_languages() {
        let entity = [("entity", "tasks")];
        assert_eq!(
            text(Lang::En, "terminal_phase_pulling", &entity),
            "receiving tasks"
        );
        assert_eq!(
            text(Lang::De, "terminal_phase_pulling", &entity),
            "empfange tasks"
        );
        assert_eq!(
            text(Lang::De, "terminal_up_to_date", &[]),
            "Alles synchronisiert"
        );
    }
}
