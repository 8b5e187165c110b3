//! KMIP request and response messages: building the requests certherd sends and reading
//! what a key server answers.

use crate::error::Error;
use crate::tag::{result_reason_name, Operation, QueryFunction, Tag};
use crate::ttlv::{Item, Value};

/// A KMIP protocol version, such as 1.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProtocolVersion {
    /// The major number.
    pub major: i32,
    /// The minor number.
    pub minor: i32,
}

impl ProtocolVersion {
    /// KMIP 1.2, which every key server certherd has met speaks, and which has Discover
    /// Versions and Query.
    pub const V1_2: ProtocolVersion = ProtocolVersion { major: 1, minor: 2 };

    fn to_item(self) -> Item {
        Item::structure(
            Tag::PROTOCOL_VERSION,
            vec![
                Item::new(Tag::PROTOCOL_VERSION_MAJOR, Value::Integer(self.major)),
                Item::new(Tag::PROTOCOL_VERSION_MINOR, Value::Integer(self.minor)),
            ],
        )
    }

    fn from_item(item: &Item, context: &'static str) -> Result<ProtocolVersion, Error> {
        let int = |tag| match item.child(tag).map(|i| &i.value) {
            Some(Value::Integer(v)) => Ok(*v),
            _ => Err(Error::Unexpected {
                context,
                expected: "Protocol Version Major and Minor integers",
            }),
        };
        Ok(ProtocolVersion {
            major: int(Tag::PROTOCOL_VERSION_MAJOR)?,
            minor: int(Tag::PROTOCOL_VERSION_MINOR)?,
        })
    }
}

impl std::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

fn request(version: ProtocolVersion, operation: Operation, payload: Vec<Item>) -> Vec<u8> {
    Item::structure(
        Tag::REQUEST_MESSAGE,
        vec![
            Item::structure(
                Tag::REQUEST_HEADER,
                vec![
                    version.to_item(),
                    Item::new(Tag::BATCH_COUNT, Value::Integer(1)),
                ],
            ),
            Item::structure(
                Tag::BATCH_ITEM,
                vec![
                    Item::new(Tag::OPERATION, Value::Enumeration(operation.code())),
                    Item::structure(Tag::REQUEST_PAYLOAD, payload),
                ],
            ),
        ],
    )
    .encode()
}

/// A Discover Versions request with an empty payload: the server answers with every version
/// it supports.
pub fn discover_versions_request(version: ProtocolVersion) -> Vec<u8> {
    request(version, Operation::DiscoverVersions, Vec::new())
}

/// A Query request for the given functions.
pub fn query_request(version: ProtocolVersion, functions: &[QueryFunction]) -> Vec<u8> {
    let payload = functions
        .iter()
        .map(|f| Item::new(Tag::QUERY_FUNCTION, Value::Enumeration(f.code())))
        .collect();
    request(version, Operation::Query, payload)
}

/// The Result Status of one batch item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResultStatus {
    /// 0: the operation succeeded.
    Success,
    /// 1: the operation failed; the reason says why.
    OperationFailed,
    /// 2: the server will answer later.
    OperationPending,
    /// 3: the operation was undone.
    OperationUndone,
    /// A value the specification does not define.
    Other(u32),
}

impl ResultStatus {
    fn from_code(code: u32) -> ResultStatus {
        match code {
            0 => ResultStatus::Success,
            1 => ResultStatus::OperationFailed,
            2 => ResultStatus::OperationPending,
            3 => ResultStatus::OperationUndone,
            other => ResultStatus::Other(other),
        }
    }
}

/// One answered batch item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchResult {
    /// The operation, when the server echoed it (it must for success).
    pub operation: Option<u32>,
    /// Whether it succeeded.
    pub status: ResultStatus,
    /// The Result Reason code, on failure.
    pub reason: Option<u32>,
    /// The server's free-text Result Message, on failure.
    pub message: Option<String>,
    /// The Response Payload.
    pub payload: Option<Item>,
}

