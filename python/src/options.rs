//! `Agent(...)` and `run(...)`: the Python option values and their conversion into the
//! core's configuration. The Python layer (`harnext/_agent.py`) hands over a dict of the
//! options the caller gave; each is checked here, and a wrong type or value raises with
//! the option's name.

use std::sync::Arc;
use std::time::Duration;

use harnext_core::hooks::HookEvent;
use harnext_core::hooks::Hooks;
use harnext_core::mcp::servers_from_json;
use harnext_core::mcp::McpServerConfig;
use harnext_core::output::OutputRequest;
use harnext_core::output::DEFAULT_OUTPUT_RETRIES;
use harnext_core::protocol::option::unknown_name_hint;
use harnext_core::protocol::Message as CoreMessage;
use harnext_core::protocol::OptionKey;
use harnext_core::protocol::OptionScope;
use harnext_core::protocol::ScriptedTurn;
use harnext_core::AgentConfig;
use harnext_core::ConfigError;
use harnext_core::PermissionMode;
use harnext_core::RunInput;
use harnext_core::RunRequest;
use harnext_core::SystemPrompt;
use pyo3::exceptions::PyTypeError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBool;
use pyo3::types::PyDict;
use pyo3::types::PyList;
use pyo3::types::PyString;
use serde_json::Map;
use serde_json::Value;

use crate::callbacks::PyHook;
use crate::callbacks::PyOutputValidator;
use crate::callbacks::PyTool;
use crate::error::invalid;
use crate::error::word;
use crate::error::wrong_type;
use crate::error::PyNames;
use crate::values::boolean;
use crate::values::got;
use crate::values::integer;
use crate::values::json;
use crate::values::path;
use crate::values::paths;
use crate::values::string;
use crate::values::string_map;
use crate::values::strings;
use crate::values::u32_option;

/// `snake_case` keys of a script turn (and its usage) as the scripted model reads them.
fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn camel_keys(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .map(|(k, v)| {
            let v = match (k.as_str(), v) {
                ("usage", Value::Object(u)) => Value::Object(camel_keys(u)),
                (_, v) => v,
            };
            (camel(&k), v)
        })
        .collect()
}

fn script(v: &Bound<'_, PyAny>) -> PyResult<Vec<ScriptedTurn>> {
    let Value::Array(turns) = json("script", v)? else {
        return Err(wrong_type("script", "a list of turns", got(v)));
    };
    turns
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let t = match t {
                Value::Object(o) => Value::Object(camel_keys(o)),
                other => other,
            };
            serde_json::from_value(t).map_err(|e| {
                invalid(ConfigError::invalid(
                    OptionKey::Script,
                    format!("turn {i}: {e}"),
                ))
            })
        })
        .collect()
}

/// `mcp_servers={"fs": {"command": ..., "args": [...]}, "docs": {"url": ...}}`, read by
/// the engine (fields by their neutral, snake_case keys).
fn mcp_servers(v: &Bound<'_, PyAny>) -> PyResult<Vec<(String, McpServerConfig)>> {
    if v.cast::<PyDict>().is_err() {
        return Err(wrong_type(
            "mcp_servers",
            "a dict of servers by name",
            got(v),
        ));
    }
    servers_from_json(&json("mcp_servers", v)?, &|k: &str| k.to_owned())
        .map_err(|problem| invalid(ConfigError::invalid(OptionKey::McpServers, problem)))
}

/// `checkpoints=False` (none), `True` (the default limits) or a dict of limits, read by
/// the engine (`max_file_bytes`, `max_binary_bytes`, `max_run_bytes`,
/// `max_baseline_files`).
fn checkpoints(
    key: &str,
    v: &Bound<'_, PyAny>,
) -> PyResult<Option<harnext_core::checkpoints::CheckpointOptions>> {
    if !v.is_instance_of::<PyBool>() && v.cast::<PyDict>().is_err() {
        return Err(wrong_type(key, "a bool or a dict of limits", got(v)));
    }
    harnext_core::checkpoints_option(&json(key, v)?, false).map_err(invalid)
}

/// `agents={"reviewer": {"description": ..., "system_prompt": ..., "tools": [...]}}`, read
/// by the engine (fields by their neutral, snake_case keys).
fn agents(
    v: &Bound<'_, PyAny>,
) -> PyResult<Vec<(String, harnext_core::subagent::AgentDefinition)>> {
    if v.cast::<PyDict>().is_err() {
        return Err(wrong_type(
            "agents",
            "a dict of agent definitions by name",
            got(v),
        ));
    }
    harnext_core::subagent::agents_from_json(&json("agents", v)?, &|k: &str| k.to_owned())
        .map_err(|problem| invalid(ConfigError::invalid(OptionKey::Agents, problem)))
}

