//! `web_fetch`: an HTTP GET of a web page, returned as Markdown.
//!
//! What it keeps to:
//! - **Network**: it runs only when the agent's commands have the network (the sandbox's
//!   `network` setting, or no sandbox); otherwise the call fails saying how to allow it.
//! - **Domains**: `blocked_domains` are refused; when `allowed_domains` is set, only those
//!   are fetched. A domain matches itself and its subdomains. Checked again at every
//!   redirect, and at most [`MAX_REDIRECTS`] redirects are followed.
//! - **No SSRF surprise**: a host that is, or resolves to, a loopback, private,
//!   link-local, unique-local, CGNAT or unspecified address is refused unless the user
//!   listed that very host in `allowed_domains` (the resolver checks every address the
//!   name resolves to, so a public name pointing at 127.0.0.1 is refused too).
//! - **No credentials**: a URL with user info is refused; requests carry no cookie, no
//!   authorization header and no header of the agent's provider; proxies from the
//!   environment are not used (the checks above apply to the address connected to).
//! - **Caps**: the whole fetch (every redirect and the body) must end within
//!   `timeout` (30 s by default); at most [`MAX_BODY_BYTES`] of the body are read; the
//!   text the model sees is cut at [`MAX_CHARS`] characters.
//! - Only text is returned: HTML becomes Markdown (`htmd`; scripts, styles and other
//!   non-content elements dropped), other text types are returned as they are, and any
//!   other type (images, PDFs, archives) is an error naming it.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::StreamExt;
use reqwest::dns::Addrs;
use reqwest::dns::Name;
use reqwest::dns::Resolve;
use reqwest::dns::Resolving;
use reqwest::Url;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::schema::schema_for;
use crate::{parse_args, Tool, ToolContext, ToolError, MAX_OUTPUT_CHARS};

/// Most redirects followed.
pub const MAX_REDIRECTS: usize = 5;
/// Most bytes of a body read.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Most characters of the text the model sees.
pub const MAX_CHARS: usize = MAX_OUTPUT_CHARS - 1_000;
/// The default time for a whole fetch.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

const DESCRIPTION: &str = "Fetch a web page with HTTP GET and read it as Markdown (HTML \
converted; plain text, JSON and other text types as they are). Give a full http(s) URL. \
Follows up to 5 redirects; waits at most 30 s; reads at most 2 MiB and returns at most \
about 29,000 characters. Needs network access; some domains may be refused by the user's \
settings, and private network addresses are refused unless allowed.";

/// Where `web_fetch` may go (the agent's `web_fetch` option).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebFetchSettings {
    /// When not empty, only these domains (and their subdomains) are fetched; a host
    /// listed here may also be a private address.
    pub allowed_domains: Vec<String>,
    /// These domains (and their subdomains) are never fetched.
    pub blocked_domains: Vec<String>,
    /// The most a whole fetch may take.
    pub timeout: Duration,
}

