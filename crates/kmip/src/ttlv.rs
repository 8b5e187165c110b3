//! TTLV: the Tag-Type-Length-Value encoding of every KMIP message.
//!
//! Each item is a 3-byte tag, a 1-byte type, a 4-byte big-endian length and the value, padded
//! with zeros to a multiple of eight bytes. The decoder reads untrusted bytes from the network,
//! so it checks every length against what is left and limits nesting, and never panics.

use crate::error::Error;
use crate::tag::Tag;

/// The largest message the decoder accepts; key servers' answers to Query are a few kilobytes.
pub const MAX_MESSAGE: usize = 1 << 20;

/// The deepest nesting of structures the decoder accepts.
pub const MAX_DEPTH: usize = 32;

/// One TTLV item: a tag and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The item's tag.
    pub tag: Tag,
    /// The item's value.
    pub value: Value,
}

/// A TTLV value of one of the ten KMIP types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// 0x01: a sequence of items.
    Structure(Vec<Item>),
    /// 0x02: a 32-bit signed integer.
    Integer(i32),
    /// 0x03: a 64-bit signed integer.
    LongInteger(i64),
    /// 0x04: a two's-complement big-endian integer, a multiple of eight bytes long.
    BigInteger(Vec<u8>),
    /// 0x05: an enumeration value.
    Enumeration(u32),
    /// 0x06: a boolean.
    Boolean(bool),
    /// 0x07: UTF-8 text.
    TextString(String),
    /// 0x08: bytes.
    ByteString(Vec<u8>),
    /// 0x09: seconds since the Unix epoch.
    DateTime(i64),
    /// 0x0A: a duration in seconds.
    Interval(u32),
}

impl Value {
    fn type_byte(&self) -> u8 {
        match self {
            Value::Structure(_) => 0x01,
            Value::Integer(_) => 0x02,
            Value::LongInteger(_) => 0x03,
            Value::BigInteger(_) => 0x04,
            Value::Enumeration(_) => 0x05,
            Value::Boolean(_) => 0x06,
            Value::TextString(_) => 0x07,
            Value::ByteString(_) => 0x08,
            Value::DateTime(_) => 0x09,
            Value::Interval(_) => 0x0A,
        }
    }
}

impl Item {
    /// An item with the given tag and value.
    pub fn new(tag: Tag, value: Value) -> Item {
        Item { tag, value }
    }

    /// A structure item.
    pub fn structure(tag: Tag, items: Vec<Item>) -> Item {
        Item::new(tag, Value::Structure(items))
    }

    /// The children of a structure, or an empty slice for any other type.
    pub fn children(&self) -> &[Item] {
        match &self.value {
            Value::Structure(items) => items,
            _ => &[],
        }
    }

    /// The first child with this tag.
    pub fn child(&self, tag: Tag) -> Option<&Item> {
        self.children().iter().find(|i| i.tag == tag)
    }

    /// Every child with this tag, in order.
    pub fn children_with(&self, tag: Tag) -> impl Iterator<Item = &Item> {
        self.children().iter().filter(move |i| i.tag == tag)
    }

    /// The item encoded as TTLV bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.tag.to_bytes());
        out.push(self.value.type_byte());
        let len_at = out.len();
        out.extend_from_slice(&[0; 4]);
        let start = out.len();
        match &self.value {
            Value::Structure(items) => items.iter().for_each(|i| i.encode_into(out)),
            Value::Integer(v) => out.extend_from_slice(&v.to_be_bytes()),
            Value::Enumeration(v) | Value::Interval(v) => out.extend_from_slice(&v.to_be_bytes()),
            Value::LongInteger(v) | Value::DateTime(v) => out.extend_from_slice(&v.to_be_bytes()),
            Value::Boolean(v) => out.extend_from_slice(&u64::from(*v).to_be_bytes()),
            Value::BigInteger(v) | Value::ByteString(v) => out.extend_from_slice(v),
            Value::TextString(v) => out.extend_from_slice(v.as_bytes()),
        }
        let length = out.len() - start;
        // A message over 4 GiB cannot be built from what certherd sends; saturate rather than wrap.
        let wire = u32::try_from(length).unwrap_or(u32::MAX);
        out[len_at..len_at + 4].copy_from_slice(&wire.to_be_bytes());
        out.resize(start + padded(length), 0);
    }

    /// Decodes exactly one item from `bytes`; anything left over is an error.
    pub fn decode(bytes: &[u8]) -> Result<Item, Error> {
        if bytes.len() > MAX_MESSAGE {
            return Err(Error::TooLarge {
                length: bytes.len(),
                limit: MAX_MESSAGE,
            });
        }
        let (item, used) = decode_at(bytes, 0, 0)?;
        if used != bytes.len() {
            return Err(Error::TrailingBytes {
                extra: bytes.len() - used,
            });
        }
        Ok(item)
    }
}

fn padded(length: usize) -> usize {
    length.div_ceil(8) * 8
}

