//! A visitor that counts a YAML document's values and string bytes as the parser
//! replays them (aliases expanded) and stops past the limits, keeping nothing.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::{MAX_EXPANDED_BYTES, MAX_NODES};

#[derive(Default)]
pub(super) struct Counter {
    nodes: Cell<usize>,
    bytes: Cell<usize>,
}

impl Counter {
    fn tick<E: de::Error>(&self, bytes: usize) -> Result<(), E> {
        self.nodes.set(self.nodes.get() + 1);
        self.bytes.set(self.bytes.get() + bytes);
        if self.nodes.get() > MAX_NODES || self.bytes.get() > MAX_EXPANDED_BYTES {
            return Err(E::custom(format!(
                "the file expands to more than {MAX_NODES} values or {} MiB of text (aliases included); Berth reads no more",
                MAX_EXPANDED_BYTES >> 20
            )));
        }
        Ok(())
    }
}

/// Counts one value and everything in it.
pub(super) struct Count<'a>(pub &'a Counter);

impl<'de> DeserializeSeed<'de> for Count<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

macro_rules! scalar {
    ($($name:ident: $t:ty),*) => {$(
        fn $name<E: de::Error>(self, _: $t) -> Result<(), E> {
            self.0.tick(0)
        }
    )*};
}

impl<'de> Visitor<'de> for Count<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    scalar!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_i128: i128,
            visit_u128: u128, visit_f64: f64, visit_char: char);

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.tick(v.len())
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<(), E> {
        self.0.tick(v.len())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.tick(0)
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.0.tick(0)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        Count(self.0).deserialize(d)
    }

    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        Count(self.0).deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.tick(0)?;
        while seq.next_element_seed(Count(self.0))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.tick(0)?;
        while map.next_key_seed(Count(self.0))?.is_some() {
            map.next_value_seed(Count(self.0))?;
        }
        Ok(())
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // A tagged value (`!tag x`): count what it holds.
        let (_, variant) = data.variant_seed(Count(self.0))?;
        de::VariantAccess::newtype_variant_seed(variant, Count(self.0))
    }
}
