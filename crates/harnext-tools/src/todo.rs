//! `todo_write`: the short task list the model keeps while it works, shown to the user.
//!
//! As with Claude Code's TodoWrite and Codex's plan updates, every call sends the whole
//! list (it replaces the one before). The list lives in a [`TodoList`] the run gives the
//! tool through its context: the run reports each change (a `todo` event) and keeps the
//! list in the session, so a resumed run starts with it. Without a [`TodoList`] (a tool
//! called outside a run) the list is checked and shown, and kept nowhere.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use futures::future::BoxFuture;
use harnext_protocol::TodoItem;
use harnext_protocol::TodoStatus;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::schema::schema_for;
use crate::{parse_args, Tool, ToolContext, ToolError};

/// Most items in the list.
pub const MAX_TODOS: usize = 20;
/// Most characters in one item.
pub const MAX_TODO_CHARS: usize = 200;

const DESCRIPTION: &str = "Keep a short task list for the current work, shown to the user \
as you go. Use it for tasks of three steps or more: write the plan first, then update it as \
you work (mark an item in_progress when you start it, completed as soon as it is done; at \
most one item in_progress at a time). Each call sends the whole list and replaces the one \
before; an empty list clears it. At most 20 items of at most 200 characters. Skip it for \
simple one-step tasks.";

/// The `todo_write` tool.
pub struct TodoWriteTool;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// The whole task list, in order. Replaces the previous list.
    #[schemars(length(max = MAX_TODOS))]
    todos: Vec<ItemArgs>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ItemArgs {
    /// What to do, in a few words (imperative: "Run the tests").
    #[schemars(length(min = 1, max = MAX_TODO_CHARS))]
    content: String,
    /// Where the item stands.
    status: StatusArg,
}

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum StatusArg {
    Pending,
    InProgress,
    Completed,
}

impl From<StatusArg> for TodoStatus {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Pending => TodoStatus::Pending,
            StatusArg::InProgress => TodoStatus::InProgress,
            StatusArg::Completed => TodoStatus::Completed,
        }
    }
}

/// Who hears of each change of a [`TodoList`].
type OnChange = Box<dyn Fn(&[TodoItem]) + Send + Sync>;

/// The task list of a run: what `todo_write` replaces, and who hears of each change.
pub struct TodoList {
    items: Mutex<Vec<TodoItem>>,
    changed: AtomicBool,
    on_change: Option<OnChange>,
}

impl TodoList {
    /// A list that starts as `items` (a resumed session's list).
    pub fn new(items: Vec<TodoItem>) -> Self {
        TodoList {
            items: Mutex::new(items),
            changed: AtomicBool::new(false),
            on_change: None,
        }
    }

    /// Calls `f` with the whole list each time `todo_write` changes it.
    pub fn on_change(mut self, f: impl Fn(&[TodoItem]) + Send + Sync + 'static) -> Self {
        self.on_change = Some(Box::new(f));
        self
    }

    /// The list now.
    pub fn items(&self) -> Vec<TodoItem> {
        self.items.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The list, when it changed since the last call (for whoever keeps it).
    pub fn take_changed(&self) -> Option<Vec<TodoItem>> {
        self.changed
            .swap(false, Ordering::SeqCst)
            .then(|| self.items())
    }

    fn replace(&self, items: Vec<TodoItem>) {
        let mut now = self.items.lock().unwrap_or_else(|e| e.into_inner());
        if *now == items {
            return;
        }
        now.clone_from(&items);
        self.changed.store(true, Ordering::SeqCst);
        // Reported under the lock: two calls of one turn report in the order they
        // changed the list.
        if let Some(f) = &self.on_change {
            f(&now);
        }
    }
}

/// The list the arguments give, checked: bounded, every item non-empty, one line (runs
/// of whitespace become one space), at most one in progress.
fn checked(args: Args) -> Result<Vec<TodoItem>, ToolError> {
    let invalid = |m: String| Err(ToolError::InvalidArgs(m));
    if args.todos.len() > MAX_TODOS {
        return invalid(format!(
            "the list has {} items; at most {MAX_TODOS} are kept. Merge or drop items and send it again",
            args.todos.len()
        ));
    }
    let mut items = Vec::with_capacity(args.todos.len());
    for (i, item) in args.todos.into_iter().enumerate() {
        let content = item
            .content
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if content.is_empty() {
            return invalid(format!("todos[{i}].content is empty"));
        }
        let chars = content.chars().count();
        if chars > MAX_TODO_CHARS {
            return invalid(format!(
                "todos[{i}].content has {chars} characters; at most {MAX_TODO_CHARS}"
            ));
        }
        items.push(TodoItem {
            content,
            status: item.status.into(),
        });
    }
    let in_progress: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, t)| t.status == TodoStatus::InProgress)
        .map(|(i, _)| i)
        .collect();
    if in_progress.len() > 1 {
        return invalid(format!(
            "{} items are in_progress (todos{:?}); at most one may be: finish one first",
            in_progress.len(),
            in_progress
        ));
    }
    Ok(items)
}

