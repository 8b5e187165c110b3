//! The one error type of the KMIP codec.

/// What went wrong decoding or interpreting a KMIP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended before an item it announced was complete.
    #[error("KMIP message truncated at byte {offset}: {needed} more bytes expected")]
    Truncated {
        /// Where the missing bytes should have started.
        offset: usize,
        /// How many bytes were still expected.
        needed: usize,
    },
    /// An item's type byte is not one of the ten TTLV types.
    #[error("KMIP item at byte {offset} has unknown type 0x{item_type:02x}")]
    UnknownType {
        /// Where the item starts.
        offset: usize,
        /// The type byte found.
        item_type: u8,
    },
    /// A fixed-size item announced the wrong length.
    #[error("KMIP item at byte {offset} of type 0x{item_type:02x} has length {length}, expected {expected}")]
    BadLength {
        /// Where the item starts.
        offset: usize,
        /// The type byte.
        item_type: u8,
        /// The length found.
        length: u32,
        /// The length that type requires.
        expected: u32,
    },
    /// Padding bytes were not zero, or a Boolean was neither 0 nor 1.
    #[error("KMIP item at byte {offset} is malformed: {what}")]
    Malformed {
        /// Where the item starts.
        offset: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// A text string was not UTF-8.
    #[error("KMIP text string at byte {offset} is not UTF-8")]
    NotUtf8 {
        /// Where the item starts.
        offset: usize,
    },
    /// Structures nested deeper than the decoder accepts.
    #[error("KMIP structures nested deeper than {limit} levels")]
    TooDeep {
        /// The nesting limit.
        limit: usize,
    },
    /// A message announced a size larger than the decoder accepts.
    #[error("KMIP message of {length} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The announced size.
        length: usize,
        /// The accepted maximum.
        limit: usize,
    },
    /// Bytes were left over after the message.
    #[error("{extra} bytes after the end of the KMIP message")]
    TrailingBytes {
        /// How many bytes were left over.
        extra: usize,
    },
    /// A required field was missing or had the wrong type.
    #[error("KMIP {context}: expected {expected}")]
    Unexpected {
        /// Where in the message.
        context: &'static str,
        /// What was expected there.
        expected: &'static str,
    },
}
