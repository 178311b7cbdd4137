import { describe, expect, it } from 'vitest';
import { FilterParser, EqualityFilter } from 'ldapts';
import { escapeDnValue, escapeFilterValue } from '../../src-main/core/directory/index.js';

describe('escapeFilterValue (RFC 4515)', () => {
  it('escapes the five special characters and nothing else', () => {
    expect(escapeFilterValue('a*b(c)d\\e\0f')).toBe('a\\2ab\\28c\\29d\\5ce\\00f');
    expect(escapeFilterValue('Jürgen O\'Brien, Jr.')).toBe('Jürgen O\'Brien, Jr.');
  });

  it('keeps injection attempts a single equality assertion on the literal value', () => {
    for (const evil of ['*', 'alice)(uid=*', '*)(|(objectClass=*', '\\00', 'x\0', 'CN=a\\, b,DC=x']) {
      const f = FilterParser.parseString(`(uid=${escapeFilterValue(evil)})`);
      expect(f).toBeInstanceOf(EqualityFilter);
      expect((f as EqualityFilter).value).toBe(evil);
    }
  });
});

describe('escapeDnValue (RFC 4514)', () => {
  it('escapes separators, quotes and backslashes', () => {
    expect(escapeDnValue('Test, User+1')).toBe('Test\\, User\\+1');
    expect(escapeDnValue('a"b<c>d;e\\f')).toBe('a\\"b\\<c\\>d\\;e\\\\f');
  });

  it('escapes a leading # or space, a trailing space, and NUL', () => {
    expect(escapeDnValue('#tag')).toBe('\\#tag');
    expect(escapeDnValue(' lead')).toBe('\\ lead');
    expect(escapeDnValue('trail ')).toBe('trail\\ ');
    expect(escapeDnValue('a\0b')).toBe('a\\00b');
    expect(escapeDnValue('back\\ ')).toBe('back\\\\\\ ');
  });

  it('leaves ordinary names alone', () => {
    expect(escapeDnValue('Alice Test')).toBe('Alice Test');
  });
});