/// The total size of a message, header included, from its first eight bytes.
///
/// A transport reads the header, asks this how much to read, then reads the rest; it refuses
/// anything but a structure and anything over [`MAX_MESSAGE`], so a hostile peer cannot make it
/// allocate gigabytes.
pub fn message_length(header: &[u8; 8]) -> Result<usize, Error> {
    if header[3] != 0x01 {
        return Err(Error::Unexpected {
            context: "message",
            expected: "a structure (type 0x01)",
        });
    }
    let length = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    let total = 8 + length;
    if total > MAX_MESSAGE {
        return Err(Error::TooLarge {
            length: total,
            limit: MAX_MESSAGE,
        });
    }
    if !length.is_multiple_of(8) {
        return Err(Error::Malformed {
            offset: 0,
            what: "structure length is not a multiple of 8",
        });
    }
    Ok(total)
}

fn take(bytes: &[u8], offset: usize, n: usize) -> Result<&[u8], Error> {
    let end = offset.checked_add(n).filter(|e| *e <= bytes.len());
    match end {
        Some(end) => Ok(&bytes[offset..end]),
        None => Err(Error::Truncated {
            offset,
            needed: n - (bytes.len().saturating_sub(offset)),
        }),
    }
}

fn fixed<const N: usize>(value: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&value[..N]);
    out
}

