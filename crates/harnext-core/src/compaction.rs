//! Long conversations that fit: before each model call the loop asks `prepare` whether
//! the history still fits the model's context window, and makes it smaller when not.
//!
//! - **Size.** The input tokens the last model call reported (uncached + cache reads +
//!   cache writes) are the truth; what the history gained since is estimated at one
//!   token per 4 bytes. Without a report (the first call of a resumed session, right
//!   after a compaction, a provider that reports nothing) the whole request (system
//!   prompt, tool definitions, history) is estimated that way.
//! - **When.** Past 80% of the context window (`context_window`, else a default by
//!   model family: 200k for Claude; unlimited for the scripted model).
//! - **Trim first.** Tool results older than the newest [`KEEP_TOOL_RESULTS`] get a short
//!   note instead of their content ([`crate::store::trimmed_note`]).
//! - **Then summarize**, when the trimmed history is still too big: a model call with no
//!   tools gets a transcript of the older part of the history and writes a summary; the
//!   history becomes `[user: summary] + the recent tail`. The tail starts at an assistant
//!   turn or at a plain user message (merged into the summary message), so every tool
//!   call in it keeps its result.
//! - A provider's `context_overflow` error on a call makes the loop compact with force
//!   (trim all but the newest result, summarize whatever can be) and retry the call once.
//!
//! Each compaction is one `compaction` event and one `compaction` record in the session,
//! so a resumed session continues from the compacted history.

use std::sync::Arc;

use harnext_protocol::AgentEvent;
use harnext_protocol::ContentBlock;
use harnext_protocol::ErrorCode;
use harnext_protocol::Message;
use harnext_protocol::Role;
use harnext_providers::ModelRequest;
use harnext_providers::ToolSpec;
use harnext_tools::cap_output;
use tokio_util::sync::CancellationToken;

use crate::context::AgentContext;
use crate::context::Ending;
use crate::context::EventSink;
use crate::hook_calls::HookCtx;
use crate::model_call;
use crate::model_call::Reply;
use crate::model_call::Show;
use crate::pricing::Spend;
use crate::session::SessionLease;
use crate::store::apply_compaction;
use crate::store::now_ms;
use crate::store::SessionRecord;
use crate::store::TRIMMED_PREFIX;

/// Tool results kept intact by trimming: the newest ones.
pub const KEEP_TOOL_RESULTS: usize = 4;
/// Results shorter than this are not worth trimming.
const TRIM_MIN_BYTES: usize = 400;
/// Compaction starts past this share of the context window (percent).
const THRESHOLD_PERCENT: u64 = 80;
/// The tail kept verbatim by a summary aims at this share of the window (percent).
const TAIL_PERCENT: u64 = 30;
/// A summary is worth its model call when it replaces at least this share (percent).
const MIN_HEAD_PERCENT: u64 = 5;
/// Caps, in characters, of one block in the transcript the summarizer reads.
const TRANSCRIPT_TEXT_CHARS: usize = 8_000;
const TRANSCRIPT_TOOL_CHARS: usize = 2_000;

const SUMMARY_SYSTEM: &str = "You summarize the conversation between a user and a coding agent so that the agent can continue the work from your summary alone. You never call tools.";

const SUMMARY_INSTRUCTIONS: &str = "Above is the earlier part of a conversation between a user and you, a coding agent working in a repository. It no longer fits your context window. Write a summary that lets you continue the work without it. Include, specifically:
1. The user's requests and goals, in their own words where it matters, and any constraints or preferences they stated.
2. What was done: files read, created or changed (with paths), commands run and their outcomes, errors met and how they were resolved.
3. Key facts learned about the code (names of files, functions, types, commands) and decisions taken.
4. The current state: what is finished, what is in progress, and the next step.
Be concise but concrete; do not invent anything. Reply with the summary only.";

const SUMMARY_INTRO: &str = "[This conversation was compacted to fit the model's context window. A summary of its earlier part follows; the most recent messages come after it verbatim.]";

