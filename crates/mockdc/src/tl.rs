//! The MTProto service constructors that grammers-tl-types does not generate (`rpc_result`,
//! `msg_container`, `gzip_packed`, `rpc_error` boxed) and small helpers to read and write them.

use std::io::{Read, Write};

use flate2::Compression;
use grammers_tl_types::Serializable;

pub const RPC_RESULT: u32 = 0xf35c6d01;
pub const RPC_ERROR: u32 = 0x2144ca19;
pub const MSG_CONTAINER: u32 = 0x73f1f8dc;
pub const GZIP_PACKED: u32 = 0x3072cfa1;
pub const MSG_COPY: u32 = 0xe06046b2;
pub const HTTP_WAIT: u32 = 0x9299359f;

/// Telegram refuses containers with more messages than this.
pub const MAX_CONTAINER_MESSAGES: usize = 1020;
/// Inflated `gzip_packed` payloads are capped so a small bomb cannot take the server's memory.
pub const MAX_INFLATED_BYTES: usize = 16 << 20;
/// Results larger than this are gzipped if that makes them smaller, as Telegram does.
pub const GZIP_THRESHOLD: usize = 1024;

/// The constructor id at the start of a TL body.
pub fn constructor_of(body: &[u8]) -> Option<u32> {
    body.get(..4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
}

/// One message inside a `msg_container`.
#[derive(Debug)]
pub struct ContainedMessage<'a> {
    pub msg_id: i64,
    pub seq_no: i32,
    pub body: &'a [u8],
}

/// Why a container or gzip payload could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ServiceDecodeError {
    #[error("msg_container is truncated")]
    TruncatedContainer,
    #[error("msg_container holds {0} messages, more than the {MAX_CONTAINER_MESSAGES} allowed")]
    ContainerTooLarge(usize),
    #[error("message inside msg_container declares {0} bytes, not a non-negative multiple of 4")]
    BadContainedLength(i32),
    #[error("msg_container nested inside msg_container")]
    NestedContainer,
    #[error("gzip_packed payload is not valid TL bytes")]
    BadGzipBytes,
    #[error("gzip_packed payload does not inflate: {0}")]
    BadGzip(String),
    #[error("gzip_packed payload inflates past {MAX_INFLATED_BYTES} bytes")]
    GzipTooLarge,
}

/// Splits a `msg_container` body (constructor included) into its messages.
pub fn parse_container(body: &[u8]) -> Result<Vec<ContainedMessage<'_>>, ServiceDecodeError> {
    let mut at = 4;
    let read = |at: usize, n: usize| {
        body.get(at..at + n)
            .ok_or(ServiceDecodeError::TruncatedContainer)
    };
    let count = i32::from_le_bytes(read(at, 4)?.try_into().expect("4")) as usize;
    at += 4;
    if count > MAX_CONTAINER_MESSAGES {
        return Err(ServiceDecodeError::ContainerTooLarge(count));
    }
    let mut messages = Vec::with_capacity(count);
    for _ in 0..count {
        let msg_id = i64::from_le_bytes(read(at, 8)?.try_into().expect("8"));
        let seq_no = i32::from_le_bytes(read(at + 8, 4)?.try_into().expect("4"));
        let len = i32::from_le_bytes(read(at + 12, 4)?.try_into().expect("4"));
        if len < 0 || len % 4 != 0 {
            return Err(ServiceDecodeError::BadContainedLength(len));
        }
        let inner = read(at + 16, len as usize)?;
        if constructor_of(inner) == Some(MSG_CONTAINER) {
            return Err(ServiceDecodeError::NestedContainer);
        }
        messages.push(ContainedMessage {
            msg_id,
            seq_no,
            body: inner,
        });
        at += 16 + len as usize;
    }
    Ok(messages)
}

/// Reads a TL `bytes` value at the start of `buf`: returns (value, bytes consumed).
pub fn read_tl_bytes(buf: &[u8]) -> Option<(&[u8], usize)> {
    let first = *buf.first()?;
    let (len, header) = if first < 254 {
        (first as usize, 1)
    } else if first == 254 {
        let b = buf.get(1..4)?;
        (
            b[0] as usize | (b[1] as usize) << 8 | (b[2] as usize) << 16,
            4,
        )
    } else {
        return None;
    };
    let data = buf.get(header..header + len)?;
    let total = (header + len).div_ceil(4) * 4;
    if buf.len() < total {
        return None;
    }
    Some((data, total))
}

