//! Images in messages: the sources a history holds, and the checks every image passes
//! before it is kept (media type by magic bytes, size cap, base64, URL without
//! credentials).
//!
//! harnext does not downscale: an image over [`MAX_IMAGE_BYTES`] is refused with an
//! error naming its size and the cap (no image codec in the engine or the addon).

use base64::Engine as _;
use serde::Deserialize;
use serde::Serialize;

/// The largest image kept, in decoded bytes: 3.75 MiB, whose base64 is 5 MiB, Anthropic's
/// per-image limit (OpenAI's are larger), so one cap fits every provider.
pub const MAX_IMAGE_BYTES: usize = 3_932_160;

/// The longest image URL accepted, in bytes.
pub const MAX_IMAGE_URL_LEN: usize = 8192;

/// The tokens a compaction estimate counts for one image, whatever its size: about what
/// Anthropic charges for an image at its largest unscaled size (1.15 megapixels / 750).
pub const IMAGE_TOKEN_ESTIMATE: u64 = 1600;

/// The media types every image-capable provider accepts.
pub const IMAGE_MEDIA_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Where an image's bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource {
    /// The bytes, base64 (standard alphabet, padded), checked against `media_type`.
    Base64 { media_type: String, data: String },
    /// An `https` URL the provider fetches (no credentials in it).
    Url { url: String },
    /// A file of the workspace, as a caller gives it. Input only: the engine reads it
    /// through the workspace when the run starts and keeps it as [`ImageSource::Base64`].
    Path { path: String },
}

/// What is wrong with an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageError(pub String);

impl std::fmt::Display for ImageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ImageError {}

/// The media type of an image by its magic bytes: PNG, JPEG, GIF or WebP; `None` for
/// anything else. (Four fixed signatures: not worth a crate.)
pub fn sniff_media_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// An image from its bytes. `declared`, when given, must be a supported media type and
/// agree with the bytes. `what` names the image in errors.
pub fn image_from_bytes(
    bytes: &[u8],
    declared: Option<&str>,
    what: &str,
) -> Result<ImageSource, ImageError> {
    if let Some(m) = declared {
        if !IMAGE_MEDIA_TYPES.contains(&m) {
            return Err(ImageError(format!(
                "{what}: unsupported media type {m:?} (expected one of {})",
                IMAGE_MEDIA_TYPES.join(", ")
            )));
        }
    }
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(ImageError(format!(
            "{what}: the image is {} bytes, over the {MAX_IMAGE_BYTES}-byte cap \
             (harnext does not downscale; make it smaller first)",
            bytes.len()
        )));
    }
    let Some(sniffed) = sniff_media_type(bytes) else {
        return Err(ImageError(format!(
            "{what}: not a PNG, JPEG, GIF or WebP image (its first bytes are not an image signature)"
        )));
    };
    if let Some(m) = declared {
        if m != sniffed {
            return Err(ImageError(format!(
                "{what}: declared {m} but the bytes are {sniffed}"
            )));
        }
    }
    Ok(ImageSource::Base64 {
        media_type: sniffed.to_owned(),
        data: base64::engine::general_purpose::STANDARD.encode(bytes),
    })
}

