//! Field types for the quirks of AWS's wire formats: states with an `Unknown` fallback,
//! numbers that arrive as strings, JSON objects that arrive JSON-encoded inside a string.

use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// Declares a state enum that parses case-insensitively, ignoring `_` and `-`
/// (`IN_PROGRESS`, `InProgress` and `in-progress` are one state) and keeps any other
/// value as `Unknown(original)`, because AWS adds states without notice.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this version of Cutover does not know, kept as sent.
            Unknown(String),
        }

        impl $name {
            /// Reads a wire value; anything unknown becomes `Unknown`.
            #[allow(unreachable_pub, reason = "public in the enums this macro declares")]
            pub fn from_wire(value: &str) -> Self {
                $(if $crate::wire::same_state(value, $wire) { return Self::$variant; })+
                Self::Unknown(value.to_owned())
            }

            /// The canonical wire spelling.
            #[allow(unreachable_pub, reason = "public in the enums this macro declares")]
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Unknown(s) => s,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                Ok(Self::from_wire(&s))
            }
        }
    };
}
pub(crate) use wire_enum;

/// Whether two states are one: equal once ASCII is upper-cased and `_`, `-` and spaces are
/// dropped. Compared as they are read, without a folded copy of either (an enum's read made
/// one for the value and one for each state it was compared with).
pub(crate) fn same_state(value: &str, wire: &str) -> bool {
    fn folded(s: &str) -> impl Iterator<Item = u8> + '_ {
        s.bytes().filter(|b| !matches!(b, b'_' | b'-' | b' ')).map(|b| b.to_ascii_uppercase())
    }
    folded(value).eq(folded(wire))
}

/// A scalar that AWS sends as a string or as a number (`"cpu": "1024"`, `"cpu": "null"`,
/// `"cpu": 0`). Kept as its text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct LooseString(pub String);

impl<'de> Deserialize<'de> for LooseString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = LooseString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LooseString, E> {
                Ok(LooseString(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LooseString, E> {
                Ok(LooseString(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LooseString, E> {
                Ok(LooseString(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LooseString, E> {
                Ok(LooseString(v.to_string()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A number that arrives as an integer, a float or a numeric string
/// (CodePipeline's `version`: `1`, `4.0`, `"2.0"`).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct LooseNumber(pub f64);

impl<'de> Deserialize<'de> for LooseNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = LooseNumber;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a numeric string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LooseNumber, E> {
                v.trim().parse::<f64>().map(LooseNumber).map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LooseNumber, E> {
                Ok(LooseNumber(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LooseNumber, E> {
                Ok(LooseNumber(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LooseNumber, E> {
                Ok(LooseNumber(v))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A JSON object that AWS sends either as an object or JSON-encoded inside a string
/// (CodeDeploy triggers' `deploymentOverview`, `errorInformation`, `rollbackInformation`).
/// An empty string reads as `T::default()`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Embedded<T>(pub T);

impl<T: Serialize> Serialize for Embedded<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: DeserializeOwned + Default> Deserialize<'de> for Embedded<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either<T> {
            Text(String),
            Object(T),
        }
        match Either::<T>::deserialize(deserializer)? {
            Either::Object(v) => Ok(Embedded(v)),
            Either::Text(s) if s.trim().is_empty() => Ok(Embedded(T::default())),
            Either::Text(s) => {
                serde_json::from_str(&s).map(Embedded).map_err(|e| de::Error::custom(format!("embedded JSON: {e}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    wire_enum! {
        pub(crate) enum Demo { InProgress = "IN_PROGRESS", Done = "DONE" }
    }

    #[test]
    fn states_fold_case_and_separators_and_keep_unknowns() {
        assert_eq!(Demo::from_wire("InProgress"), Demo::InProgress);
        assert_eq!(Demo::from_wire("in_progress"), Demo::InProgress);
        assert_eq!(Demo::from_wire("Done"), Demo::Done);
        assert_eq!(Demo::from_wire("Paused"), Demo::Unknown("Paused".into()));
        assert_eq!(Demo::from_wire("in-progress "), Demo::InProgress);
        assert_eq!(Demo::from_wire("IN_PROGRESSX"), Demo::Unknown("IN_PROGRESSX".into()), "not a prefix");
        assert_eq!(Demo::from_wire("IN_PROGRES"), Demo::Unknown("IN_PROGRES".into()));
        assert_eq!(Demo::from_wire("DONÉ"), Demo::Unknown("DONÉ".into()));
        assert_eq!(Demo::from_wire(""), Demo::Unknown(String::new()));
        assert_eq!(serde_json::to_string(&Demo::InProgress).unwrap(), "\"IN_PROGRESS\"");
    }

    #[test]
    fn loose_scalars() {
        let n: Vec<LooseNumber> = serde_json::from_str(r#"[1, 4.0, "2.0"]"#).unwrap();
        assert_eq!(n, vec![LooseNumber(1.0), LooseNumber(4.0), LooseNumber(2.0)]);
        assert!(serde_json::from_str::<LooseNumber>(r#""two""#).is_err());
        let s: Vec<LooseString> = serde_json::from_str(r#"["null", 0, "1024"]"#).unwrap();
        assert_eq!(s[0].0, "null");
        assert_eq!(s[1].0, "0");
    }

    #[test]
    fn embedded_json_in_both_forms() {
        #[derive(Deserialize, Default, Debug, PartialEq)]
        struct E {
            a: Option<u32>,
        }
        let x: Embedded<E> = serde_json::from_str(r#""{\"a\":1}""#).unwrap();
        assert_eq!(x.0.a, Some(1));
        let y: Embedded<E> = serde_json::from_str(r#"{"a":2}"#).unwrap();
        assert_eq!(y.0.a, Some(2));
        let z: Embedded<E> = serde_json::from_str(r#""""#).unwrap();
        assert_eq!(z.0.a, None);
        assert!(serde_json::from_str::<Embedded<E>>(r#""{not json""#).is_err());
    }
}
