'use strict';

/** Creates an empty todo list. */
function createList() {
  return { items: [], nextId: 1 };
}

/** Adds a todo and returns it. The title is trimmed and must not be empty. */
function add(list, title) {
  const text = String(title ?? '').trim();
  if (!text) throw new Error('title must not be empty');
  const item = { id: list.nextId++, title: text, done: false };
  list.items.push(item);
  return item;
}

/** Marks the todo with this id as done and returns it. */
function complete(list, id) {
  const item = list.items.find((t) => t.id === id);
  if (!item) throw new Error(`no todo with id ${id}`);
  item.done = true;
  return item;
}

/** The todos that are still open, in the order they were added. */
function remaining(list) {
  return list.items.filter((t) => t.done);
}

/** A one-line summary, e.g. "1 of 3 done". */
function summary(list) {
  const done = list.items.length - remaining(list).length;
  return `${done} of ${list.items.length} done`;
}

module.exports = { createList, add, complete, remaining, summary };
