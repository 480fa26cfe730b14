//! Telling what a non-text file is from its first bytes, so that `read_file` can say
//! "a PNG image, 640×480 pixels" rather than only "binary".

/// What the first bytes of a file say it is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An image: its format and, when the header gives them, its pixel dimensions.
    Image {
        format: &'static str,
        size: Option<(u32, u32)>,
    },
    /// Another known binary format, phrased for a sentence ("a PDF document").
    Binary(&'static str),
    /// Text in UTF-16 (it starts with a UTF-16 byte-order mark).
    Utf16,
}

/// Recognises a file by its first bytes (`head`, a few kilobytes).
pub(crate) fn sniff(head: &[u8]) -> Option<Kind> {
    let image = |format, size| Some(Kind::Image { format, size });
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return image("PNG", png_size(head));
    }
    if head.starts_with(b"\xff\xd8\xff") {
        return image("JPEG", jpeg_size(head));
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        let size = Some((u32::from(le16(head, 6)?), u32::from(le16(head, 8)?)));
        return image("GIF", size);
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return image("WebP", webp_size(head));
    }
    if head.starts_with(b"BM") && head.len() >= 26 {
        let width = le32(head, 18)?;
        let height = le32(head, 22)? as i32;
        return image("BMP", Some((width, height.unsigned_abs())));
    }
    if head.starts_with(b"\0\0\x01\0") && head.len() >= 6 {
        return image("ICO", None);
    }
    if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        return image("TIFF", None);
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        match &head[8..12] {
            b"avif" | b"avis" => return image("AVIF", None),
            b"heic" | b"heix" | b"mif1" => return image("HEIC", None),
            _ => return Some(Kind::Binary("an ISO media file (MP4, MOV...)")),
        }
    }
    if head.starts_with(b"\xef\xbb\xbf") {
        return None; // UTF-8 with a byte-order mark: text.
    }
    if head.starts_with(b"\xff\xfe") || head.starts_with(b"\xfe\xff") {
        return Some(Kind::Utf16);
    }
    let binaries: &[(&[u8], &str)] = &[
        (b"%PDF-", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive (or .jar, .docx, .xlsx...)"),
        (b"\x1f\x8b", "a gzip archive"),
        (b"BZh", "a bzip2 archive"),
        (b"\xfd7zXZ\0", "an xz archive"),
        (b"(\xb5/\xfd", "a zstd archive"),
        (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
        (b"\x7fELF", "an ELF executable or library"),
        (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
        (b"\0asm", "a WebAssembly module"),
        (b"SQLite format 3\0", "an SQLite database"),
        (b"\xca\xfe\xba\xbe", "a Java class file"),
        (b"OggS", "an Ogg media file"),
        (b"ID3", "an MP3 audio file"),
        (b"fLaC", "a FLAC audio file"),
        (b"wOF2", "a WOFF2 font"),
        (b"wOFF", "a WOFF font"),
    ];
    binaries
        .iter()
        .find(|(magic, _)| head.starts_with(magic))
        .map(|(_, what)| Kind::Binary(what))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at + 3)?;
    Some(u32::from(bytes[0]) | u32::from(bytes[1]) << 8 | u32::from(bytes[2]) << 16)
}

/// PNG: the IHDR chunk comes first.
fn png_size(b: &[u8]) -> Option<(u32, u32)> {
    if b.get(12..16)? != b"IHDR" {
        return None;
    }
    Some((be32(b, 16)?, be32(b, 20)?))
}

/// JPEG: walks the segments to the first start-of-frame marker.
fn jpeg_size(b: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2;
    while i + 4 <= b.len() {
        if b[i] != 0xff {
            return None;
        }
        let marker = b[i + 1];
        if marker == 0xff {
            i += 1; // fill byte
            continue;
        }
        let len = usize::from(be16(b, i + 2)?);
        let is_sof = matches!(marker, 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc);
        if is_sof {
            let height = be16(b, i + 5)?;
            let width = be16(b, i + 7)?;
            return Some((u32::from(width), u32::from(height)));
        }
        i += 2 + len;
    }
    None
}

/// WebP: the first chunk is VP8 (lossy), VP8L (lossless) or VP8X (extended).
fn webp_size(b: &[u8]) -> Option<(u32, u32)> {
    match b.get(12..16)? {
        b"VP8X" => Some((le24(b, 24)? + 1, le24(b, 27)? + 1)),
        b"VP8L" => {
            let bits = le32(b, 21)?;
            Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
        }
        b"VP8 " => Some((
            u32::from(le16(b, 26)? & 0x3fff),
            u32::from(le16(b, 28)? & 0x3fff),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend(width.to_be_bytes());
        b.extend(height.to_be_bytes());
        b.extend([8, 6, 0, 0, 0]);
        b
    }

    #[test]
    fn images_and_their_sizes() {
        assert_eq!(
            sniff(&png(640, 480)),
            Some(Kind::Image {
                format: "PNG",
                size: Some((640, 480))
            })
        );
        let gif = b"GIF89a\x20\x00\x10\x00rest";
        assert_eq!(
            sniff(gif),
            Some(Kind::Image {
                format: "GIF",
                size: Some((32, 16))
            })
        );
        // JPEG: APP0 segment, then SOF0 with height 200, width 300.
        let mut jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0".to_vec();
        jpeg.extend(b"\xff\xc0\x00\x11\x08\x00\xc8\x01\x2c\x03");
        assert_eq!(
            sniff(&jpeg),
            Some(Kind::Image {
                format: "JPEG",
                size: Some((300, 200))
            })
        );
        let mut webp = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        webp.extend([0x3f, 0x01, 0x00, 0xef, 0x00, 0x00]); // 320 × 240
        assert_eq!(
            sniff(&webp),
            Some(Kind::Image {
                format: "WebP",
                size: Some((320, 240))
            })
        );
        // A truncated header still names the format.
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n"),
            Some(Kind::Image {
                format: "PNG",
                size: None
            })
        );
    }

    #[test]
    fn other_formats_and_text() {
        assert_eq!(sniff(b"%PDF-1.7\n"), Some(Kind::Binary("a PDF document")));
        assert_eq!(sniff(b"\xff\xfeh\0i\0"), Some(Kind::Utf16));
        assert_eq!(sniff(b"\xef\xbb\xbfhello"), None);
        assert_eq!(sniff(b"fn main() {}"), None);
        assert_eq!(sniff(b""), None);
    }
}