/// What the model reads back: the list as it is now.
fn render(items: &[TodoItem]) -> String {
    if items.is_empty() {
        return "The task list is now empty.".to_owned();
    }
    let count = |s: TodoStatus| items.iter().filter(|t| t.status == s).count();
    let mut out = format!(
        "Task list updated ({} items: {} completed, {} in progress, {} pending):",
        items.len(),
        count(TodoStatus::Completed),
        count(TodoStatus::InProgress),
        count(TodoStatus::Pending)
    );
    for item in items {
        let mark = match item.status {
            TodoStatus::Pending => "[ ]",
            TodoStatus::InProgress => "[>]",
            TodoStatus::Completed => "[x]",
        };
        out.push('\n');
        out.push_str(mark);
        out.push(' ');
        out.push_str(&item.content);
    }
    out
}

impl Tool for TodoWriteTool {
    fn name(&self) -> &str {
        "todo_write"
    }

    fn description(&self) -> &str {
        DESCRIPTION
    }

    fn input_schema(&self) -> Value {
        schema_for::<Args>()
    }

    fn read_only(&self) -> bool {
        // It changes no file and runs nothing: no permission mode asks for it.
        true
    }

    fn call(&self, args: Value, ctx: ToolContext) -> BoxFuture<'static, Result<String, ToolError>> {
        Box::pin(async move {
            let items = checked(parse_args(args)?)?;
            let text = render(&items);
            if let Some(list) = &ctx.todos {
                list.replace(items);
            }
            Ok(text)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::test_support::ctx;

    fn item(content: &str, status: TodoStatus) -> TodoItem {
        TodoItem {
            content: content.to_owned(),
            status,
        }
    }

    #[tokio::test]
    async fn the_list_replaces_the_one_before_and_each_change_is_reported_once() {
        let (_dir, mut ctx) = ctx();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let list = Arc::new(
            TodoList::new(vec![item("old", TodoStatus::Pending)])
                .on_change(move |items| log.lock().unwrap().push(items.to_vec())),
        );
        ctx.todos = Some(list.clone());
        let out = TodoWriteTool
            .call(
                json!({"todos": [
                    {"content": "  Read   the\ncode ", "status": "completed"},
                    {"content": "Fix the bug", "status": "in_progress"},
                    {"content": "Run the tests", "status": "pending"}
                ]}),
                ctx.clone(),
            )
            .await
            .unwrap();
        assert_eq!(
            out,
            "Task list updated (3 items: 1 completed, 1 in progress, 1 pending):\n[x] Read the code\n[>] Fix the bug\n[ ] Run the tests"
        );
        let want = vec![
            item("Read the code", TodoStatus::Completed),
            item("Fix the bug", TodoStatus::InProgress),
            item("Run the tests", TodoStatus::Pending),
        ];
        assert_eq!(list.items(), want);
        assert_eq!(list.take_changed(), Some(want.clone()));
        assert_eq!(list.take_changed(), None);
        // The same list again is no change.
        let same = json!({"todos": [
            {"content": "Read the code", "status": "completed"},
            {"content": "Fix the bug", "status": "in_progress"},
            {"content": "Run the tests", "status": "pending"}
        ]});
        TodoWriteTool.call(same, ctx.clone()).await.unwrap();
        assert_eq!(list.take_changed(), None);
        let out = TodoWriteTool.call(json!({"todos": []}), ctx).await.unwrap();
        assert_eq!(out, "The task list is now empty.");
        assert_eq!(*seen.lock().unwrap(), vec![want, vec![]]);
    }

    #[tokio::test]
    async fn bad_lists_are_refused_naming_what_is_wrong_and_change_nothing() {
        let (_dir, mut ctx) = ctx();
        let list = Arc::new(TodoList::new(vec![item("keep", TodoStatus::Pending)]));
        ctx.todos = Some(list.clone());
        let many: Vec<Value> = (0..21)
            .map(|i| json!({"content": format!("t{i}"), "status": "pending"}))
            .collect();
        let cases = [
            (json!({"todos": many}), "21 items; at most 20"),
            (
                json!({"todos": [{"content": " \n ", "status": "pending"}]}),
                "todos[0].content is empty",
            ),
            (
                json!({"todos": [{"content": "x".repeat(201), "status": "pending"}]}),
                "201 characters; at most 200",
            ),
            (
                json!({"todos": [
                    {"content": "a", "status": "in_progress"},
                    {"content": "b", "status": "pending"},
                    {"content": "c", "status": "in_progress"}
                ]}),
                "2 items are in_progress (todos[0, 2])",
            ),
            (
                json!({"todos": [{"content": "a", "status": "doing"}]}),
                "unknown variant `doing`",
            ),
            (json!({"todo": []}), "unknown field `todo`"),
            (json!({"todos": "a, b"}), "invalid type"),
        ];
        for (args, want) in cases {
            let e = TodoWriteTool.call(args, ctx.clone()).await.unwrap_err();
            assert!(matches!(e, ToolError::InvalidArgs(_)), "{e}");
            assert!(e.to_string().contains(want), "{e} / {want}");
        }
        assert_eq!(list.items(), vec![item("keep", TodoStatus::Pending)]);
        assert_eq!(list.take_changed(), None);
    }

    #[tokio::test]
    async fn without_a_list_the_call_is_checked_and_shown() {
        let (_dir, ctx) = ctx();
        let out = TodoWriteTool
            .call(
                json!({"todos": [{"content": "a", "status": "pending"}]}),
                ctx,
            )
            .await
            .unwrap();
        assert!(out.ends_with("\n[ ] a"), "{out}");
    }
}