/// Inflates a `gzip_packed` body (constructor included).
pub fn unpack_gzip(body: &[u8]) -> Result<Vec<u8>, ServiceDecodeError> {
    let (packed, _) = read_tl_bytes(&body[4..]).ok_or(ServiceDecodeError::BadGzipBytes)?;
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(packed)
        .take(MAX_INFLATED_BYTES as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| ServiceDecodeError::BadGzip(e.to_string()))?;
    if inflated.len() > MAX_INFLATED_BYTES {
        return Err(ServiceDecodeError::GzipTooLarge);
    }
    Ok(inflated)
}

/// Wraps `body` in `gzip_packed` if it is large and that makes it smaller.
pub fn maybe_gzip(body: Vec<u8>) -> Vec<u8> {
    if body.len() < GZIP_THRESHOLD {
        return body;
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), Compression::fast());
    if encoder.write_all(&body).is_err() {
        return body;
    }
    let Ok(packed) = encoder.finish() else {
        return body;
    };
    if packed.len() + 8 >= body.len() {
        return body;
    }
    let mut out = Vec::with_capacity(packed.len() + 12);
    out.extend_from_slice(&GZIP_PACKED.to_le_bytes());
    packed.serialize(&mut out);
    out
}

/// `rpc_result#f35c6d01 req_msg_id:long result:Object`.
pub fn rpc_result(req_msg_id: i64, result: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + result.len());
    out.extend_from_slice(&RPC_RESULT.to_le_bytes());
    out.extend_from_slice(&req_msg_id.to_le_bytes());
    out.extend_from_slice(result);
    out
}

/// `rpc_error#2144ca19 error_code:int error_message:string`.
pub fn rpc_error(code: i32, message: &str) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&RPC_ERROR.to_le_bytes());
    code.serialize(&mut out);
    message.to_string().serialize(&mut out);
    out
}

/// A `msg_container` from already-numbered messages: (msg_id, seq_no, body).
pub fn container(messages: &[(i64, i32, Vec<u8>)]) -> Vec<u8> {
    let size: usize = messages.iter().map(|(_, _, b)| 16 + b.len()).sum();
    let mut out = Vec::with_capacity(8 + size);
    out.extend_from_slice(&MSG_CONTAINER.to_le_bytes());
    out.extend_from_slice(&(messages.len() as i32).to_le_bytes());
    for (msg_id, seq_no, body) in messages {
        out.extend_from_slice(&msg_id.to_le_bytes());
        out.extend_from_slice(&seq_no.to_le_bytes());
        out.extend_from_slice(&(body.len() as i32).to_le_bytes());
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_round_trip_and_limits() {
        let built = container(&[
            (4, 1, vec![1, 0, 0, 0]),
            (8, 2, vec![2, 0, 0, 0, 3, 0, 0, 0]),
        ]);
        let parsed = parse_container(&built).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1].msg_id, 8);
        assert_eq!(parsed[1].body, &[2, 0, 0, 0, 3, 0, 0, 0]);
        assert_eq!(
            parse_container(&built[..built.len() - 1]).unwrap_err(),
            ServiceDecodeError::TruncatedContainer
        );
        let mut huge = MSG_CONTAINER.to_le_bytes().to_vec();
        huge.extend_from_slice(&5000i32.to_le_bytes());
        assert_eq!(
            parse_container(&huge).unwrap_err(),
            ServiceDecodeError::ContainerTooLarge(5000)
        );
        let nested = container(&[(4, 0, built.clone())]);
        assert_eq!(
            parse_container(&nested).unwrap_err(),
            ServiceDecodeError::NestedContainer
        );
    }

    #[test]
    fn gzip_round_trip_and_bomb() {
        let body = vec![7u8; 4096];
        let packed = maybe_gzip(body.clone());
        assert_eq!(constructor_of(&packed), Some(GZIP_PACKED));
        assert_eq!(unpack_gzip(&packed).unwrap(), body);
        // Small bodies stay as they are.
        assert_eq!(maybe_gzip(vec![1, 2, 3, 4]), vec![1, 2, 3, 4]);
        let bomb = maybe_gzip(vec![0u8; MAX_INFLATED_BYTES + 4096]);
        assert_eq!(
            unpack_gzip(&bomb).unwrap_err(),
            ServiceDecodeError::GzipTooLarge
        );
        let mut garbage = GZIP_PACKED.to_le_bytes().to_vec();
        vec![1u8, 2, 3, 4, 5, 6, 7].serialize(&mut garbage);
        assert!(matches!(
            unpack_gzip(&garbage),
            Err(ServiceDecodeError::BadGzip(_))
        ));
    }
}