impl BatchResult {
    /// The reason's name, e.g. "Permission Denied", or "Unknown Reason".
    pub fn reason_name(&self) -> &'static str {
        self.reason
            .map(result_reason_name)
            .unwrap_or("no reason given")
    }

    /// The protocol versions listed in a Discover Versions payload.
    pub fn versions(&self) -> Result<Vec<ProtocolVersion>, Error> {
        match &self.payload {
            None => Ok(Vec::new()),
            Some(p) => p
                .children_with(Tag::PROTOCOL_VERSION)
                .map(|v| ProtocolVersion::from_item(v, "Discover Versions payload"))
                .collect(),
        }
    }

    /// The Vendor Identification in a Query payload, if the server gave one.
    pub fn vendor(&self) -> Option<&str> {
        match self
            .payload
            .as_ref()?
            .child(Tag::VENDOR_IDENTIFICATION)
            .map(|i| &i.value)
        {
            Some(Value::TextString(s)) => Some(s),
            _ => None,
        }
    }
}

/// A parsed Response Message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The protocol version the server answered with.
    pub version: ProtocolVersion,
    /// The server's Time Stamp, seconds since the Unix epoch.
    pub time_stamp: i64,
    /// One result per batch item.
    pub items: Vec<BatchResult>,
}

impl Response {
    /// Parses a whole Response Message from untrusted bytes.
    pub fn parse(bytes: &[u8]) -> Result<Response, Error> {
        let msg = Item::decode(bytes)?;
        if msg.tag != Tag::RESPONSE_MESSAGE || !matches!(msg.value, Value::Structure(_)) {
            return Err(Error::Unexpected {
                context: "message",
                expected: "a Response Message structure",
            });
        }
        let header = msg.child(Tag::RESPONSE_HEADER).ok_or(Error::Unexpected {
            context: "Response Message",
            expected: "a Response Header",
        })?;
        let version = ProtocolVersion::from_item(
            header
                .child(Tag::PROTOCOL_VERSION)
                .ok_or(Error::Unexpected {
                    context: "Response Header",
                    expected: "a Protocol Version",
                })?,
            "Response Header",
        )?;
        let time_stamp = match header.child(Tag::TIME_STAMP).map(|i| &i.value) {
            Some(Value::DateTime(t)) => *t,
            _ => {
                return Err(Error::Unexpected {
                    context: "Response Header",
                    expected: "a Time Stamp",
                })
            }
        };
        let items = msg
            .children_with(Tag::BATCH_ITEM)
            .map(batch_result)
            .collect::<Result<Vec<_>, _>>()?;
        if items.is_empty() {
            return Err(Error::Unexpected {
                context: "Response Message",
                expected: "at least one Batch Item",
            });
        }
        Ok(Response {
            version,
            time_stamp,
            items,
        })
    }
}

