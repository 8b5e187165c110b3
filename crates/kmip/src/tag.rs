//! The KMIP tags and enumeration values certherd uses (KMIP 1.x specification, section 9.1.3).

/// A three-byte KMIP tag, such as 0x42006A for Protocol Version Major.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u32);

impl Tag {
    /// Batch Count.
    pub const BATCH_COUNT: Tag = Tag(0x42_000D);
    /// Batch Item.
    pub const BATCH_ITEM: Tag = Tag(0x42_000F);
    /// Operation.
    pub const OPERATION: Tag = Tag(0x42_005C);
    /// Protocol Version.
    pub const PROTOCOL_VERSION: Tag = Tag(0x42_0069);
    /// Protocol Version Major.
    pub const PROTOCOL_VERSION_MAJOR: Tag = Tag(0x42_006A);
    /// Protocol Version Minor.
    pub const PROTOCOL_VERSION_MINOR: Tag = Tag(0x42_006B);
    /// Query Function.
    pub const QUERY_FUNCTION: Tag = Tag(0x42_0074);
    /// Request Header.
    pub const REQUEST_HEADER: Tag = Tag(0x42_0077);
    /// Request Message.
    pub const REQUEST_MESSAGE: Tag = Tag(0x42_0078);
    /// Request Payload.
    pub const REQUEST_PAYLOAD: Tag = Tag(0x42_0079);
    /// Response Header.
    pub const RESPONSE_HEADER: Tag = Tag(0x42_007A);
    /// Response Message.
    pub const RESPONSE_MESSAGE: Tag = Tag(0x42_007B);
    /// Response Payload.
    pub const RESPONSE_PAYLOAD: Tag = Tag(0x42_007C);
    /// Result Message.
    pub const RESULT_MESSAGE: Tag = Tag(0x42_007D);
    /// Result Reason.
    pub const RESULT_REASON: Tag = Tag(0x42_007E);
    /// Result Status.
    pub const RESULT_STATUS: Tag = Tag(0x42_007F);
    /// Server Information.
    pub const SERVER_INFORMATION: Tag = Tag(0x42_0088);
    /// Time Stamp.
    pub const TIME_STAMP: Tag = Tag(0x42_0092);
    /// Vendor Identification.
    pub const VENDOR_IDENTIFICATION: Tag = Tag(0x42_009D);

    /// The tag as its three wire bytes.
    pub fn to_bytes(self) -> [u8; 3] {
        let b = self.0.to_be_bytes();
        [b[1], b[2], b[3]]
    }
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{:06X}", self.0)
    }
}

/// KMIP operations certherd sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// Query (0x18): what the server supports.
    Query,
    /// Discover Versions (0x1E): which protocol versions the server speaks.
    DiscoverVersions,
}

impl Operation {
    /// The enumeration value on the wire.
    pub fn code(self) -> u32 {
        match self {
            Operation::Query => 0x18,
            Operation::DiscoverVersions => 0x1E,
        }
    }

    /// The operation for a wire value, if certherd knows it.
    pub fn from_code(code: u32) -> Option<Operation> {
        match code {
            0x18 => Some(Operation::Query),
            0x1E => Some(Operation::DiscoverVersions),
            _ => None,
        }
    }
}

/// Query Function values (KMIP 1.x, 9.1.3.2.24).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryFunction {
    /// Query Operations.
    Operations,
    /// Query Objects.
    Objects,
    /// Query Server Information.
    ServerInformation,
}

impl QueryFunction {
    /// The enumeration value on the wire.
    pub fn code(self) -> u32 {
        match self {
            QueryFunction::Operations => 1,
            QueryFunction::Objects => 2,
            QueryFunction::ServerInformation => 3,
        }
    }
}

/// The name of a Result Reason value (KMIP 1.x, 9.1.3.2.29), for messages admins can act on.
pub fn result_reason_name(code: u32) -> &'static str {
    match code {
        0x01 => "Item Not Found",
        0x02 => "Response Too Large",
        0x03 => "Authentication Not Successful",
        0x04 => "Invalid Message",
        0x05 => "Operation Not Supported",
        0x06 => "Missing Data",
        0x07 => "Invalid Field",
        0x08 => "Feature Not Supported",
        0x09 => "Operation Canceled By Requester",
        0x0A => "Cryptographic Failure",
        0x0B => "Illegal Operation",
        0x0C => "Permission Denied",
        0x0D => "Object Archived",
        0x0E => "Index Out of Bounds",
        0x0F => "Application Namespace Not Supported",
        0x10 => "Key Format Type Not Supported",
        0x11 => "Key Compression Type Not Supported",
        0x12 => "Encoding Option Error",
        0x100 => "General Failure",
        _ => "Unknown Reason",
    }
}