impl Default for WebFetchSettings {
    fn default() -> Self {
        WebFetchSettings {
            allowed_domains: Vec::new(),
            blocked_domains: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl WebFetchSettings {
    /// The settings with each domain in its plain form (lowercase, `*.` and a final dot
    /// dropped), or what is wrong with one: an empty one, or one with a scheme, a path
    /// or a port.
    pub fn normalized(mut self) -> Result<WebFetchSettings, String> {
        for (list, key) in [
            (&mut self.allowed_domains, "allowed_domains"),
            (&mut self.blocked_domains, "blocked_domains"),
        ] {
            for domain in list.iter_mut() {
                let d = domain.trim().to_ascii_lowercase();
                let d = d.strip_prefix("*.").unwrap_or(&d);
                let d = d.strip_suffix('.').unwrap_or(d).to_owned();
                let ip = d.parse::<IpAddr>().is_ok()
                    || d.strip_prefix('[')
                        .and_then(|r| r.strip_suffix(']'))
                        .is_some_and(|r| r.parse::<IpAddr>().is_ok());
                let bad = d.is_empty()
                    || d.contains('/')
                    || d.contains('@')
                    || d.chars().any(char::is_whitespace)
                    || (!ip && d.contains(':'));
                if bad {
                    return Err(format!(
                        "{key}: {domain:?} is not a domain (write `example.com` or an IP address, without scheme, port or path)"
                    ));
                }
                *domain = d.trim_start_matches('[').trim_end_matches(']').to_owned();
            }
        }
        if self.timeout.is_zero() {
            return Err("timeout_ms: expected an integer >= 1, got 0".to_owned());
        }
        Ok(self)
    }

    fn allows_private(&self, host: &str) -> bool {
        self.allowed_domains.iter().any(|d| matches(host, d))
    }
}

/// Whether `host` is `domain` or one of its subdomains.
fn matches(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// Whether an address is on the public internet: not loopback, private, link-local,
/// unique-local, CGNAT, unspecified, broadcast or documentation.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// The resolver of `web_fetch`'s client: a name that resolves to an address that is not
/// public is refused, unless the user allowed that host.
struct GuardedResolver {
    settings: Arc<WebFetchSettings>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        let allowed = self.settings.allows_private(&host);
        let lookup = async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allowed {
                if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        private_refusal(&host, Some(bad.ip())),
                    ));
                }
            }
            Ok(addrs)
        };
        Box::pin(async move {
            match lookup.await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                Err(e) => Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
            }
        }) as Pin<Box<dyn Future<Output = _> + Send>>
    }
}

fn private_refusal(host: &str, ip: Option<IpAddr>) -> String {
    let what = match ip {
        Some(ip) if ip.to_string() != host => format!("{host} resolves to {ip}, a private"),
        _ => format!("{host} is a private"),
    };
    format!(
        "{what} network address (loopback, private, link-local or similar): not fetched. The user can allow this host by adding it to the allowed domains of the agent's web fetch settings (`webFetch.allowedDomains` in Node, `web_fetch[\"allowed_domains\"]` in Python)."
    )
}

/// The `web_fetch` tool.
pub struct WebFetchTool {
    settings: Arc<WebFetchSettings>,
    client: OnceLock<Result<reqwest::Client, String>>,
}

impl Default for WebFetchTool {
    fn default() -> Self {
        WebFetchTool::new(WebFetchSettings::default())
    }
}

impl WebFetchTool {
    pub fn new(settings: WebFetchSettings) -> Self {
        WebFetchTool {
            settings: Arc::new(settings),
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> Result<reqwest::Client, ToolError> {
        let built = self.client.get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .connect_timeout(Duration::from_secs(10))
                .user_agent(concat!(
                    "harnext/",
                    env!("CARGO_PKG_VERSION"),
                    " (web_fetch)"
                ))
                .dns_resolver(Arc::new(GuardedResolver {
                    settings: self.settings.clone(),
                }))
                .build()
                .map_err(|e| format!("cannot set up the HTTP client: {e}"))
        });
        built.clone().map_err(ToolError::Failed)
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// The page's full URL, `http://` or `https://`.
    url: String,
}

impl Tool for WebFetchTool {
    fn name(&self) -> &str {
        "web_fetch"
    }

    fn description(&self) -> &str {
        DESCRIPTION
    }

    fn input_schema(&self) -> Value {
        schema_for::<Args>()
    }

    fn read_only(&self) -> bool {
        // It changes no file, but it reaches outside the machine: the permission modes
        // treat it as a command (asked in the manual modes, refused in read-only).
        false
    }