/// What [`prepare`] works on: the loop's state.
pub(crate) struct Ctx<'a> {
    pub agent: &'a AgentContext,
    /// Changed (made unique, `Arc::make_mut`) only when the compaction is applied.
    pub history: &'a mut Arc<Vec<Message>>,
    pub session: &'a SessionLease,
    pub events: &'a EventSink,
    pub cancel: &'a CancellationToken,
    /// The run's usage and cost, which summaries add to.
    pub spend: &'a mut Spend,
    /// The tools offered in this run (MCP tools included).
    pub specs: &'a [ToolSpec],
}

/// The context window of a model family, in tokens; `None` when unknown or unlimited.
pub fn default_context_window(provider: &str, model: &str) -> Option<u64> {
    let m = model.to_ascii_lowercase();
    let openai = || -> Option<u64> {
        if m.starts_with("gpt-4.1") {
            Some(1_047_576)
        } else if m.starts_with("gpt-5") {
            Some(400_000)
        } else if m.starts_with("o1") || m.starts_with("o3") || m.starts_with("o4") {
            Some(200_000)
        } else if m.starts_with("gpt-4o") || m.starts_with("gpt-4-turbo") {
            Some(128_000)
        } else {
            None
        }
    };
    match provider {
        "anthropic" => Some(200_000),
        "openai" => openai().or(Some(128_000)),
        // Any OpenAI-compatible server: unknown unless it is an OpenAI model.
        "openai-chat" => openai(),
        _ => None,
    }
}

fn context_window(agent: &AgentContext) -> Option<u64> {
    agent
        .config
        .context_window
        .or_else(|| default_context_window(agent.provider.name(), &agent.model))
}

/// Bytes a message adds to a request, roughly (the estimate counts 4 per token).
fn message_bytes(m: &Message) -> usize {
    16 + m
        .content
        .iter()
        .map(|b| match b {
            ContentBlock::Text { text } => text.len(),
            ContentBlock::Thinking {
                thinking,
                signature,
            } => thinking.len() + signature.as_ref().map_or(0, String::len),
            ContentBlock::RedactedThinking { data } => data.len(),
            ContentBlock::OpaqueReasoning { text, data, .. }
            | ContentBlock::ProviderBlock { text, data, .. } => text.len() + data.to_string().len(),
            ContentBlock::ToolUse { id, name, input } => {
                32 + id.len() + name.len() + input.to_string().len()
            }
            ContentBlock::ToolResult {
                tool_use_id,
                content,
                ..
            } => 32 + tool_use_id.len() + content.len(),
            // A fixed estimate per image, whatever its size (its base64 is not what the
            // provider counts): IMAGE_TOKEN_ESTIMATE tokens, at 4 bytes a token.
            ContentBlock::Image { .. } => {
                usize::try_from(harnext_protocol::image::IMAGE_TOKEN_ESTIMATE * 4).unwrap_or(0)
            }
        })
        .sum::<usize>()
}

fn tokens(bytes: usize) -> u64 {
    u64::try_from(bytes.div_ceil(4)).unwrap_or(u64::MAX)
}

fn history_tokens(history: &[Message]) -> u64 {
    tokens(history.iter().map(message_bytes).sum())
}

/// The whole request estimated from its size.
fn fresh_estimate(agent: &AgentContext, specs: &[ToolSpec], history: &[Message]) -> u64 {
    let fixed = agent.system.len()
        + specs
            .iter()
            .map(|t| t.name.len() + t.description.len() + t.input_schema.to_string().len())
            .sum::<usize>();
    tokens(fixed) + history_tokens(history)
}

/// The tokens the next request will take.
fn estimate(
    agent: &AgentContext,
    specs: &[ToolSpec],
    history: &[Message],
    session: &SessionLease,
) -> u64 {
    match session.reported_input() {
        Some((reported, len)) if len <= history.len() => reported + history_tokens(&history[len..]),
        _ => fresh_estimate(agent, specs, history),
    }
}

