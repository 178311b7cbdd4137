/**
 * Escaping for values placed into LDAP filters and DNs. Every value that came
 * from a user (a typed login) or from the directory (a DN fed back into a
 * filter) goes through one of these, so `*`, `)(uid=*` or a NUL byte can never
 * change the meaning of a search.
 */

/** RFC 4515 assertion value: `\`, `*`, `(`, `)` and NUL become `\XX`. */
export function escapeFilterValue(value: string): string {
  return value.replace(/[\\*()\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * RFC 4514 attribute value inside a DN: `"+,;<>\` and NUL escaped everywhere,
 * a leading `#` or space and a trailing space escaped too.
 */
export function escapeDnValue(value: string): string {
  const body = value.replace(/[\\"+,;<>]/g, (c) => `\\${c}`).replace(/\0/g, '\\00');
  const lead = value.startsWith('#') || value.startsWith(' ') ? '\\' : '';
  // A trailing space is the one character that needs its backslash at the end.
  const trail = value.length > 1 && value.endsWith(' ') ? `${body.slice(0, -1)}\\ ` : body;
  return lead + trail;
}
