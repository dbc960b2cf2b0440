//! The languages the words come in, and which one the process's locale asks for.

/// A language of the banner's words: a column of `docs/banner-text.md`'s table.
///
/// ```
/// use syncline_words::{BannerText, Lang};
///
/// // An app with a language setting of its own names it; otherwise the user's locale decides.
/// let setting: Option<&str> = Some("de_CH");
/// let lang = setting.map_or_else(Lang::from_env, Lang::from_locale);
/// assert_eq!(lang, Lang::De);
/// assert_eq!(BannerText::new(lang).lang(), Lang::De);
/// ```
// Not `#[non_exhaustive]`: a front end with words of its own (the terminal client's `terminal_*`)
// matches on the language, and a new one should stop it compiling until it is translated there too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// English, also for every locale without a column of its own.
    En,
    /// German.
    De,
}

impl Lang {
    /// The language the POSIX locale asks for: the first of `LC_ALL`, `LC_MESSAGES` and `LANG`
    /// that is set and not empty (the order `setlocale` reads them in), through
    /// [`Lang::from_locale`]; English when none is set.
    pub fn from_env() -> Lang {
        from_vars(|name| std::env::var(name).ok())
    }

    /// The language of a locale name (`de_DE.UTF-8`, `de-AT`, `de`): the part before any `_`,
    /// `-`, `.` or `@`, case aside; English when that language has no column (`C`, `POSIX`,
    /// `fr_FR`, an empty name).
    pub fn from_locale(locale: &str) -> Lang {
        // `split` yields at least one piece, so the default is never used.
        let language = locale
            .split(['_', '-', '.', '@'])
            .next()
            .unwrap_or_default();
        if language.eq_ignore_ascii_case("de") {
            Lang::De
        } else {
            Lang::En
        }
    }
}

/// [`Lang::from_env`] over `var` (a variable's value, `None` when unset), so tests need not change
/// the process's environment, which other tests read at the same time.
fn from_vars(var: impl Fn(&str) -> Option<String>) -> Lang {
    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .into_iter()
        .filter_map(var)
        .find(|value| !value.is_empty())
        .map_or(Lang::En, |value| Lang::from_locale(&value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locale_name_gives_its_language() {
        for german in ["de", "de_DE.UTF-8", "de_AT", "de-CH", "DE_de", "de@euro"] {
            assert_eq!(Lang::from_locale(german), Lang::De, "{german}");
        }
        for other in [
            "en_GB.UTF-8",
            "C",
            "POSIX",
            "C.UTF-8",
            "fr_FR",
            "",
            "dena",
            "nl_DE",
        ] {
            assert_eq!(Lang::from_locale(other), Lang::En, "{other}");
        }
    }

    /// `LC_ALL` wins over `LC_MESSAGES`, which wins over `LANG`; an empty variable counts as
    /// unset, as for `setlocale`.
    #[test]
    fn the_environment_is_read_in_the_posix_order() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(from_vars(env(&[])), Lang::En);
        assert_eq!(from_vars(env(&[("LANG", "de_DE.UTF-8")])), Lang::De);
        assert_eq!(
            from_vars(env(&[("LANG", "de_DE.UTF-8"), ("LC_ALL", "en_US.UTF-8")])),
            Lang::En
        );
        assert_eq!(
            from_vars(env(&[("LANG", "en_US.UTF-8"), ("LC_MESSAGES", "de_DE")])),
            Lang::De
        );
        assert_eq!(
            from_vars(env(&[("LC_ALL", ""), ("LANG", "de_DE.UTF-8")])),
            Lang::De
        );
    }
}