fn batch_result(item: &Item) -> Result<BatchResult, Error> {
    let enumeration = |tag| match item.child(tag).map(|i| &i.value) {
        Some(Value::Enumeration(v)) => Ok(Some(*v)),
        None => Ok(None),
        Some(_) => Err(Error::Unexpected {
            context: "Batch Item",
            expected: "an enumeration",
        }),
    };
    let status = enumeration(Tag::RESULT_STATUS)?.ok_or(Error::Unexpected {
        context: "Batch Item",
        expected: "a Result Status",
    })?;
    let message = match item.child(Tag::RESULT_MESSAGE).map(|i| &i.value) {
        Some(Value::TextString(s)) => Some(s.clone()),
        None => None,
        Some(_) => {
            return Err(Error::Unexpected {
                context: "Batch Item",
                expected: "a text Result Message",
            })
        }
    };
    Ok(BatchResult {
        operation: enumeration(Tag::OPERATION)?,
        status: ResultStatus::from_code(status),
        reason: enumeration(Tag::RESULT_REASON)?,
        message,
        payload: item.child(Tag::RESPONSE_PAYLOAD).cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(batch: Vec<Item>) -> Vec<u8> {
        Item::structure(
            Tag::RESPONSE_MESSAGE,
            vec![
                Item::structure(
                    Tag::RESPONSE_HEADER,
                    vec![
                        ProtocolVersion::V1_2.to_item(),
                        Item::new(Tag::TIME_STAMP, Value::DateTime(1_700_000_000)),
                        Item::new(Tag::BATCH_COUNT, Value::Integer(1)),
                    ],
                ),
                Item::structure(Tag::BATCH_ITEM, batch),
            ],
        )
        .encode()
    }

    #[test]
    fn discover_versions_request_has_the_specified_shape() {
        let wire = discover_versions_request(ProtocolVersion::V1_2);
        let msg = Item::decode(&wire).unwrap();
        assert_eq!(msg.tag, Tag::REQUEST_MESSAGE);
        let batch = msg.child(Tag::BATCH_ITEM).unwrap();
        assert_eq!(
            batch.child(Tag::OPERATION).unwrap().value,
            Value::Enumeration(0x1E)
        );
        assert_eq!(batch.child(Tag::REQUEST_PAYLOAD).unwrap().children(), &[]);
        // The first bytes as the specification's use case 12.1 shows them.
        assert_eq!(&wire[..4], &[0x42, 0x00, 0x78, 0x01]);
        assert_eq!(
            wire.len(),
            8 + u32::from_be_bytes(wire[4..8].try_into().unwrap()) as usize
        );
    }

    #[test]
    fn query_request_lists_the_functions() {
        let wire = query_request(
            ProtocolVersion::V1_2,
            &[QueryFunction::Operations, QueryFunction::ServerInformation],
        );
        let msg = Item::decode(&wire).unwrap();
        let payload = msg
            .child(Tag::BATCH_ITEM)
            .unwrap()
            .child(Tag::REQUEST_PAYLOAD)
            .unwrap();
        let f: Vec<_> = payload
            .children_with(Tag::QUERY_FUNCTION)
            .map(|i| i.value.clone())
            .collect();
        assert_eq!(f, vec![Value::Enumeration(1), Value::Enumeration(3)]);
    }

    #[test]
    fn reads_a_successful_discover_versions_response() {
        let wire = response(vec![
            Item::new(Tag::OPERATION, Value::Enumeration(0x1E)),
            Item::new(Tag::RESULT_STATUS, Value::Enumeration(0)),
            Item::structure(
                Tag::RESPONSE_PAYLOAD,
                vec![
                    ProtocolVersion { major: 2, minor: 0 }.to_item(),
                    ProtocolVersion { major: 1, minor: 4 }.to_item(),
                ],
            ),
        ]);
        let r = Response::parse(&wire).unwrap();
        assert_eq!(r.version, ProtocolVersion::V1_2);
        assert_eq!(r.time_stamp, 1_700_000_000);
        assert_eq!(r.items[0].status, ResultStatus::Success);
        let v: Vec<String> = r.items[0]
            .versions()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(v, ["2.0", "1.4"]);
    }

    #[test]
    fn reads_a_failure_with_reason_and_message() {
        let wire = response(vec![
            Item::new(Tag::RESULT_STATUS, Value::Enumeration(1)),
            Item::new(Tag::RESULT_REASON, Value::Enumeration(0x0C)),
            Item::new(Tag::RESULT_MESSAGE, Value::TextString("not allowed".into())),
        ]);
        let r = Response::parse(&wire).unwrap();
        assert_eq!(r.items[0].status, ResultStatus::OperationFailed);
        assert_eq!(r.items[0].reason_name(), "Permission Denied");
        assert_eq!(r.items[0].message.as_deref(), Some("not allowed"));
    }

    #[test]
    fn refuses_a_request_or_a_response_without_a_header() {
        assert!(Response::parse(&discover_versions_request(ProtocolVersion::V1_2)).is_err());
        let bare = Item::structure(Tag::RESPONSE_MESSAGE, vec![]).encode();
        assert!(matches!(
            Response::parse(&bare),
            Err(Error::Unexpected {
                expected: "a Response Header",
                ..
            })
        ));
    }
}
