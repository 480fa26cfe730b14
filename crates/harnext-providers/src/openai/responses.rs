//! The OpenAI Responses API (`POST {base}/responses`, streamed, stateless).
//!
//! Requests are stateless (`store: false`): the whole history goes out each time as
//! `input` items ([`request`]). When thinking is on, the request asks for
//! `reasoning.encrypted_content`, and each reasoning item comes back whole in an
//! [`harnext_protocol::ContentBlock::OpaqueReasoning`] block, which the next request
//! sends again (other providers skip it).
//!
//! The stream parser ([`parse`]) matches typed, serde-tagged events. It keys its state
//! by `output_index`, never by item id (proxies rotate ids on every event), accepts
//! function calls whose arguments come only in `.done` / `output_item.done`, reads
//! reasoning from summary deltas and from `response.reasoning_text.delta`, and takes
//! anything it did not see streamed from the `output_item.done` items and the final
//! `response.output`.

mod parse;
mod request;
mod web_search;

use std::sync::Arc;

use reqwest::header::HeaderMap;

pub(crate) use parse::ResponsesParser;
pub use request::request_body;

use crate::HttpSettings;
use crate::ModelProvider;
use crate::ModelRequest;
use crate::ModelStream;
use crate::ProviderError;
use crate::SettingsError;
use crate::StructuredOutputMode;

pub const PROVIDER: &str = "openai";

pub struct ResponsesProvider {
    client: reqwest::Client,
    settings: Arc<HttpSettings>,
    /// Why the settings cannot work, when built with [`ResponsesProvider::new`].
    invalid: Option<SettingsError>,
}

impl ResponsesProvider {
    /// A provider with `settings`, which are not checked: invalid ones (a header
    /// value with a line break, ...) make every call fail at once, without retrying.
    /// Prefer [`ResponsesProvider::try_new`].
    pub fn new(client: reqwest::Client, settings: HttpSettings) -> Self {
        let invalid = settings.validate().err();
        ResponsesProvider {
            client,
            settings: Arc::new(settings),
            invalid,
        }
    }

    /// A provider with `settings`, refused when [`HttpSettings::validate`] finds them
    /// invalid.
    pub fn try_new(client: reqwest::Client, settings: HttpSettings) -> Result<Self, SettingsError> {
        settings.validate()?;
        Ok(ResponsesProvider::new(client, settings))
    }

    /// The endpoint this provider posts to.
    pub fn url(&self) -> String {
        super::endpoint_url(self.settings.base_url.as_deref(), "responses")
    }
}

impl ModelProvider for ResponsesProvider {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn structured_output_mode(&self) -> StructuredOutputMode {
        StructuredOutputMode::JsonText
    }

    fn check_web_search(&self, search: &crate::WebSearch) -> Result<(), String> {
        web_search::check(search)
    }

    fn stream(&self, request: ModelRequest) -> ModelStream {
        super::spawn(
            PROVIDER,
            &self.client,
            &self.settings,
            self.invalid.as_ref(),
            self.url(),
            Box::new(move || request_body(&request)),
            Box::new(|| Box::new(ResponsesParser::default())),
        )
    }
}

pub(crate) fn parse_error(status: u16, headers: &HeaderMap, body: &str) -> ProviderError {
    super::parse_http_error(PROVIDER, status, headers, body)
}

#[cfg(test)]
mod tests;
