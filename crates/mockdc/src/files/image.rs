//! Image dimensions from a file's first bytes (PNG's IHDR, JPEG's SOF marker), so uploaded
//! photos get a `photoSize` with their real width and height. Anything else gets
//! [`DEFAULT_SIDE`] × [`DEFAULT_SIDE`]: the mock does not decode or re-encode images.

/// How many leading bytes [`dimensions`] looks at (JPEG EXIF blocks can push SOF far in).
pub const HEAD_LEN: usize = 256 * 1024;
/// The side used when the format is not recognised.
pub const DEFAULT_SIDE: i32 = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Unknown,
}

/// (format, width, height) of an image from its first bytes.
pub fn dimensions(head: &[u8]) -> (Format, i32, i32) {
    if let Some((w, h)) = png(head) {
        return (Format::Png, w, h);
    }
    if let Some((w, h)) = jpeg(head) {
        return (Format::Jpeg, w, h);
    }
    (Format::Unknown, DEFAULT_SIDE, DEFAULT_SIDE)
}

fn be32(bytes: &[u8]) -> i32 {
    i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

fn png(head: &[u8]) -> Option<(i32, i32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if head.len() < 24 || !head.starts_with(SIGNATURE) || &head[12..16] != b"IHDR" {
        return None;
    }
    Some((be32(&head[16..20]), be32(&head[20..24])))
}

fn jpeg(head: &[u8]) -> Option<(i32, i32)> {
    if !head.starts_with(&[0xff, 0xd8]) {
        return None;
    }
    let mut at = 2;
    while at + 4 <= head.len() {
        if head[at] != 0xff {
            return None;
        }
        let marker = head[at + 1];
        if marker == 0xff {
            at += 1;
            continue;
        }
        let len = u16::from_be_bytes([head[at + 2], head[at + 3]]) as usize;
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
        if (0xc0..=0xcf).contains(&marker) && ![0xc4, 0xc8, 0xcc].contains(&marker) {
            let sof = head.get(at + 5..at + 9)?;
            let h = u16::from_be_bytes([sof[0], sof[1]]) as i32;
            let w = u16::from_be_bytes([sof[2], sof[3]]) as i32;
            return Some((w, h));
        }
        at += 2 + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_and_jpeg_headers_and_defaults() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend(640i32.to_be_bytes());
        png.extend(480i32.to_be_bytes());
        assert_eq!(dimensions(&png), (Format::Png, 640, 480));
        // SOI, an APP0 segment, then SOF0 with height 300 and width 200.
        let jpeg = [
            0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x01,
            0x2c, 0x00, 0xc8,
        ];
        assert_eq!(dimensions(&jpeg), (Format::Jpeg, 200, 300));
        assert_eq!(dimensions(b"plain"), (Format::Unknown, 512, 512));
    }
}