/// The largest budget in tokens or milliseconds (2^53 - 1, as Node takes it).
const MAX_INT: u64 = 9_007_199_254_740_991;

/// A number of US dollars (an int or a float, not a bool); the engine checks its value.
fn usd(key: &str, v: &Bound<'_, PyAny>) -> PyResult<f64> {
    if v.is_instance_of::<PyBool>() {
        return Err(wrong_type(key, "a number of US dollars", got(v)));
    }
    v.extract()
        .map_err(|_| wrong_type(key, "a number of US dollars", got(v)))
}

/// `hooks=`, as the Python layer hands it over: `{"entries": [(name, fn), ...],
/// "timeout_ms": int | None}`, each function wrapped to answer JSON. The names are the
/// engine's (`pre_tool_use`, ...).
fn hooks(v: &Bound<'_, PyAny>) -> PyResult<Hooks> {
    let bad = |problem: String| invalid(ConfigError::invalid(OptionKey::Hooks, problem));
    let d = v
        .cast::<PyDict>()
        .map_err(|_| wrong_type("hooks", "a dict of hooks by name", got(v)))?;
    let mut hooks = Hooks::default();
    if let Some(t) = d.get_item("timeout_ms")? {
        if !t.is_none() {
            let ms = integer("hooks.timeout_ms", &t, 1, u64::from(u32::MAX))?;
            hooks.timeout = Duration::from_millis(ms);
        }
    }
    let Some(entries) = d.get_item("entries")? else {
        return Ok(hooks);
    };
    for entry in entries.try_iter()? {
        let (name, f): (String, Bound<'_, PyAny>) = entry?.extract()?;
        let Some(event) = HookEvent::from_key(&name) else {
            let known: Vec<&str> = HookEvent::ALL.iter().map(|e| e.key()).collect();
            return Err(bad(format!(
                "unknown hook {name:?}: {}",
                unknown_name_hint(&name, &known)
            )));
        };
        if !f.is_callable() {
            return Err(bad(format!("{name}: expected a callable, got {}", got(&f))));
        }
        hooks.add(event, Arc::new(PyHook::new(f.unbind())));
    }
    Ok(hooks)
}

/// What is wrong with the option names given to an agent (`scope` `"agent"`) or a run
/// (`"run"`), `None` when every one is known: the engine's lists and "did you mean".
#[pyfunction]
pub fn option_names_problem(scope: &str, names: Vec<String>) -> Option<String> {
    let scope = if scope == "agent" {
        OptionScope::Agent
    } else {
        OptionScope::Run
    };
    scope
        .check(names.iter().map(String::as_str), &PyNames)
        .err()
        .map(|m| word(&m))
}

/// The core configuration, and `on_permission_request` (kept by the agent, handed to
/// each run).
pub fn agent_config(options: &Bound<'_, PyDict>) -> PyResult<(AgentConfig, Option<Py<PyAny>>)> {
    let model = match options.get_item("model")? {
        Some(m) if !m.is_none() => string("model", &m)?,
        _ => {
            return Err(PyValueError::new_err(
                "invalid option `model`: required, such as \"anthropic/claude-sonnet-4-5\"",
            ))
        }
    };
    let names: Vec<String> = options
        .keys()
        .iter()
        .map(|k| string("<name>", &k))
        .collect::<PyResult<_>>()?;
    if let Some(problem) = option_names_problem("agent", names) {
        return Err(PyTypeError::new_err(problem));
    }
    let mut c = AgentConfig::new(model);
    let mut on_permission_request = None;
    for (k, v) in options.iter() {
        let key = string("<name>", &k)?;
        if v.is_none() {
            continue;
        }
        match key.as_str() {
            "model" => {}
            "base_url" => c.base_url = Some(string(&key, &v)?),
            "api_key" => c.api_key = Some(string(&key, &v)?),
            "headers" => c.headers = string_map(&key, &v)?,
            "cwd" => c.cwd = Some(path(&key, &v)?),
            "system_prompt" => {
                c.system_prompt = if let Ok(s) = v.cast::<PyString>() {
                    SystemPrompt::Replace(s.to_string())
                } else if let Ok(d) = v.cast::<PyDict>() {
                    match (d.len(), d.get_item("append")?) {
                        (1, Some(a)) => SystemPrompt::Append(string("system_prompt.append", &a)?),
                        _ => {
                            return Err(wrong_type(&key, "a string or {\"append\": str}", got(&v)))
                        }
                    }
                } else {
                    return Err(wrong_type(&key, "a string or {\"append\": str}", got(&v)));
                }
            }
            "tools" => {
                let list = v.cast::<PyList>().map_err(|_| {
                    wrong_type(&key, "a list of tool names and @tool functions", got(&v))
                })?;
                let mut builtins = Vec::new();
                for t in list.iter() {
                    if let Ok(name) = t.cast::<PyString>() {
                        builtins.push(name.to_string());
                    } else {
                        let tool = PyTool::new(&t)
                            .map_err(|e| invalid(ConfigError::invalid(OptionKey::Tools, e)))?;
                        c.custom_tools.push(Arc::new(tool));
                    }
                }
                c.tools = Some(builtins);
            }
            "permission_mode" => {
                c.permission_mode = PermissionMode::parse(&string(&key, &v)?).map_err(invalid)?
            }
            "on_permission_request" => {
                if !v.is_callable() {
                    return Err(wrong_type(&key, "a callable", got(&v)));
                }
                on_permission_request = Some(v.clone().unbind());
            }
            "max_steps" => c.max_steps = u32_option(&key, &v, 1)?,
            "max_output_tokens" => c.max_output_tokens = Some(u32_option(&key, &v, 1)?),
            "temperature" => {
                if v.is_instance_of::<PyBool>() {
                    return Err(wrong_type(&key, "a number", got(&v)));
                }
                c.temperature = Some(
                    v.extract::<f64>()
                        .map_err(|_| wrong_type(&key, "a number", got(&v)))?,
                )
            }
            "thinking" => {
                if !v.is_instance_of::<PyBool>() && v.cast::<PyDict>().is_err() {
                    return Err(wrong_type(
                        &key,
                        "a bool or {\"budget_tokens\": int}",
                        got(&v),
                    ));
                }
                c.thinking_budget =
                    harnext_core::thinking_option(&json(&key, &v)?, false).map_err(invalid)?
            }
            "max_retries" => c.max_retries = u32_option(&key, &v, 0)?,
            "idle_timeout_ms" => {
                c.idle_timeout = Some(Duration::from_millis(u64::from(u32_option(&key, &v, 1)?)))
            }
            "script" => c.script = Some(script(&v)?),
            "session_dir" => {
                let dir = path(&key, &v)?;
                if dir.as_os_str().is_empty() {
                    return Err(invalid(ConfigError::invalid(
                        OptionKey::SessionDir,
                        "expected a directory path, got an empty string",
                    )));
                }
                c.session_dir = Some(dir);
            }
            "persist_session" => c.persist_session = boolean(&key, &v)?,
            "context_window" => c.context_window = Some(u64::from(u32_option(&key, &v, 1)?)),
            "mcp_servers" => c.mcp_servers = mcp_servers(&v)?,
            "agents" => c.agents = agents(&v)?,
            "checkpoints" => c.checkpoints = checkpoints(&key, &v)?,
            "stream_timeout_ms" => {
                c.stream_timeout = Some(Duration::from_millis(u64::from(u32_option(&key, &v, 1)?)))
            }
            "sandbox" => {
                c.sandbox.mode =
                    harnext_core::sandbox_mode_option(&string(&key, &v)?).map_err(invalid)?
            }
            "network" => c.sandbox.network = boolean(&key, &v)?,
            "writable_roots" => c.sandbox.writable_roots = paths(&key, &v)?,
            "deny_read" => c.sandbox.deny_read = paths(&key, &v)?,
            "env_allow" => c.sandbox.env.allow = strings(&key, &v)?,
            "env_deny" => c.sandbox.env.deny = strings(&key, &v)?,
            "sandbox_best_effort" => c.sandbox.best_effort = boolean(&key, &v)?,
            // Issues 17 and 19: session stores, hooks, parallel calls, budgets.
            "session_store" => c.session_store = Some(crate::store::store_option(&v)?),
            "hooks" => c.hooks = hooks(&v)?,
            "parallel_tool_calls" => c.parallel_tool_calls = boolean(&key, &v)?,
            "max_cost_usd" => c.budget.max_cost_usd = Some(usd(&key, &v)?),
            "max_tokens" => c.budget.max_tokens = Some(integer(&key, &v, 1, MAX_INT)?),
            "max_duration_ms" => {
                c.budget.max_duration = Some(Duration::from_millis(integer(&key, &v, 1, MAX_INT)?))
            }
            // Issue 18: project instructions and skills.
            "project_instructions" => c.project_instructions = boolean(&key, &v)?,
            "skills" => c.skills = paths(&key, &v)?,
            // Issue 18: web_fetch.
            "web_fetch" => {
                c.web_fetch =
                    harnext_core::web_fetch_option(&json(&key, &v)?, false).map_err(invalid)?
            }
            // Issue 18: the providers' server-side web search.
            "web_search" => {
                c.web_search =
                    harnext_core::web_search_option(&json(&key, &v)?, false).map_err(invalid)?
            }
            other => {
                return Err(PyValueError::new_err(format!("unknown option `{other}`")));
            }
        }
    }
    Ok((c, on_permission_request))
}

/// The input of a run: a string, a list of `{"role", "content"}` messages, or (from the
/// Python layer's `approvals=`) `{"approvals": {call_id: decision}}`.
fn run_input(input: &Bound<'_, PyAny>) -> PyResult<RunInput> {
    if let Ok(s) = input.cast::<PyString>() {
        return Ok(RunInput::Text(s.to_string()));
    }
    if let Ok(d) = input.cast::<PyDict>() {
        if let (1, Some(a)) = (d.len(), d.get_item("approvals")?) {
            return match json("approvals", &a)? {
                Value::Object(map) => Ok(RunInput::Approvals(map)),
                _ => Err(wrong_type(
                    "approvals",
                    "a dict of decisions by call id",
                    got(&a),
                )),
            };
        }
    }
    let expected = "input: expected a string or a list of {\"role\": \"user\" | \"assistant\", \"content\": str | list of parts}";
    let list = input.cast::<PyList>().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(format!("{expected}, got {}", got(input)))
    })?;
    let mut messages = Vec::with_capacity(list.len());
    for (i, m) in list.iter().enumerate() {
        let field = |name: &str| -> PyResult<String> {
            let v = if let Ok(d) = m.cast::<PyDict>() {
                d.get_item(name)?
            } else {
                m.getattr(name).ok()
            };
            match v {
                Some(v) => string(&format!("input[{i}].{name}"), &v),
                None => Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "input[{i}]: {expected}, got {}",
                    got(&m)
                ))),
            }
        };
        let role = field("role")?;
        let role = match role.as_str() {
            "user" => harnext_core::protocol::Role::User,
            "assistant" => harnext_core::protocol::Role::Assistant,
            other => {
                return Err(PyValueError::new_err(format!(
                    "input[{i}].role: expected \"user\" or \"assistant\", got {other:?}"
                )))
            }
        };
        let raw = if let Ok(d) = m.cast::<PyDict>() {
            d.get_item("content")?
        } else {
            m.getattr("content").ok()
        };
        let content = match raw {
            Some(v) if v.cast::<PyList>().is_ok() => input_parts(&v, i)?,
            _ => vec![harnext_core::protocol::ContentBlock::Text {
                text: field("content")?,
            }],
        };
        messages.push(CoreMessage { role, content });
    }
    Ok(RunInput::Messages(messages))
}

