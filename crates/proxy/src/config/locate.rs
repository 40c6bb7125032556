//! Finding the line of a key path such as `routers[0].servers[1].tls` in configuration text,
//! so that errors found after parsing can point at the line as parse errors do.
//!
//! serde_yaml keeps no positions in its values, but it does attach one to every error. So the
//! text is walked again, following the path, and an error is raised on purpose at the node the
//! path names; its location is the answer.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The message of the deliberate error; anything else means the path was not found.
const FOUND: &str = "tlswire: located";

/// One step of a key path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The 1-based line of the node `key` names in `text`: a scalar's own line, or for a block
/// mapping or sequence the line of its first entry (the line after its key). When the key is
/// absent, the line of its nearest present ancestor; `None` when not even the first step is.
pub(super) fn line_of(text: &str, key: &str) -> Option<usize> {
    let mut steps = parse_path(key)?;
    while !steps.is_empty() {
        let deserializer = serde_yaml::Deserializer::from_str(text);
        if let Err(e) = Seek(&steps).deserialize(deserializer) {
            if e.to_string().contains(FOUND) {
                return e.location().map(|l| l.line());
            }
        }
        steps.pop();
    }
    None
}

/// `a.b[2][0].c` as steps; `None` for a malformed path.
fn parse_path(key: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    for part in key.split('.') {
        let (name, mut indexes) = part
            .split_once('[')
            .map_or((part, ""), |(n, rest)| (n, rest));
        if name.is_empty() {
            return None;
        }
        steps.push(Step::Key(name.to_owned()));
        while !indexes.is_empty() {
            let (index, rest) = indexes.split_once(']')?;
            steps.push(Step::Index(index.parse().ok()?));
            indexes = rest.strip_prefix('[').unwrap_or(rest);
        }
    }
    Some(steps)
}

/// Follows the remaining steps; at the end, fails with [`FOUND`] on the node itself.
struct Seek<'a>(&'a [Step]);

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.0.is_empty() {
            deserializer.deserialize_any(Here)
        } else {
            deserializer.deserialize_any(self)
        }
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping or a sequence on the key path")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Step::Key(wanted), rest)) = self.0.split_first() else {
            return Err(de::Error::custom("a mapping where the path has an index"));
        };
        while let Some(key) = map.next_key::<String>()? {
            if &key == wanted {
                return map.next_value_seed(Seek(rest));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Err(de::Error::custom("key absent"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Step::Index(wanted), rest)) = self.0.split_first() else {
            return Err(de::Error::custom("a sequence where the path has a key"));
        };
        for _ in 0..*wanted {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Err(de::Error::custom("index absent"));
            }
        }
        match seq.next_element_seed(Seek(rest))? {
            Some(()) => Ok(()),
            None => Err(de::Error::custom("index absent")),
        }
    }
}

/// Fails with [`FOUND`] on whatever node it is given, after the node's first event was read.
struct Here;

impl<'de> Visitor<'de> for Here {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(FOUND))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(FOUND))
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(FOUND))
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(FOUND))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(FOUND))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(FOUND))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(FOUND))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
admin: {port: 1}
routers:
  - label: a
    servers:
      - port: 1
        dstName: svc
      - {port: 2, dstName: x}
    interpreter:
      kind: io.l5d.static
";

    #[test]
    fn paths_parse() {
        assert_eq!(
            parse_path("routers[0].servers[12].tls"),
            Some(vec![
                Step::Key("routers".into()),
                Step::Index(0),
                Step::Key("servers".into()),
                Step::Index(12),
                Step::Key("tls".into()),
            ])
        );
        assert_eq!(
            parse_path("a[1][2]"),
            Some(vec![Step::Key("a".into()), Step::Index(1), Step::Index(2)])
        );
        assert_eq!(parse_path("a[x]"), None);
        assert_eq!(parse_path("a..b"), None);
    }

    #[test]
    fn nodes_are_found_in_block_and_flow_style() {
        assert_eq!(line_of(TEXT, "routers[0].servers[0].dstName"), Some(6));
        assert_eq!(line_of(TEXT, "routers[0].servers[1].dstName"), Some(7));
        assert_eq!(line_of(TEXT, "routers[0].servers[1]"), Some(7));
        assert_eq!(line_of(TEXT, "routers[0].interpreter"), Some(9));
        assert_eq!(line_of(TEXT, "admin.port"), Some(1));
    }

    #[test]
    fn an_absent_key_points_at_its_nearest_ancestor() {
        assert_eq!(line_of(TEXT, "routers[0].servers[0].tls"), Some(5));
        assert_eq!(line_of(TEXT, "routers[0].servers[5].tls"), Some(5));
        assert_eq!(line_of(TEXT, "routers[0].interpreter.tls"), Some(9));
        assert_eq!(line_of(TEXT, "nothing.here"), None);
        assert_eq!(line_of("", "routers"), None);
        assert_eq!(line_of("[1, 2]", "routers[0]"), None);
    }
}