/// Checks that the session is still being saved, then compacts the history when it
/// nears the context window (always with `force`, after a `context_overflow`).
/// Returns whether the history changed.
pub(crate) async fn prepare(mut ctx: Ctx<'_>, force: bool) -> Result<bool, Ending> {
    if let Some(problem) = ctx.session.failure() {
        return Err(Ending::failed(
            ErrorCode::SessionStore,
            format!("the session could not be saved, so the run stopped: {problem}"),
        ));
    }
    let known_window = context_window(ctx.agent);
    if known_window.is_none() && !force {
        return Ok(false);
    }
    let before = estimate(ctx.agent, ctx.specs, ctx.history, ctx.session);
    // An unknown window, when the provider said the request is past it: what we have.
    let window = known_window.unwrap_or(before);
    let threshold = window.saturating_mul(THRESHOLD_PERCENT) / 100;
    if !force && before <= threshold {
        return Ok(false);
    }
    let hooks = HookCtx {
        agent: ctx.agent,
        session: ctx.session.id(),
        events: ctx.events,
        cancel: ctx.cancel,
    };
    let instructions = hooks
        .pre_compact(if force { "overflow" } else { "auto" })
        .await?;

    // 1. Trim old tool results.
    let keep = if force { 1 } else { KEEP_TOOL_RESULTS };
    let mut work: Vec<Message> = ctx.history.to_vec();
    let trimmed = trim_candidates(&work, keep);
    let mut record = SessionRecord::Compaction {
        ts: now_ms(),
        before_tokens: before,
        after_tokens: before,
        trimmed: trimmed.clone(),
        summary: None,
        kept: 0,
        summarized: 0,
    };
    let trimmed_history_before = history_tokens(&work);
    apply_compaction(&mut work, &record);
    let saved = trimmed_history_before.saturating_sub(history_tokens(&work));
    let mut after = before.saturating_sub(saved);

    // 2. Summarize the older part when that was not enough.
    let mut summarized = 0;
    if force || after > threshold {
        if let Some(split) = choose_split(&work, window) {
            let head_tokens = history_tokens(&work[..split]);
            if force || head_tokens >= window.saturating_mul(MIN_HEAD_PERCENT) / 100 {
                let summary =
                    summarize(&mut ctx, &work[..split], window, instructions.as_deref()).await?;
                let mut first = Message::user_text(format!("{SUMMARY_INTRO}\n\n{summary}"));
                let mut kept = work.len() - split;
                if let Some(m) = work.get(split).filter(|m| m.role == Role::User) {
                    // A plain user message: it joins the summary message.
                    first.content.extend(m.content.iter().cloned());
                    kept -= 1;
                }
                summarized = split;
                if let SessionRecord::Compaction {
                    summary: s,
                    kept: k,
                    summarized: n,
                    ..
                } = &mut record
                {
                    *s = Some(first);
                    *k = kept;
                    *n = split;
                }
            }
        }
    }
    if trimmed.is_empty() && summarized == 0 {
        return Ok(false);
    }
    apply_compaction(Arc::make_mut(ctx.history), &record);
    if summarized > 0 {
        after = fresh_estimate(ctx.agent, ctx.specs, ctx.history);
    }
    if let SessionRecord::Compaction { after_tokens, .. } = &mut record {
        *after_tokens = after;
    }
    ctx.session.record_compaction(&record, ctx.history.len());
    ctx.events.emit(AgentEvent::Compaction {
        before_tokens: before,
        after_tokens: after,
        trimmed: u32::try_from(trimmed.len()).unwrap_or(u32::MAX),
        summarized: u32::try_from(summarized).unwrap_or(u32::MAX),
    });
    Ok(true)
}

/// The call ids of the tool results to trim: all but the newest `keep`, when they are
/// big enough and not trimmed already.
fn trim_candidates(history: &[Message], keep: usize) -> Vec<String> {
    let mut seen = 0;
    let mut out = Vec::new();
    for message in history.iter().rev() {
        for block in message.content.iter().rev() {
            if let ContentBlock::ToolResult {
                tool_use_id,
                content,
                ..
            } = block
            {
                seen += 1;
                if seen > keep
                    && content.len() >= TRIM_MIN_BYTES
                    && !content.starts_with(TRIMMED_PREFIX)
                {
                    out.push(tool_use_id.clone());
                }
            }
        }
    }
    out.reverse();
    out
}

