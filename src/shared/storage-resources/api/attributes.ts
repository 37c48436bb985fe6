// Attribute types of resource classes (IML api/attributes.py; reference §2). Validation messages are
// the original's, byte for byte; checks the original left to Python's duck typing (a number given
// to a String) get a short message of ours so a JavaScript plugin fails clearly, not later.
import type { AttributeInfo, AttributeType } from '../session.js';
import { isResource } from './brands.js';
import { pyRepr, pyStr, pyTitle, pyTuple } from './py-format.js';
import type { Resource } from './resource.js';

export interface AttributeOptions<T, O extends boolean> {
  /** May be left unassigned (null). Mandatory by default. */
  optional?: O;
  /** Shown in the UI; default from the name: `file_size` → "File size". */
  label?: string;
  /** Not a column in the table view. */
  hidden?: boolean;
  /** Only the plugin sets it, never a user. */
  userReadOnly?: boolean;
  /** Read when a mandatory attribute is missing (records from an older plugin version). */
  default?: T | ((storage: Readonly<Record<string, unknown>>) => T);
}

/** `T` is the value type a resource's property has; `O` whether it may be null. */
export abstract class ResourceAttribute<T = unknown, O extends boolean = boolean> {
  /** Phantom members: carry T and O to the resource's property types. */
  declare readonly valueType: T;
  abstract readonly type: AttributeType;
  readonly optional: O;
  readonly label?: string;
  readonly hidden: boolean;
  readonly userReadOnly: boolean;
  readonly default?: T | ((storage: Readonly<Record<string, unknown>>) => T);

  constructor(opts: AttributeOptions<T, O> = {}) {
    this.optional = (opts.optional ?? false) as O;
    this.label = opts.label;
    this.hidden = opts.hidden ?? false;
    this.userReadOnly = opts.userReadOnly ?? false;
    this.default = opts.default;
  }

  /** Throws ValueError-like Error with the original's message when `value` is not acceptable. */
  validate(_value: unknown): void {}
  /** Converts user input (strings from the API) to the attribute's type. */
  cast(value: unknown): T {
    return value as T;
  }
  /** What is stored after a plugin's assignment passed validate(). */
  normalise(value: unknown): T {
    return value as T;
  }
  encode(value: T): unknown {
    return value;
  }
  decode(value: unknown): T {
    return value as T;
  }
  encrypt(value: T): T {
    return value;
  }
  humanReadable(value: T): string {
    return pyStr(value);
  }
  toMarkup(value: T): string {
    return escapeHtml(this.humanReadable(value));
  }
  getLabel(name: string): string {
    return this.label ?? defaultLabel(name);
  }
  info(name: string): AttributeInfo {
    return {
      type: this.type,
      optional: this.optional,
      label: this.getLabel(name),
      hidden: this.hidden,
      userReadOnly: this.userReadOnly,
    };
  }
}