    fn call(&self, args: Value, ctx: ToolContext) -> BoxFuture<'static, Result<String, ToolError>> {
        let settings = self.settings.clone();
        let client = self.client();
        Box::pin(async move {
            let args: Args = parse_args(args)?;
            if !ctx.sandbox().config().network {
                return Err(ToolError::Failed(
                    "web_fetch is off: this agent has no network access. The user can allow it with the agent's `network` option set to true (CLI: --network); do not try to fetch the page another way.".to_owned(),
                ));
            }
            let client = client?;
            let fetch = fetch(&client, &settings, &args.url);
            tokio::select! {
                _ = ctx.cancel.cancelled() => Err(ToolError::Cancelled),
                out = tokio::time::timeout(settings.timeout, fetch) => match out {
                    Ok(out) => out,
                    Err(_) => Err(ToolError::Failed(format!(
                        "{}: no complete answer within {} ms (the time limit of a fetch)",
                        args.url,
                        settings.timeout.as_millis()
                    ))),
                },
            }
        })
    }
}

/// Checks a URL of the fetch (the first, or a redirect's) against the settings.
fn check_url(settings: &WebFetchSettings, url: &Url) -> Result<String, ToolError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ToolError::Failed(format!(
            "{url}: only http and https URLs are fetched"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ToolError::Failed(
            "the URL carries credentials (user:password@): it is not fetched".to_owned(),
        ));
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(ToolError::Failed(format!("{url}: the URL has no host"))),
    };
    if let Some(d) = settings.blocked_domains.iter().find(|d| matches(&host, d)) {
        return Err(ToolError::Failed(format!(
            "{host} is blocked by the user's settings (the blocked domains of the agent's web fetch settings list {d}): not fetched"
        )));
    }
    if !settings.allowed_domains.is_empty() && !settings.allows_private(&host) {
        return Err(ToolError::Failed(format!(
            "{host} is not among the domains the user allows (the allowed domains of the agent's web fetch settings: {}): not fetched",
            settings.allowed_domains.join(", ")
        )));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        if !is_public(ip) && !settings.allows_private(&host) {
            return Err(ToolError::Failed(private_refusal(&host, None)));
        }
    }
    Ok(host)
}

/// The innermost message of an error's chain (the resolver's refusal, the OS's reason).
fn reason(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message = s.to_string();
        source = s.source();
    }
    message
}

async fn fetch(
    client: &reqwest::Client,
    settings: &WebFetchSettings,
    url: &str,
) -> Result<String, ToolError> {
    let mut url = Url::parse(url.trim())
        .map_err(|e| ToolError::InvalidArgs(format!("url {url:?} is not a URL: {e}")))?;
    let mut hops: Vec<String> = Vec::new();
    let response = loop {
        check_url(settings, &url)?;
        let response = client
            .get(url.clone())
            .header(
                reqwest::header::ACCEPT,
                "text/html, text/markdown;q=0.9, text/plain;q=0.8, */*;q=0.5",
            )
            .send()
            .await
            .map_err(|e| ToolError::Failed(format!("{url}: {}", reason(&e))))?;
        if !response.status().is_redirection() {
            break response;
        }
        let Some(location) = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
        else {
            break response;
        };
        let next = url.join(location).map_err(|e| {
            ToolError::Failed(format!(
                "{url} redirects to {location:?}, which is not a URL: {e}"
            ))
        })?;
        hops.push(url.to_string());
        if hops.len() > MAX_REDIRECTS {
            return Err(ToolError::Failed(format!(
                "stopped after {MAX_REDIRECTS} redirects (a redirect loop?): {} -> {next}",
                hops.join(" -> ")
            )));
        }
        url = next;
    };
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (body, cut) = read_body(response).await?;
    if !status.is_success() {
        let excerpt: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        return Err(ToolError::Failed(format!(
            "{url}: HTTP {status}{}",
            if excerpt.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", excerpt.trim())
            }
        )));
    }
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    let html = mime == "text/html" || mime == "application/xhtml+xml";
    let text_like = mime.is_empty()
        || mime.starts_with("text/")
        || mime.ends_with("+json")
        || mime.ends_with("+xml")
        || matches!(
            mime.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-yaml"
        );
    if !text_like {
        return Err(ToolError::Failed(format!(
            "{url}: the content is {mime}, not text: web_fetch returns only text and web pages"
        )));
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    let text = if html {
        tokio::task::spawn_blocking(move || to_markdown(&text))
            .await
            .map_err(|e| ToolError::Failed(format!("converting the page failed: {e}")))??
    } else {
        text
    };
    let mut out = format!(
        "Fetched {url} (HTTP {}, {}{}{})\n\n",
        status.as_u16(),
        if mime.is_empty() {
            "no content type"
        } else {
            &mime
        },
        if hops.is_empty() {
            String::new()
        } else {
            format!(
                ", after {} redirect{}",
                hops.len(),
                if hops.len() == 1 { "" } else { "s" }
            )
        },
        if cut {
            format!(", only the first {MAX_BODY_BYTES} bytes read")
        } else {
            String::new()
        }
    );
    let total = text.chars().count();
    if total > MAX_CHARS {
        out.extend(text.chars().take(MAX_CHARS));
        out.push_str(&format!(
            "\n\n[Cut: the page has {total} characters; the first {MAX_CHARS} are shown.]"
        ));
    } else {
        out.push_str(&text);
    }
    Ok(out)
}