// ---- images (issue 18): the parts of an input message ----

/// A message's list of parts: `{"type": "text", "text"}` and `{"type": "image", ...}`
/// with one of `path`, `data` (bytes or base64 str, with `media_type`) or `url`. Images
/// are checked here and when the run starts (paths are read through the workspace then).
fn input_parts(
    list: &Bound<'_, PyAny>,
    i: usize,
) -> PyResult<Vec<harnext_core::protocol::ContentBlock>> {
    use harnext_core::protocol::image;
    use harnext_core::protocol::ContentBlock;
    use harnext_core::protocol::ImageSource;
    use pyo3::types::PyBytes;
    let list = list.cast::<PyList>()?;
    let mut out = Vec::with_capacity(list.len());
    for (j, part) in list.iter().enumerate() {
        let at = format!("input[{i}].content[{j}]");
        let dict = part.cast::<PyDict>().map_err(|_| {
            wrong_type(
                &at,
                "a part dict {\"type\": \"text\" | \"image\", ...}",
                got(&part),
            )
        })?;
        let opt = |name: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
            Ok(dict.get_item(name)?.filter(|v| !v.is_none()))
        };
        let text_of = |name: &str| -> PyResult<Option<String>> {
            opt(name)?
                .map(|v| string(&format!("{at}.{name}"), &v))
                .transpose()
        };
        for key in dict.keys() {
            let key = string(&at, &key)?;
            if !["type", "text", "path", "data", "media_type", "url"].contains(&key.as_str()) {
                return Err(PyValueError::new_err(format!(
                    "{at}: unknown key {key:?} (a part has type, text, path, data, media_type, url)"
                )));
            }
        }
        let kind = text_of("type")?.unwrap_or_default();
        let (path, data, url) = (text_of("path")?, opt("data")?, text_of("url")?);
        let media_type = text_of("media_type")?;
        let given = [path.is_some(), data.is_some(), url.is_some()]
            .iter()
            .filter(|g| **g)
            .count();
        let block = match kind.as_str() {
            "text" => match text_of("text")? {
                Some(text) if given == 0 && media_type.is_none() => ContentBlock::Text { text },
                Some(_) => {
                    return Err(PyValueError::new_err(format!(
                        "{at}: a text part has only `text`"
                    )))
                }
                None => {
                    return Err(PyValueError::new_err(format!(
                        "{at}: a text part needs `text`"
                    )))
                }
            },
            "image" => {
                if opt("text")?.is_some() || given != 1 {
                    return Err(PyValueError::new_err(format!(
                        "{at}: an image part needs exactly one of `path`, `data` (with `media_type`) or `url`"
                    )));
                }
                if media_type.is_some() && data.is_none() {
                    return Err(PyValueError::new_err(format!(
                        "{at}: `media_type` goes with `data` (a file's or URL's type is read from its bytes)"
                    )));
                }
                let source = if let Some(path) = path {
                    ImageSource::Path { path }
                } else if let Some(url) = url {
                    image::image_from_url(&url, &at).map_err(|e| PyValueError::new_err(e.0))?
                } else {
                    let Some(media_type) = media_type else {
                        return Err(PyValueError::new_err(format!(
                            "{at}: image `data` needs its `media_type`"
                        )));
                    };
                    let Some(data) = data else {
                        return Err(PyValueError::new_err(format!(
                            "{at}: image `data` is missing"
                        )));
                    };
                    if let Ok(b) = data.cast::<PyBytes>() {
                        image::image_from_bytes(b.as_bytes(), Some(&media_type), &at)
                    } else if let Ok(s) = data.cast::<PyString>() {
                        image::image_from_base64(&s.to_string(), Some(&media_type), &at)
                    } else {
                        return Err(wrong_type(
                            &format!("{at}.data"),
                            "bytes or a base64 str",
                            got(&data),
                        ));
                    }
                    .map_err(|e| PyValueError::new_err(e.0))?
                };
                ContentBlock::Image {
                    source,
                    tool_use_id: None,
                }
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "{at}.type: expected \"text\" or \"image\", got {other:?}"
                )))
            }
        };
        out.push(block);
    }
    Ok(out)
}