/** `my_attribute` → "My attribute": split on `_`, first word Title-cased, the rest unchanged. */
export function defaultLabel(name: string): string {
  const words = name.split('_');
  return [pyTitle(words[0]), ...words.slice(1)].join(' ');
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function requireType(value: unknown, ok: boolean, what: string): void {
  if (!ok) throw new Error(`Value ${pyRepr(value)} is not ${what}`);
}

export interface StringOptions<O extends boolean> extends AttributeOptions<string, O> {
  maxLength?: number | null;
}

export class StringAttribute<O extends boolean = boolean> extends ResourceAttribute<string, O> {
  readonly type: AttributeType = 'String';
  readonly maxLength: number | null;
  constructor(opts: StringOptions<O> = {}) {
    super(opts);
    const max = opts.maxLength ?? null;
    if (max !== null && !Number.isInteger(max)) throw new Error('max_length must be an integer or None');
    this.maxLength = max;
  }
  override validate(value: unknown): void {
    requireType(value, typeof value === 'string', 'a string');
    const v = value as string;
    if (this.maxLength !== null && [...v].length > this.maxLength) {
      throw new Error(`Value '${v}' too long (max ${this.maxLength})`);
    }
  }
  override cast(value: unknown): string {
    return pyStr(value);
  }
  override info(name: string): AttributeInfo {
    const i = super.info(name);
    return this.maxLength === null ? i : { ...i, maxLength: this.maxLength };
  }
}

export interface PasswordOptions<O extends boolean> extends StringOptions<O> {
  /** Obfuscates what a user types; the plugin only ever sees the obfuscated text. */
  encryptFn: (password: string) => string;
}

export class PasswordAttribute<O extends boolean = boolean> extends StringAttribute<O> {
  override readonly type: AttributeType = 'Password';
  readonly encryptFn: (password: string) => string;
  constructor(opts: PasswordOptions<O>) {
    super(opts);
    if (typeof opts?.encryptFn !== 'function') throw new Error('Password requires a callable encrypt_fn');
    this.encryptFn = opts.encryptFn;
  }
  override encrypt(value: string): string {
    return this.encryptFn(value);
  }
}

export class BooleanAttribute<O extends boolean = boolean> extends ResourceAttribute<boolean, O> {
  readonly type: AttributeType = 'Boolean';
  override cast(value: unknown): boolean {
    return Boolean(value);
  }
  /** The guide: any truthy value may be assigned, it is stored as true or false. */
  override normalise(value: unknown): boolean {
    return Boolean(value);
  }
}

export interface IntegerOptions<O extends boolean> extends AttributeOptions<number, O> {
  minVal?: number | null;
  maxVal?: number | null;
}

export class IntegerAttribute<O extends boolean = boolean> extends ResourceAttribute<number, O> {
  readonly type: AttributeType = 'Integer';
  readonly minVal: number | null;
  readonly maxVal: number | null;
  constructor(opts: IntegerOptions<O> = {}) {
    super(opts);
    this.minVal = opts.minVal ?? null;
    this.maxVal = opts.maxVal ?? null;
  }
  override validate(value: unknown): void {
    requireType(value, Number.isSafeInteger(value), 'an integer');
    const v = value as number;
    if (this.minVal !== null && v < this.minVal) throw new Error(`Value ${v} too low (min ${this.minVal})`);
    if (this.maxVal !== null && v > this.maxVal) throw new Error(`Value ${v} too high (max ${this.maxVal})`);
  }
  override cast(value: unknown): number {
    const n = typeof value === 'number' ? Math.trunc(value) : Number.parseInt(pyStr(value).trim(), 10);
    if (!Number.isSafeInteger(n)) throw new Error(`invalid literal for int() with base 10: ${pyRepr(value)}`);
    return n;
  }
  override info(name: string): AttributeInfo {
    const i: AttributeInfo = super.info(name);
    if (this.minVal !== null) i.min = this.minVal;
    if (this.maxVal !== null) i.max = this.maxVal;
    return i;
  }
}

const BYTE_UNITS = ['bytes', 'KB', 'MB', 'GB', 'TB', 'EB', 'ZB', 'YB'];

/** IML's sizeof_fmt: `%3.1f<unit>`, dividing by 1024 (its unit list has no PB, kept as is). */
export function sizeofFmt(n: number): string {
  let v = n;
  for (const unit of BYTE_UNITS) {
    if (v < 1024 && v > -1024) return `${v.toFixed(1)}${unit}`;
    v /= 1024;
  }
  return `${v.toFixed(1)}${BYTE_UNITS[BYTE_UNITS.length - 1]}`;
}

export class BytesAttribute<O extends boolean = boolean> extends IntegerAttribute<O> {
  override readonly type: AttributeType = 'Bytes';
  override humanReadable(value: number): string {
    return sizeofFmt(value);
  }
}

export type EnumOption = string | number | boolean | null;

export class EnumAttribute<
  V extends EnumOption = EnumOption,
  O extends boolean = boolean,
> extends ResourceAttribute<V, O> {
  readonly type: AttributeType = 'Enum';
  readonly options: readonly V[];
  constructor(options: readonly V[], opts: AttributeOptions<V, O> = {}) {
    super(opts);
    if (options.length === 0) throw new Error('Enum requires at least one option');
    this.options = options;
  }
  override validate(value: unknown): void {
    if (!this.options.includes(value as V)) {
      throw new Error(`Value '${pyStr(value)}' is not one of ${pyTuple(this.options)}`);
    }
  }
  override info(name: string): AttributeInfo {
    return { ...super.info(name), options: this.options.map((o) => pyStr(o)) };
  }
}

export class UuidAttribute<O extends boolean = boolean> extends ResourceAttribute<string, O> {
  readonly type: AttributeType = 'Uuid';
  /** Any hyphenation; only the length of what is left without `-` is checked (as the original). */
  override validate(value: unknown): void {
    requireType(value, typeof value === 'string', 'a string');
    if ((value as string).replace(/-/g, '').length !== 32) {
      throw new Error(`${pyStr(value)} is not a valid UUID`);
    }
  }
}

export class PosixPathAttribute<O extends boolean = boolean> extends ResourceAttribute<string, O> {
  readonly type: AttributeType = 'PosixPath';
  override validate(value: unknown): void {
    requireType(value, typeof value === 'string', 'a string');
  }
}

const HOSTNAME_LABEL = /^(?!-)[a-zA-Z\d-]{1,63}(?<!-)$/;

export class HostnameAttribute<O extends boolean = boolean> extends ResourceAttribute<string, O> {
  readonly type: AttributeType = 'Hostname';
  override validate(value: unknown): void {
    requireType(value, typeof value === 'string', 'a string');
    const v = value as string;
    if (v.length > 255) throw new Error(`${v} is too long to be a hostname`);
    if (!v.split('.').every((part) => HOSTNAME_LABEL.test(part))) {
      throw new Error(`${v} is an invalid hostname`);
    }
  }
}

export class ResourceReferenceAttribute<O extends boolean = boolean> extends ResourceAttribute<Resource, O> {
  readonly type: AttributeType = 'ResourceReference';
  override validate(value: unknown): void {
    if (value === null || value === undefined) {
      if (!this.optional) throw new Error('ResourceReference set to None but not optional');
      return;
    }
    if (!isResource(value)) throw new Error(`Cannot take ResourceReference to ${pyStr(value)}`);
  }
  override humanReadable(value: Resource): string {
    return value ? value.getLabel() : 'None';
  }
}

// Factories named as the original's classes: `attributes.String({ maxLength: 8 })`.
function stringFactory<O extends boolean = false>(opts?: StringOptions<O>): StringAttribute<NoInfer<O>> {
  return new StringAttribute<O>(opts);
}
function passwordFactory<O extends boolean = false>(opts: PasswordOptions<O>): PasswordAttribute<NoInfer<O>> {
  return new PasswordAttribute<O>(opts);
}
function booleanFactory<O extends boolean = false>(
  opts?: AttributeOptions<boolean, O>,
): BooleanAttribute<NoInfer<O>> {
  return new BooleanAttribute<O>(opts);
}
function integerFactory<O extends boolean = false>(opts?: IntegerOptions<O>): IntegerAttribute<NoInfer<O>> {
  return new IntegerAttribute<O>(opts);
}
function bytesFactory<O extends boolean = false>(opts?: IntegerOptions<O>): BytesAttribute<NoInfer<O>> {
  return new BytesAttribute<O>(opts);
}
/** `Enum(['good', 'bad'])`; the value type is the union of the options. */
function enumFactory<const V extends EnumOption, O extends boolean = false>(
  options: readonly V[],
  opts?: AttributeOptions<V, O>,
): EnumAttribute<V, NoInfer<O>> {
  return new EnumAttribute<V, O>(options, opts);
}
function uuidFactory<O extends boolean = false>(
  opts?: AttributeOptions<string, O>,
): UuidAttribute<NoInfer<O>> {
  return new UuidAttribute<O>(opts);
}
function posixPathFactory<O extends boolean = false>(
  opts?: AttributeOptions<string, O>,
): PosixPathAttribute<NoInfer<O>> {
  return new PosixPathAttribute<O>(opts);
}
function hostnameFactory<O extends boolean = false>(
  opts?: AttributeOptions<string, O>,
): HostnameAttribute<NoInfer<O>> {
  return new HostnameAttribute<O>(opts);
}
function referenceFactory<O extends boolean = false>(
  opts?: AttributeOptions<Resource, O>,
): ResourceReferenceAttribute<NoInfer<O>> {
  return new ResourceReferenceAttribute<O>(opts);
}

export {
  booleanFactory as Boolean,
  bytesFactory as Bytes,
  enumFactory as Enum,
  hostnameFactory as Hostname,
  integerFactory as Integer,
  passwordFactory as Password,
  posixPathFactory as PosixPath,
  referenceFactory as ResourceReference,
  stringFactory as String,
  uuidFactory as Uuid,
};
