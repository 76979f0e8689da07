//! A small `--name value` command-line parser for the offline examples.

use std::collections::BTreeMap;

/// Options given as `--name value` pairs, each at most once.
#[derive(Debug)]
pub struct Options {
    values: BTreeMap<String, String>,
}

impl Options {
    /// Parses `args` (without the program name), accepting only the option
    /// names in `known`.
    pub fn parse(args: impl IntoIterator<Item = String>, known: &[&str]) -> Result<Self, String> {
        let mut values = BTreeMap::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let Some(name) = arg.strip_prefix("--").filter(|n| known.contains(n)) else {
                return Err(format!("unknown argument {arg:?}"));
            };
            let value = args
                .next()
                .ok_or_else(|| format!("--{name} needs a value"))?;
            if values.insert(name.to_owned(), value).is_some() {
                return Err(format!("--{name} is given twice"));
            }
        }
        Ok(Options { values })
    }

    /// The value of `--name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The value of `--name`, which must be given.
    pub fn required(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("--{name} is required"))
    }

    /// The value of `--name` as a number, if given.
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        self.get(name)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| format!("--{name} must be a whole number in range, not {v:?}"))
            })
            .transpose()
    }

    /// Refuses any of `names` that was given (options of another mode).
    pub fn refuse(&self, names: &[&str], reason: &str) -> Result<(), String> {
        match names.iter().find(|n| self.values.contains_key(**n)) {
            Some(name) => Err(format!("--{name} {reason}")),
            None => Ok(()),
        }
    }
}