// ---- end images ----

/// The core's run request: the input and the run options (`session_id`, `max_steps`,
/// `output_schema` as a JSON Schema dict with the Python validator, `max_output_retries`).
pub fn run_request(input: &Bound<'_, PyAny>, options: &Bound<'_, PyDict>) -> PyResult<RunRequest> {
    let mut request = RunRequest::text("");
    request.input = run_input(input)?;
    let mut schema = None;
    let mut validate = None;
    let mut retries = DEFAULT_OUTPUT_RETRIES;
    for (k, v) in options.iter() {
        let key = string("<name>", &k)?;
        if v.is_none() {
            continue;
        }
        match key.as_str() {
            "session_id" => request.session_id = Some(string(&key, &v)?),
            "max_steps" => request.max_steps = Some(u32_option(&key, &v, 1)?),
            "output_schema" => schema = Some(json(&key, &v)?),
            "output_validate" => validate = Some(v.clone().unbind()),
            "max_output_retries" => {
                retries = u32::try_from(integer(&key, &v, 0, 100)?).unwrap_or(100)
            }
            "max_cost_usd" => request.budget.max_cost_usd = Some(usd(&key, &v)?),
            "max_tokens" => request.budget.max_tokens = Some(integer(&key, &v, 1, MAX_INT)?),
            "max_duration_ms" => {
                request.budget.max_duration =
                    Some(Duration::from_millis(integer(&key, &v, 1, MAX_INT)?))
            }
            "parallel_tool_calls" => request.parallel_tool_calls = Some(boolean(&key, &v)?),
            "web_search" => {
                request.web_search = Some(
                    harnext_core::web_search_option(&json(&key, &v)?, false)
                        .map_err(|e| PyValueError::new_err(e.to_string()))?,
                )
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown run option `{other}`"
                )))
            }
        }
    }
    if let Some(schema) = schema {
        request.output = Some(OutputRequest {
            schema,
            validator: validate.map(|f| -> Arc<dyn harnext_core::output::OutputValidator> {
                Arc::new(PyOutputValidator::new(f))
            }),
            max_retries: retries,
        });
    }
    Ok(request)
}