/// An image from base64 text (standard alphabet; padding optional; no whitespace), with
/// the same checks as [`image_from_bytes`]. The size cap is checked before decoding.
pub fn image_from_base64(
    data: &str,
    declared: Option<&str>,
    what: &str,
) -> Result<ImageSource, ImageError> {
    if data.len() / 4 * 3 > MAX_IMAGE_BYTES + 3 {
        return Err(ImageError(format!(
            "{what}: the image is about {} bytes, over the {MAX_IMAGE_BYTES}-byte cap \
             (harnext does not downscale; make it smaller first)",
            data.len() / 4 * 3
        )));
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine
        .decode(data)
        .map_err(|e| ImageError(format!("{what}: invalid base64 ({e})")))?;
    image_from_bytes(&bytes, declared, what)
}

/// An image by URL: `https` only, no user name or password in it, at most
/// [`MAX_IMAGE_URL_LEN`] bytes. A `data:` URL is decoded and checked as bytes.
pub fn image_from_url(url: &str, what: &str) -> Result<ImageSource, ImageError> {
    if url.len() > MAX_IMAGE_URL_LEN && !url.starts_with("data:") {
        return Err(ImageError(format!(
            "{what}: the URL is {} bytes, over {MAX_IMAGE_URL_LEN}",
            url.len()
        )));
    }
    if let Some(rest) = url.strip_prefix("data:") {
        let Some((head, data)) = rest.split_once(',') else {
            return Err(ImageError(format!("{what}: a data URL without a comma")));
        };
        let Some(media_type) = head.strip_suffix(";base64") else {
            return Err(ImageError(format!(
                "{what}: a data URL must be base64 (`data:<type>;base64,...`)"
            )));
        };
        return image_from_base64(data, Some(media_type), what);
    }
    let parsed =
        url::Url::parse(url).map_err(|e| ImageError(format!("{what}: not a valid URL ({e})")))?;
    if parsed.scheme() != "https" {
        return Err(ImageError(format!(
            "{what}: only https image URLs are accepted, got {}:",
            parsed.scheme()
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Never echo the URL: it holds a credential.
        return Err(ImageError(format!(
            "{what}: the image URL carries credentials (user info before `@`); refused"
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(ImageError(format!("{what}: the image URL has no host")));
    }
    Ok(ImageSource::Url {
        url: parsed.to_string(),
    })
}

/// Checks an image block's source as a history holds it (after input): a base64 image
/// is decoded and checked; a URL is checked; a path is left to the caller that has the
/// workspace.
pub fn check_image(source: &ImageSource, what: &str) -> Result<ImageSource, ImageError> {
    match source {
        ImageSource::Base64 { media_type, data } => image_from_base64(data, Some(media_type), what),
        ImageSource::Url { url } => image_from_url(url, what),
        ImageSource::Path { .. } => Ok(source.clone()),
    }
}

/// The data URL of base64 image data (`data:image/png;base64,...`), as OpenAI takes it.
pub fn data_url(media_type: &str, data: &str) -> String {
    format!("data:{media_type};base64,{data}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub(crate) const PNG_1X1: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F,
        0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00,
        0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];

    #[test]
    fn bytes_are_sniffed_and_checked_against_the_declared_type() {
        let ok = image_from_bytes(PNG_1X1, Some("image/png"), "img").unwrap();
        assert!(
            matches!(ok, ImageSource::Base64 { ref media_type, .. } if media_type == "image/png")
        );
        let e = image_from_bytes(PNG_1X1, Some("image/jpeg"), "img").unwrap_err();
        assert!(
            e.0.contains("declared image/jpeg but the bytes are image/png"),
            "{e}"
        );
        let e = image_from_bytes(b"hello, not an image", None, "x.png").unwrap_err();
        assert!(e.0.contains("not a PNG, JPEG, GIF or WebP"), "{e}");
        let e = image_from_bytes(PNG_1X1, Some("image/tiff"), "img").unwrap_err();
        assert!(e.0.contains("unsupported media type \"image/tiff\""), "{e}");
        let mut huge = PNG_1X1.to_vec();
        huge.resize(MAX_IMAGE_BYTES + 1, 0);
        let e = image_from_bytes(&huge, None, "big").unwrap_err();
        assert!(e.0.contains("over the 3932160-byte cap"), "{e}");
        assert_eq!(
            sniff_media_type(b"RIFF\0\0\0\0WEBPVP8 "),
            Some("image/webp")
        );
        assert_eq!(sniff_media_type(b"GIF89a.."), Some("image/gif"));
        assert_eq!(
            sniff_media_type(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some("image/jpeg")
        );
    }

    #[test]
    fn base64_and_urls_are_checked() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(PNG_1X1);
        assert!(image_from_base64(&b64, Some("image/png"), "i").is_ok());
        let e = image_from_base64("!!!not base64", Some("image/png"), "i").unwrap_err();
        assert!(e.0.contains("invalid base64"), "{e}");
        let huge = "A".repeat(MAX_IMAGE_BYTES / 3 * 4 + 400);
        assert!(image_from_base64(&huge, None, "i")
            .unwrap_err()
            .0
            .contains("cap"));

        let ok = image_from_url("https://example.com/a.png", "u").unwrap();
        assert_eq!(
            ok,
            ImageSource::Url {
                url: "https://example.com/a.png".into()
            }
        );
        let e = image_from_url("https://user:hunter2@example.com/a.png", "u").unwrap_err();
        assert!(
            e.0.contains("credentials") && !e.0.contains("hunter2"),
            "{e}"
        );
        let e = image_from_url("https://tok@example.com/a.png", "u").unwrap_err();
        assert!(e.0.contains("credentials") && !e.0.contains("tok@"), "{e}");
        assert!(image_from_url("http://example.com/a.png", "u")
            .unwrap_err()
            .0
            .contains("https"));
        assert!(image_from_url("file:///etc/passwd", "u").is_err());
        let data = data_url("image/png", &b64);
        assert!(matches!(
            image_from_url(&data, "u").unwrap(),
            ImageSource::Base64 { .. }
        ));
        assert!(image_from_url("data:text/plain;base64,aGk=", "u")
            .unwrap_err()
            .0
            .contains("unsupported media type"));
    }

    #[test]
    fn sources_round_trip_as_tagged_json() {
        let s = ImageSource::Base64 {
            media_type: "image/png".into(),
            data: "AA==".into(),
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "base64", "media_type": "image/png", "data": "AA=="})
        );
        assert_eq!(serde_json::from_value::<ImageSource>(v).unwrap(), s);
    }
}