/// Where the verbatim tail starts: at an assistant turn or a plain user message (never
/// at tool results, whose calls would be summarized away), as early as the tail budget
/// allows; at least one message is summarized and the last one is kept.
fn choose_split(history: &[Message], window: u64) -> Option<usize> {
    let budget = window.saturating_mul(TAIL_PERCENT) / 100;
    let valid = |m: &Message| match m.role {
        Role::Assistant => true,
        Role::User => !m
            .content
            .iter()
            .any(|b| matches!(b, ContentBlock::ToolResult { .. })),
    };
    let candidates: Vec<usize> = (1..history.len())
        .filter(|&i| history.get(i).is_some_and(valid))
        .collect();
    candidates
        .iter()
        .copied()
        .find(|&i| history_tokens(&history[i..]) <= budget)
        .or_else(|| candidates.last().copied())
}

fn capped(text: &str, chars: usize) -> String {
    cap_output(text, chars)
}

/// The query of a kept web search block (Anthropic's `server_tool_use`, OpenAI's
/// `web_search_call`).
fn web_search_query(data: &serde_json::Value) -> Option<String> {
    let query = data
        .pointer("/input/query")
        .or_else(|| data.pointer("/action/query"))?;
    query.as_str().map(str::to_owned)
}

/// The older part of the history as plain text, for the summarizer (plain text works
/// with every provider and needs no tool definitions).
fn transcript(head: &[Message]) -> String {
    let mut out = String::new();
    for m in head {
        let who = match m.role {
            Role::User => "User",
            Role::Assistant => "Assistant",
        };
        for block in &m.content {
            let line = match block {
                ContentBlock::Text { text } | ContentBlock::ProviderBlock { text, .. }
                    if !text.trim().is_empty() =>
                {
                    format!("{who}: {}", capped(text, TRANSCRIPT_TEXT_CHARS))
                }
                // A server-side web search: its query (the results are the provider's,
                // encrypted; the cited text above keeps what the model drew from them).
                ContentBlock::ProviderBlock { data, .. } => match web_search_query(data) {
                    Some(query) => format!(
                        "Assistant searched the web for {}",
                        capped(&query, TRANSCRIPT_TOOL_CHARS)
                    ),
                    None => continue,
                },
                ContentBlock::Image { source, .. } => format!(
                    "{who}: [an image{}]",
                    match source {
                        harnext_protocol::ImageSource::Url { url } => format!(" from {url}"),
                        harnext_protocol::ImageSource::Path { path } => format!(" `{path}`"),
                        harnext_protocol::ImageSource::Base64 { media_type, .. } => {
                            format!(" ({media_type})")
                        }
                    }
                ),
                ContentBlock::ToolUse { id, name, input } => format!(
                    "Assistant called tool `{name}` (call {id}) with {}",
                    capped(&input.to_string(), TRANSCRIPT_TOOL_CHARS)
                ),
                ContentBlock::ToolResult {
                    tool_use_id,
                    content,
                    status,
                } => format!(
                    "Tool result of call {tool_use_id} (status {}):\n{}",
                    serde_json::to_value(status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    capped(content, TRANSCRIPT_TOOL_CHARS)
                ),
                // Reasoning is the model's own scratch work: left out.
                ContentBlock::Text { .. }
                | ContentBlock::Thinking { .. }
                | ContentBlock::RedactedThinking { .. }
                | ContentBlock::OpaqueReasoning { .. } => continue,
            };
            out.push_str(&line);
            out.push_str("\n\n");
        }
    }
    out
}

/// The summarizing model call: no tools, no reasoning, the transcript of `head`.
async fn summarize(
    ctx: &mut Ctx<'_>,
    head: &[Message],
    window: u64,
    instructions: Option<&str>,
) -> Result<String, Ending> {
    // A `pre_compact` hook's instructions come after the built-in ones.
    let extra = instructions
        .map(|i| format!("\n\nAlso follow these instructions for the summary:\n{i}"))
        .unwrap_or_default();
    let window_chars = usize::try_from(window.saturating_mul(4)).unwrap_or(usize::MAX);
    // The transcript takes at most half the window, so the call itself fits.
    let transcript = cap_output(&transcript(head), (window_chars / 2).max(2_000));
    let max_output = u32::try_from((window / 8).clamp(256, 4_096)).unwrap_or(4_096);
    let request = ModelRequest {
        model: ctx.agent.model.clone(),
        system: SUMMARY_SYSTEM.to_owned(),
        messages: Arc::new(vec![Message::user_text(format!(
            "<conversation>\n{transcript}</conversation>\n\n{SUMMARY_INSTRUCTIONS}{extra}"
        ))]),
        tools: Default::default(),
        max_output_tokens: Some(
            ctx.agent
                .config
                .max_output_tokens
                .map_or(max_output, |m| m.min(max_output)),
        ),
        temperature: ctx.agent.config.temperature,
        thinking_budget: None,
        output: None,
        web_search: None,
    };
    let call = model_call::call(ctx.agent, request, Show::Nothing, ctx.events, ctx.cancel).await;
    if let Some(u) = call.usage {
        ctx.spend.add(u, call.cost_usd);
        ctx.session.record_side_usage(u);
    }
    match call.reply {
        Reply::Completed(r) => {
            let text = Message {
                role: Role::Assistant,
                content: r.content,
            }
            .text();
            if text.trim().is_empty() {
                return Err(Ending::failed(
                    ErrorCode::Internal,
                    "compacting the conversation failed: the summarizing model call returned no text",
                ));
            }
            Ok(text.trim().to_owned())
        }
        Reply::Cancelled => Err(Ending::Cancelled),
        Reply::Failed(mut e) => {
            e.message = format!("compacting the conversation failed: {}", e.message);
            Err(Ending::Failed(e))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use harnext_protocol::ToolStatus;
    use serde_json::json;

    fn turn(id: &str, output_len: usize) -> [Message; 2] {
        [
            Message {
                role: Role::Assistant,
                content: vec![ContentBlock::ToolUse {
                    id: id.into(),
                    name: "bash".into(),
                    input: json!({"command": "cat big"}),
                }],
            },
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    tool_use_id: id.into(),
                    content: "x".repeat(output_len),
                    status: ToolStatus::Ok,
                }],
            },
        ]
    }

    #[test]
    fn trimming_keeps_the_newest_results_and_small_ones() {
        let mut h = vec![Message::user_text("go")];
        for (i, len) in [5000, 10, 5000, 5000, 5000, 5000, 5000].iter().enumerate() {
            h.extend(turn(&format!("t{i}"), *len));
        }
        assert_eq!(
            trim_candidates(&h, 4),
            vec!["t0".to_owned(), "t2".to_owned()]
        );
        assert_eq!(trim_candidates(&h, 1).len(), 5);
    }

    #[test]
    fn the_tail_starts_at_an_assistant_turn_or_a_plain_user_message() {
        let mut h = vec![Message::user_text("go")];
        h.extend(turn("a", 4000));
        h.push(Message::user_text("next ".repeat(50)));
        h.extend(turn("b", 400));
        // Window 1000 tokens: the tail budget (300 tokens) holds "next" and the last turn;
        // "next" is a plain user message (it joins the summary message).
        assert_eq!(choose_split(&h, 1000), Some(3));
        // Window 500: only the last turn fits, from its assistant message.
        assert_eq!(choose_split(&h, 500), Some(4));
        // Never at tool results; when nothing fits, the smallest tail.
        assert_eq!(choose_split(&h, 10), Some(4));
        // A big window keeps everything but the first message.
        assert_eq!(choose_split(&h, 1_000_000), Some(1));
        // A single message cannot be split.
        assert_eq!(choose_split(&h[..1], 10), None);
    }

    #[test]
    fn default_windows_by_family() {
        assert_eq!(
            default_context_window("anthropic", "claude-x"),
            Some(200_000)
        );
        assert_eq!(default_context_window("scripted", "scripted"), None);
        assert_eq!(
            default_context_window("openai", "gpt-5-mini"),
            Some(400_000)
        );
        assert_eq!(default_context_window("openai-chat", "llama3"), None);
    }
}
