//! Raw option values and the weak typing oauth2-proxy users rely on.
//!
//! viper (oauth2-proxy's loader) accepts `cookie_secure = "false"`, a single string where a list
//! is expected (split on commas), and Go duration strings. Every source (file, environment,
//! flags) produces [`RawValue`]s; [`OptionType`] turns them into typed values with one rule set.

use std::time::Duration;

use super::duration;

/// A value as a source delivered it, before typing.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    Str(String),
    Bool(bool),
    Int(i64),
    Float(f64),
    List(Vec<RawValue>),
    /// A TOML table, datetime or other shape no option takes; the name says what it was.
    Other(&'static str),
}

impl RawValue {
    /// The value as the user wrote it, for error messages.
    pub fn display(&self) -> String {
        match self {
            RawValue::Str(s) => format!("{s:?}"),
            RawValue::Bool(b) => b.to_string(),
            RawValue::Int(i) => i.to_string(),
            RawValue::Float(f) => f.to_string(),
            RawValue::List(items) => {
                let inner: Vec<String> = items.iter().map(RawValue::display).collect();
                format!("[{}]", inner.join(", "))
            }
            RawValue::Other(what) => format!("<{what}>"),
        }
    }

    pub fn scalar_string(&self) -> Option<String> {
        match self {
            RawValue::Str(s) => Some(s.clone()),
            RawValue::Bool(b) => Some(b.to_string()),
            RawValue::Int(i) => Some(i.to_string()),
            RawValue::Float(f) => Some(f.to_string()),
            _ => None,
        }
    }
}

/// The shapes an option can take; the help output and the flag parser use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Bool,
    Int,
    Dur,
    List,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::Bool => "a boolean (true or false)",
            Kind::Int => "a whole number",
            Kind::Dur => "a duration such as \"168h\", \"15m\" or \"1s\"",
            Kind::List => "a list of strings ([\"a\", \"b\"] or \"a,b\")",
        }
    }
}

/// Conversion from a raw value into an option's type. The error is the problem, phrased to
/// follow "<key> = <value>: ".
pub trait OptionType: Sized {
    const KIND: Kind;
    fn from_raw(raw: &RawValue) -> Result<Self, String>;
}

impl OptionType for String {
    const KIND: Kind = Kind::Str;
    fn from_raw(raw: &RawValue) -> Result<Self, String> {
        raw.scalar_string().ok_or_else(|| format!("expected {}, got a {}", Kind::Str.describe(), shape(raw)))
    }
}

impl OptionType for bool {
    const KIND: Kind = Kind::Bool;
    fn from_raw(raw: &RawValue) -> Result<Self, String> {
        match raw {
            RawValue::Bool(b) => Ok(*b),
            RawValue::Int(i) => Ok(*i != 0),
            // Go's strconv.ParseBool, which viper's weak typing uses.
            RawValue::Str(s) => match s.as_str() {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
                "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
                _ => Err(format!("expected {}", Kind::Bool.describe())),
            },
            other => Err(format!("expected {}, got a {}", Kind::Bool.describe(), shape(other))),
        }
    }
}

impl OptionType for i64 {
    const KIND: Kind = Kind::Int;
    fn from_raw(raw: &RawValue) -> Result<Self, String> {
        match raw {
            RawValue::Int(i) => Ok(*i),
            RawValue::Bool(b) => Ok(i64::from(*b)),
            RawValue::Float(f) if f.fract() == 0.0 => Ok(*f as i64),
            RawValue::Str(s) => s.trim().parse().map_err(|_| format!("expected {}", Kind::Int.describe())),
            other => Err(format!("expected {}, got a {}", Kind::Int.describe(), shape(other))),
        }
    }
}

impl OptionType for Duration {
    const KIND: Kind = Kind::Dur;
    fn from_raw(raw: &RawValue) -> Result<Self, String> {
        match raw {
            RawValue::Str(s) => duration::parse(s),
            RawValue::Int(0) => Ok(Duration::ZERO),
            // viper would read a bare number as nanoseconds, which is never what was meant
            // (`cookie_expire = 3600` would be 3.6 microseconds), so Gatehouse asks for a unit.
            RawValue::Int(i) => Err(format!("a bare number is ambiguous for a duration; write it with a unit, e.g. \"{i}s\"")),
            other => Err(format!("expected {}, got a {}", Kind::Dur.describe(), shape(other))),
        }
    }
}

impl OptionType for Vec<String> {
    const KIND: Kind = Kind::List;
    fn from_raw(raw: &RawValue) -> Result<Self, String> {
        match raw {
            RawValue::List(items) => items
                .iter()
                .map(|item| item.scalar_string().ok_or_else(|| format!("every list entry must be a string, got a {}", shape(item))))
                .collect(),
            // A single string is a comma-separated list, as viper's decode hook splits it.
            other => match other.scalar_string() {
                Some(s) => Ok(split_list(&s)),
                None => Err(format!("expected {}, got a {}", Kind::List.describe(), shape(other))),
            },
        }
    }
}

/// Splits `a,b, c` into `["a", "b", "c"]`, dropping empty entries.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect()
}

fn shape(raw: &RawValue) -> &'static str {
    match raw {
        RawValue::Str(_) => "string",
        RawValue::Bool(_) => "boolean",
        RawValue::Int(_) => "number",
        RawValue::Float(_) => "number",
        RawValue::List(_) => "list",
        RawValue::Other(what) => what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> RawValue {
        RawValue::Str(v.into())
    }

    #[test]
    fn weak_booleans() {
        assert_eq!(bool::from_raw(&s("false")), Ok(false));
        assert_eq!(bool::from_raw(&s("TRUE")), Ok(true));
        assert_eq!(bool::from_raw(&RawValue::Int(1)), Ok(true));
        assert!(bool::from_raw(&s("yes")).is_err());
    }

    #[test]
    fn lists_from_strings_and_arrays() {
        assert_eq!(Vec::<String>::from_raw(&s("a.com,b.com")).unwrap(), ["a.com", "b.com"]);
        assert_eq!(Vec::<String>::from_raw(&s("")).unwrap(), Vec::<String>::new());
        let arr = RawValue::List(vec![s("*"), RawValue::Int(5)]);
        assert_eq!(Vec::<String>::from_raw(&arr).unwrap(), ["*", "5"]);
    }

    #[test]
    fn durations_need_units() {
        assert_eq!(Duration::from_raw(&s("15m")), Ok(Duration::from_secs(900)));
        assert_eq!(Duration::from_raw(&RawValue::Int(0)), Ok(Duration::ZERO));
        assert!(Duration::from_raw(&RawValue::Int(3600)).unwrap_err().contains("\"3600s\""));
    }

    #[test]
    fn strings_are_weak_too() {
        assert_eq!(String::from_raw(&RawValue::Int(4180)).unwrap(), "4180");
        assert!(String::from_raw(&RawValue::List(vec![])).is_err());
    }
}