/// At most [`MAX_BODY_BYTES`] of the body, and whether there was more.
async fn read_body(response: reqwest::Response) -> Result<(Vec<u8>, bool), ToolError> {
    let url = response.url().clone();
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ToolError::Failed(format!("{url}: reading the body: {}", reason(&e))))?;
        let room = MAX_BODY_BYTES - body.len();
        if chunk.len() >= room {
            body.extend_from_slice(&chunk[..room]);
            // Dropping the stream closes the connection: the rest is never read.
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// Deepest element nesting converted to Markdown: the converter walks the tree
/// recursively, and a hostile page of 100,000 nested elements would exhaust the stack.
const MAX_HTML_DEPTH: usize = 256;

/// Elements that nest nothing (void), or whose end tag may be left out and that the
/// parser closes when a sibling starts (`<li>a<li>b` are siblings): not counted.
const UNCOUNTED: [&str; 31] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead",
    "tbody", "tfoot", "colgroup", "rt", "rp", "html", "body",
];

/// How deep the page's elements nest, by a scan of its tags (comments, doctypes and
/// [`UNCOUNTED`] elements skipped; another unclosed element counts until the end).
fn nesting_depth(html: &str) -> usize {
    let bytes = html.as_bytes();
    let (mut depth, mut max, mut i) = (0usize, 0usize, 0usize);
    while let Some(at) = bytes[i..].iter().position(|b| *b == b'<') {
        i += at + 1;
        let Some(&next) = bytes.get(i) else { break };
        if next == b'/' {
            depth = depth.saturating_sub(1);
            continue;
        }
        if !next.is_ascii_alphabetic() {
            continue;
        }
        let name_end = bytes[i..]
            .iter()
            .position(|b| !b.is_ascii_alphanumeric())
            .map_or(bytes.len(), |n| i + n);
        let name = html[i..name_end].to_ascii_lowercase();
        let tag_end = bytes[name_end..]
            .iter()
            .position(|b| *b == b'>')
            .map_or(bytes.len(), |n| name_end + n);
        let self_closing = tag_end > 0 && bytes.get(tag_end - 1) == Some(&b'/');
        if !self_closing && !UNCOUNTED.contains(&name.as_str()) {
            depth += 1;
            max = max.max(depth);
        }
        i = tag_end.min(bytes.len());
        if i >= bytes.len() {
            break;
        }
    }
    max
}

