/**
 * A group of options with its defaults under what was given: a value given as `undefined`
 * counts as not given (the CLI passes every option, unset ones as undefined), so it never
 * hides a default the way a plain spread would.
 */
export type Given<T> = { [K in keyof T]?: T[K] | undefined };

export function withDefaults<T extends object>(defaults: Readonly<T>, given: Given<T> | undefined): T {
  const options: T = { ...defaults };
  if (given === undefined) return options;
  for (const key of Object.keys(given)) {
    if (!isKeyOf(key, defaults)) continue;
    const value = given[key];
    if (value !== undefined) options[key] = value;
  }
  return options;
}

/** Only the group's own options are taken: a stray key cannot reach its owner. */
function isKeyOf<T extends object>(key: string, defaults: T): key is Extract<keyof T, string> {
  return Object.hasOwn(defaults, key);
}
