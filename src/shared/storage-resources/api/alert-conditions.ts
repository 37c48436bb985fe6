// Alert conditions (IML api/alert_conditions.py; reference §7): declarative checks of an attribute,
// evaluated by the framework after every commit. Severities are Python logging levels.
import type { AlertClassInfo, AlertSeverity } from '../session.js';

export const ERROR: AlertSeverity = 40;
export const WARNING: AlertSeverity = 30;
export const INFO: AlertSeverity = 20;

/** One evaluation: `[alertClass, attribute, active, severity]`, as IML's test() returns. */
export type AlertTest = [alertClass: string, attribute: string, active: boolean, severity: AlertSeverity];

export interface ConditionOptions {
  message?: string;
  /** Tells apart several conditions on one attribute: it is part of the alert class name. */
  id?: string;
}

export abstract class AlertCondition<K extends string = string> {
  readonly message: string;
  readonly id: string | null;
  constructor(
    readonly attribute: K,
    opts: ConditionOptions = {},
  ) {
    this.message = opts.message ?? `${attribute} alert`;
    this.id = opts.id ?? null;
  }

  /** The severities this condition can raise, in IML's order: error, warn, info. */
  protected abstract severities(): AlertSeverity[];
  /** Whether the alert of `severity` is active for `value`. */
  protected abstract active(value: unknown, severity: AlertSeverity): boolean;

  /** `_<id>_<attribute>_<severity>`, id `None` when not given (e.g. `_None_status_30`). */
  alertClassName(severity: AlertSeverity): string {
    return `_${this.id ?? 'None'}_${this.attribute}_${severity}`;
  }

  alertClasses(): AlertClassInfo[] {
    return this.severities().map((severity) => ({
      alertClass: this.alertClassName(severity),
      attribute: this.attribute,
      severity,
      message: this.message,
    }));
  }

  test(resource: object): AlertTest[] {
    const value = (resource as Record<string, unknown>)[this.attribute];
    return this.severities().map((s) => [this.alertClassName(s), this.attribute, this.active(value, s), s]);
  }
}

export interface ValueConditionOptions extends ConditionOptions {
  errorStates?: readonly unknown[];
  warnStates?: readonly unknown[];
  infoStates?: readonly unknown[];
}

class ValueConditionImpl<K extends string> extends AlertCondition<K> {
  private readonly states: Map<AlertSeverity, readonly unknown[]>;
  constructor(attribute: K, opts: ValueConditionOptions = {}) {
    super(attribute, opts);
    this.states = new Map<AlertSeverity, readonly unknown[]>();
    for (const [s, list] of [
      [ERROR, opts.errorStates],
      [WARNING, opts.warnStates],
      [INFO, opts.infoStates],
    ] as const) {
      if (list && list.length > 0) this.states.set(s, list);
    }
  }
  protected severities(): AlertSeverity[] {
    return [...this.states.keys()];
  }
  protected active(value: unknown, severity: AlertSeverity): boolean {
    return this.states.get(severity)!.includes(value);
  }
}

export interface BoundConditionOptions extends ConditionOptions {
  errorBound?: number | null;
  warnBound?: number | null;
  infoBound?: number | null;
}

abstract class BoundCondition<K extends string> extends AlertCondition<K> {
  private readonly bounds: Map<AlertSeverity, number>;
  constructor(attribute: K, opts: BoundConditionOptions = {}) {
    super(attribute, opts);
    this.bounds = new Map<AlertSeverity, number>();
    for (const [s, b] of [
      [ERROR, opts.errorBound],
      [WARNING, opts.warnBound],
      [INFO, opts.infoBound],
    ] as const) {
      if (b !== undefined && b !== null) this.bounds.set(s, b);
    }
  }
  protected severities(): AlertSeverity[] {
    return [...this.bounds.keys()];
  }
  protected active(value: unknown, severity: AlertSeverity): boolean {
    return typeof value === 'number' && this.beyond(value, this.bounds.get(severity)!);
  }
  protected abstract beyond(value: number, bound: number): boolean;
}

class UpperBoundConditionImpl<K extends string> extends BoundCondition<K> {
  protected beyond(value: number, bound: number): boolean {
    return value > bound;
  }
}

class LowerBoundConditionImpl<K extends string> extends BoundCondition<K> {
  protected beyond(value: number, bound: number): boolean {
    return value < bound;
  }
}

/** Active for severity S iff the attribute's value is one of S's states. */
export function ValueCondition<const K extends string>(
  attribute: K,
  opts?: ValueConditionOptions,
): AlertCondition<K> {
  return new ValueConditionImpl(attribute, opts);
}

/** Active iff the value is strictly above the bound. */
export function UpperBoundCondition<const K extends string>(
  attribute: K,
  opts?: BoundConditionOptions,
): AlertCondition<K> {
  return new UpperBoundConditionImpl(attribute, opts);
}

/** Active iff the value is strictly below the bound. */
export function LowerBoundCondition<const K extends string>(
  attribute: K,
  opts?: BoundConditionOptions,
): AlertCondition<K> {
  return new LowerBoundConditionImpl(attribute, opts);
}