/// The text of a page that nests too deep to convert: tags dropped, whitespace folded.
fn text_only(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A page as Markdown, without what is not content.
fn to_markdown(html: &str) -> Result<String, ToolError> {
    if nesting_depth(html) > MAX_HTML_DEPTH {
        return Ok(format!(
            "[The page's elements nest more than {MAX_HTML_DEPTH} deep: only its text is shown.]\n\n{}",
            text_only(html)
        ));
    }
    let converter = htmd::HtmlToMarkdown::builder()
        .skip_tags(vec![
            "script", "style", "noscript", "template", "svg", "canvas", "iframe", "head", "nav",
            "footer", "form", "button",
        ])
        .build();
    let markdown = converter
        .convert(html)
        .map_err(|e| ToolError::Failed(format!("the page could not be converted: {e}")))?;
    Ok(markdown.trim().to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn private_and_public_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn domains_match_themselves_and_their_subdomains_and_bad_ones_are_refused() {
        assert!(matches("example.com", "example.com"));
        assert!(matches("docs.example.com", "example.com"));
        assert!(!matches("badexample.com", "example.com"));
        let s = WebFetchSettings {
            allowed_domains: vec!["*.Example.COM.".into(), "[::1]".into()],
            ..WebFetchSettings::default()
        }
        .normalized()
        .unwrap();
        assert_eq!(s.allowed_domains, ["example.com", "::1"]);
        for bad in [
            "https://example.com",
            "example.com/x",
            "example.com:80",
            "",
            "a b",
        ] {
            let e = WebFetchSettings {
                blocked_domains: vec![bad.into()],
                ..WebFetchSettings::default()
            }
            .normalized()
            .unwrap_err();
            assert!(e.starts_with("blocked_domains:"), "{e}");
        }
    }

    #[test]
    fn urls_are_checked_before_any_request() {
        let s = WebFetchSettings {
            blocked_domains: vec!["ads.example".into()],
            ..WebFetchSettings::default()
        };
        let check = |u: &str| check_url(&s, &Url::parse(u).unwrap()).map_err(|e| e.to_string());
        assert!(check("https://example.org/a").is_ok());
        assert!(check("ftp://example.org/")
            .unwrap_err()
            .contains("only http and https"));
        assert!(check("https://u:p@example.org/")
            .unwrap_err()
            .contains("credentials"));
        assert!(check("https://x.ads.example/")
            .unwrap_err()
            .contains("blocked"));
        assert!(check("http://127.0.0.1:8080/")
            .unwrap_err()
            .contains("private network address"));
        assert!(check("http://[::1]/")
            .unwrap_err()
            .contains("private network address"));
        assert!(check("http://169.254.169.254/latest/meta-data")
            .unwrap_err()
            .contains("private"));
    }

    #[test]
    fn a_page_nested_too_deep_is_shown_as_text_not_a_crash() {
        let hostile = format!(
            "{}deep text{}",
            "<div>".repeat(100_000),
            "</div>".repeat(100_000)
        );
        let out = to_markdown(&hostile).unwrap();
        assert!(
            out.starts_with("[The page's elements nest more than 256 deep"),
            "{}",
            &out[..80]
        );
        assert!(out.ends_with("deep text"));
        assert_eq!(
            nesting_depth("<p>a<br>b<img src=x/><!-- c --></p><div><span>x</span></div>"),
            2
        );
        let list = format!("<ul>{}</ul>", "<li>item".repeat(1_000));
        assert_eq!(nesting_depth(&list), 1, "unclosed items are siblings");
        let fine = format!("{}ok{}", "<div>".repeat(200), "</div>".repeat(200));
        assert_eq!(to_markdown(&fine).unwrap(), "ok");
    }

    #[test]
    fn html_becomes_markdown_without_scripts_and_styles() {
        let md = to_markdown(
            "<html><head><title>T</title><style>p{}</style></head><body><h1>Hi</h1><script>alert(1)</script><p>A <a href=\"/x\">link</a>.</p><ul><li>one</li></ul></body></html>",
        )
        .unwrap();
        assert!(md.starts_with("# Hi"), "{md}");
        assert!(md.contains("A [link](/x)."), "{md}");
        assert!(
            md.contains("one") && !md.contains("alert") && !md.contains("p{}"),
            "{md}"
        );
    }
}
