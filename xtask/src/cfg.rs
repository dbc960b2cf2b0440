//! `#[cfg(…)]` as the cycle check reads it: the code a crate builds outside its own tests, with
//! any feature, platform or other option possibly on. Test-only code routinely reaches back
//! (`use super::*`, shared fixtures), so it makes no edge; code behind a feature ships, so it does.

use syn::punctuated::Punctuated;
use syn::{Attribute, Meta, Token};

/// What a `cfg` predicate is worth when `test` is off and nothing else is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truth {
    Yes,
    No,
    Maybe,
}

/// Whether an item with these attributes can be built outside `cfg(test)`: false only when one
/// of its `#[cfg(…)]` predicates is false whatever the features and the platform.
pub fn enabled(attrs: &[Attribute]) -> bool {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .all(|attr| match attr.parse_args::<Meta>() {
            Ok(meta) => eval(&meta) != Truth::No,
            // `cfg(false)` (a keyword, not a meta item); anything else unreadable may be on.
            Err(_) => {
                !matches!(attr.meta.require_list(), Ok(list) if list.tokens.to_string() == "false")
            }
        })
}

fn eval(meta: &Meta) -> Truth {
    match meta {
        Meta::Path(path) if path.is_ident("test") => Truth::No,
        Meta::List(list) => {
            let Ok(args) = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
            else {
                return Truth::Maybe;
            };
            let values: Vec<Truth> = args.iter().map(eval).collect();
            if list.path.is_ident("not") {
                match values.as_slice() {
                    [Truth::Yes] => Truth::No,
                    [Truth::No] => Truth::Yes,
                    _ => Truth::Maybe,
                }
            } else if list.path.is_ident("all") {
                if values.contains(&Truth::No) {
                    Truth::No
                } else if values.iter().all(|v| *v == Truth::Yes) {
                    Truth::Yes
                } else {
                    Truth::Maybe
                }
            } else if list.path.is_ident("any") {
                if values.contains(&Truth::Yes) {
                    Truth::Yes
                } else if values.iter().all(|v| *v == Truth::No) {
                    Truth::No
                } else {
                    Truth::Maybe
                }
            } else {
                Truth::Maybe
            }
        }
        // `feature = "…"`, `unix`, `target_os = "…"`, `debug_assertions`: possibly on.
        _ => Truth::Maybe,
    }
}