/// Decodes one item starting at `offset`; returns it and the offset just past its padding.
fn decode_at(bytes: &[u8], offset: usize, depth: usize) -> Result<(Item, usize), Error> {
    if depth > MAX_DEPTH {
        return Err(Error::TooDeep { limit: MAX_DEPTH });
    }
    let head = take(bytes, offset, 8)?;
    let tag = Tag(u32::from_be_bytes([0, head[0], head[1], head[2]]));
    let item_type = head[3];
    let length = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    let len = length as usize;
    let body_at = offset + 8;
    let expect = |expected: u32| {
        if length == expected {
            Ok(())
        } else {
            Err(Error::BadLength {
                offset,
                item_type,
                length,
                expected,
            })
        }
    };
    let value_bytes = take(bytes, body_at, len)?;
    let end = body_at.checked_add(padded(len)).ok_or(Error::Truncated {
        offset: body_at,
        needed: padded(len),
    })?;
    let padding = take(bytes, body_at + len, padded(len) - len)?;
    if padding.iter().any(|b| *b != 0) {
        return Err(Error::Malformed {
            offset,
            what: "non-zero padding",
        });
    }
    let value = match item_type {
        0x01 => {
            if !len.is_multiple_of(8) {
                return Err(Error::Malformed {
                    offset,
                    what: "structure length is not a multiple of 8",
                });
            }
            let mut items = Vec::new();
            let mut at = body_at;
            let stop = body_at + len;
            while at < stop {
                // Children are decoded against the structure's own bytes, so none can run past it.
                let (item, next) = decode_at(&bytes[..stop], at, depth + 1)?;
                items.push(item);
                at = next;
            }
            Value::Structure(items)
        }
        0x02 => {
            expect(4)?;
            Value::Integer(i32::from_be_bytes(fixed(value_bytes)))
        }
        0x03 => {
            expect(8)?;
            Value::LongInteger(i64::from_be_bytes(fixed(value_bytes)))
        }
        0x04 => {
            if !len.is_multiple_of(8) {
                return Err(Error::Malformed {
                    offset,
                    what: "big integer length is not a multiple of 8",
                });
            }
            Value::BigInteger(value_bytes.to_vec())
        }
        0x05 => {
            expect(4)?;
            Value::Enumeration(u32::from_be_bytes(fixed(value_bytes)))
        }
        0x06 => {
            expect(8)?;
            match u64::from_be_bytes(fixed(value_bytes)) {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                _ => {
                    return Err(Error::Malformed {
                        offset,
                        what: "boolean is neither 0 nor 1",
                    })
                }
            }
        }
        0x07 => match std::str::from_utf8(value_bytes) {
            Ok(s) => Value::TextString(s.to_owned()),
            Err(_) => return Err(Error::NotUtf8 { offset }),
        },
        0x08 => Value::ByteString(value_bytes.to_vec()),
        0x09 => {
            expect(8)?;
            Value::DateTime(i64::from_be_bytes(fixed(value_bytes)))
        }
        0x0A => {
            expect(4)?;
            Value::Interval(u32::from_be_bytes(fixed(value_bytes)))
        }
        other => {
            return Err(Error::UnknownType {
                offset,
                item_type: other,
            })
        }
    };
    Ok((Item { tag, value }, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const T: Tag = Tag(0x42_0020);

    /// The encoding examples of the KMIP 1.x specification, section 9.1.2.
    #[test]
    fn specification_examples_round_trip() {
        let cases = [
            (Value::Integer(8), "420020 02 00000004 00000008 00000000"),
            (Value::LongInteger(123_456_789_000_000_000), "420020 03 00000008 01B69B4BA5749200"),
            (
                Value::BigInteger(hex("0000000003FD35EB 6BC2DF4618080000")),
                "420020 04 00000010 0000000003FD35EB 6BC2DF4618080000",
            ),
            (Value::Enumeration(255), "420020 05 00000004 000000FF 00000000"),
            (Value::Boolean(true), "420020 06 00000008 0000000000000001"),
            (
                Value::TextString("Hello World".into()),
                "420020 07 0000000B 48656C6C6F20576F 726C640000000000",
            ),
            (Value::ByteString(vec![1, 2, 3]), "420020 08 00000003 0102030000000000"),
            (Value::DateTime(0x47DA_67F8), "420020 09 00000008 0000000047DA67F8"),
            (Value::Interval(864_000), "420020 0A 00000004 000D2F00 00000000"),
            (
                Value::Structure(vec![
                    Item::new(Tag(0x42_0004), Value::Enumeration(254)),
                    Item::new(Tag(0x42_0005), Value::Integer(255)),
                ]),
                "420020 01 00000020 420004 05 00000004 000000FE 00000000 420005 02 00000004 000000FF 00000000",
            ),
        ];
        for (value, wire) in cases {
            let item = Item::new(T, value);
            assert_eq!(item.encode(), hex(wire), "{item:?}");
            assert_eq!(Item::decode(&hex(wire)).unwrap(), item);
        }
    }

    #[test]
    fn refuses_malformed_input_with_the_reason() {
        // Truncated value.
        assert!(matches!(
            Item::decode(&hex("420020 02 00000004 0000")),
            Err(Error::Truncated { .. })
        ));
        // Integer with the wrong length.
        assert!(matches!(
            Item::decode(&hex("420020 02 00000008 0000000000000008")),
            Err(Error::BadLength { expected: 4, .. })
        ));
        // Non-zero padding.
        assert!(matches!(
            Item::decode(&hex("420020 02 00000004 00000008 00000001")),
            Err(Error::Malformed { .. })
        ));
        // A boolean of 2.
        assert!(matches!(
            Item::decode(&hex("420020 06 00000008 0000000000000002")),
            Err(Error::Malformed { .. })
        ));
        // Unknown type.
        assert!(matches!(
            Item::decode(&hex("420020 0B 00000000")),
            Err(Error::UnknownType {
                item_type: 0x0B,
                ..
            })
        ));
        // A child that claims to run past its structure.
        assert!(matches!(
            Item::decode(&hex(
                "420020 01 00000008 420004 07 00000010 0000000000000000 0000000000000000"
            )),
            Err(Error::Truncated { .. })
        ));
        // Trailing bytes.
        assert!(matches!(
            Item::decode(&hex("420020 02 00000004 00000008 00000000 00")),
            Err(Error::TrailingBytes { extra: 1 })
        ));
        // Invalid UTF-8.
        assert!(matches!(
            Item::decode(&hex("420020 07 00000001 FF00000000000000")),
            Err(Error::NotUtf8 { .. })
        ));
    }

    #[test]
    fn nesting_is_limited() {
        let mut item = Item::new(T, Value::Integer(1));
        for _ in 0..(MAX_DEPTH + 2) {
            item = Item::structure(T, vec![item]);
        }
        assert!(matches!(
            Item::decode(&item.encode()),
            Err(Error::TooDeep { .. })
        ));
    }

    #[test]
    fn message_length_reads_the_header() {
        let msg =
            Item::structure(Tag::RESPONSE_MESSAGE, vec![Item::new(T, Value::Integer(1))]).encode();
        let header: [u8; 8] = msg[..8].try_into().unwrap();
        assert_eq!(message_length(&header).unwrap(), msg.len());
        assert!(message_length(&hex("42007B 02 00000004")[..8].try_into().unwrap()).is_err());
        assert!(matches!(
            message_length(&hex("42007B 01 7FFFFFF8").try_into().unwrap()),
            Err(Error::TooLarge { .. })
        ));
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<i32>().prop_map(Value::Integer),
            any::<i64>().prop_map(Value::LongInteger),
            proptest::collection::vec(any::<u8>(), 0..3)
                .prop_map(|v| Value::BigInteger(v.repeat(8))),
            any::<u32>().prop_map(Value::Enumeration),
            any::<bool>().prop_map(Value::Boolean),
            ".{0,20}".prop_map(Value::TextString),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(Value::ByteString),
            any::<i64>().prop_map(Value::DateTime),
            any::<u32>().prop_map(Value::Interval),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            proptest::collection::vec((0x42_0000u32..0x42_00FF, inner), 0..6).prop_map(|items| {
                Value::Structure(
                    items
                        .into_iter()
                        .map(|(t, v)| Item::new(Tag(t), v))
                        .collect(),
                )
            })
        })
    }

    proptest! {
        #[test]
        fn any_item_round_trips(tag in 0x42_0000u32..0x54_FFFF, value in arb_value()) {
            let item = Item::new(Tag(tag), value);
            let wire = item.encode();
            prop_assert_eq!(wire.len() % 8, 0);
            prop_assert_eq!(Item::decode(&wire).unwrap(), item);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Item::decode(&bytes);
        }

        #[test]
        fn mutated_messages_never_panic(value in arb_value(), at in any::<usize>(), byte in any::<u8>()) {
            let mut wire = Item::new(T, value).encode();
            let i = at % wire.len();
            wire[i] = byte;
            let _ = Item::decode(&wire);
            let _ = crate::Response::parse(&wire);
        }
    }
}
