'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { createList, add, complete, remaining, summary } = require('../src/todo.js');

test('add trims titles and assigns increasing ids', () => {
  const list = createList();
  assert.deepEqual(add(list, '  buy milk '), { id: 1, title: 'buy milk', done: false });
  assert.equal(add(list, 'walk the dog').id, 2);
  assert.throws(() => add(list, '   '), /must not be empty/);
});

test('complete marks a todo as done', () => {
  const list = createList();
  const { id } = add(list, 'write report');
  assert.equal(complete(list, id).done, true);
  assert.throws(() => complete(list, 42), /no todo with id 42/);
});

test('remaining lists the open todos', () => {
  const list = createList();
  add(list, 'a');
  add(list, 'b');
  add(list, 'c');
  complete(list, 2);
  assert.deepEqual(remaining(list).map((t) => t.title), ['a', 'c']);
});

test('summary counts the completed todos', () => {
  const list = createList();
  add(list, 'a');
  add(list, 'b');
  add(list, 'c');
  complete(list, 1);
  assert.equal(summary(list), '1 of 3 done');
});
