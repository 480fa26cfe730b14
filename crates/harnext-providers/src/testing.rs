//! Test support shared by the providers' parser tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use crate::http::WireParser;
use crate::sse::SseDecoder;
use crate::ModelEvent;
use crate::ModelResponse;
use crate::ProviderError;

pub(crate) fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/providers")
}

/// Runs the decoder and a fresh parser over `input` cut into pieces of the given sizes.
pub(crate) fn parse_with<P: WireParser>(
    mut parser: P,
    input: &[u8],
    sizes: &[usize],
) -> (Vec<ModelEvent>, Result<ModelResponse, ProviderError>) {
    let mut decoder = SseDecoder::default();
    let mut events = Vec::new();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut k = 0;
    loop {
        let eof = pos >= input.len();
        if eof {
            decoder.finish(&mut events);
        } else {
            let n = sizes[k % sizes.len()].clamp(1, input.len() - pos);
            decoder.feed(&input[pos..pos + n], &mut events).unwrap();
            pos += n;
            k += 1;
        }
        for e in events.drain(..) {
            match parser.on_event(e, &mut out) {
                Ok(Some(resp)) => return (out, Ok(resp)),
                Ok(None) => {}
                Err(err) => return (out, Err(err)),
            }
        }
        if eof {
            return (out, parser.on_eof());
        }
    }
}

pub(crate) fn text_of(events: &[ModelEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            ModelEvent::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

pub(crate) fn thinking_of(events: &[ModelEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            ModelEvent::ThinkingDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// A comparable digest of a parse: the response or error, and the streamed text and
/// thinking. Generated tool ids (servers that send none) differ between runs, so
/// callers only use this on streams that carry their ids.
pub(crate) fn digest(events: &[ModelEvent], r: &Result<ModelResponse, ProviderError>) -> String {
    let last_usage = events.iter().rev().find_map(|e| match e {
        ModelEvent::UsageUpdate(u) => Some(*u),
        _ => None,
    });
    let resp = match r {
        Ok(resp) => {
            // The notes on invalid calls sorted: a HashMap prints in any order. By
            // message first: generated ids (`call_…`) differ run to run.
            let mut notes: Vec<_> = resp.invalid_tool_inputs.iter().collect();
            notes.sort_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
            format!(
                "content={:?} stop={:?} usage={:?} invalid={notes:?}",
                resp.content, resp.stop_reason, resp.usage
            )
        }
        Err(e) => format!("error {:?}: {e}", e.code()),
    };
    format!(
        "{resp}\ntext={:?}\nthinking={:?}\nusage={last_usage:?}",
        text_of(events),
        thinking_of(events)
    )
}
